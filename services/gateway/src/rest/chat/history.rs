//! `GET /api/messages?user1=&user2=`: the messages between two users.
use serde::Deserialize;
use shared::proto::{
    chat::v1::{HistoryRequest, MessagesReply, messages_reply},
    common::v1::ErrorCode,
};
use utoipa::IntoParams;

use crate::rest::prelude::*;

/// The two participants of a conversation; the caller must be one of them.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// One participant.
    #[param(value_type = uuid::Uuid, required = true)]
    user1: Option<String>,
    /// The other.
    #[param(value_type = uuid::Uuid, required = true)]
    user2: Option<String>,
    /// How many messages, 1 to 100 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// How many to skip, 0 to 1000000.
    #[param(value_type = Option<u32>, minimum = 0, maximum = 1000000)]
    offset: Option<String>,
}

/// The messages between two users, newest first, decrypted.
#[utoipa::path(
    tag = "chat",
    params(HistoryQuery),
    responses(
        (status = 200, description = "messages, newest first", body = Vec<MessageJson>),
        (status = 403, description = "the caller is neither user1 nor user2", body = ErrorBody),
    ),
)]
#[get("/api/messages")]
pub async fn history(
    user: AuthUser,
    q: web::Query<HistoryQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let required = |field: &'static str, v: Option<&str>| {
        parse_id(field, v.ok_or_else(|| ApiError::invalid(field, format!("{field} is required")))?)
            .map_err(ApiError::from)
    };
    let user1 = required("user1", q.user1.as_deref())?;
    let user2 = required("user2", q.user2.as_deref())?;
    let page = Page { limit: q.limit.clone(), offset: q.offset.clone() };
    let (limit, offset) = parse_page(&page, 50)?;
    if user.0 != user1 && user.0 != user2 {
        return Err(ApiError::coded(
            ErrorCode::Forbidden,
            "you can only read your own conversations",
        ));
    }
    let state = &state;
    let messages = in_chunks(limit, offset, |limit, offset| async move {
        let req = HistoryRequest {
            caller_id: uuid_bytes(user.0),
            user1: uuid_bytes(user1),
            user2: uuid_bytes(user2),
            limit,
            offset,
        };
        let reply: MessagesReply = state.rpc(subjects::CHAT_HISTORY, &req).await?;
        match remote(reply.result)? {
            messages_reply::Result::Messages(list) => Ok(list.messages),
            messages_reply::Result::Error(e) => Err(ApiError::from(e)),
        }
    })
    .await?;
    let body: Vec<MessageJson<'_>> = messages.iter().map(MessageJson::from_proto).collect();
    Ok(HttpResponse::Ok().json(body))
}
