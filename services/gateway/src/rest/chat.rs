//! Chat REST routes: history and conversations (the pending list is in [`super::pending`]).
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use shared::{
    ids::{rfc3339, uuid_bytes},
    proto::{
        chat::v1::{
            ConversationsReply, ConversationsRequest, HistoryRequest, MessagesReply,
            conversations_reply, messages_reply,
        },
        common::v1::ErrorCode,
    },
    subjects,
};
use utoipa::IntoParams;

use super::{
    feed::id,
    parse_id, parse_page,
    schema::{Conversation, ErrorBody, MessageDoc, Page},
};
use crate::{
    auth::AuthUser,
    error::{ApiError, remote},
    state::AppState,
    ws::frames::MessageJson,
};

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
        (status = 200, description = "messages, newest first", body = Vec<MessageDoc>),
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
    };
    let user1 = required("user1", q.user1.as_deref())?;
    let user2 = required("user2", q.user2.as_deref())?;
    let page = Page { limit: q.limit.clone(), offset: q.offset.clone() };
    let (limit, offset) = parse_page(&page, 50)?;
    if user.0 != user1 && user.0 != user2 {
        return Err(ApiError::Remote {
            code: ErrorCode::Forbidden,
            message: "you can only read your own conversations".into(),
            field: None,
        });
    }
    let state = &state;
    let messages = super::in_chunks(limit, offset, |limit, offset| async move {
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

/// The caller's conversations: partner, last message, unread count; most recent first.
#[utoipa::path(
    tag = "chat",
    params(Page),
    responses((status = 200, description = "conversations", body = Vec<Conversation>)),
)]
#[get("/api/conversations")]
pub async fn conversations(
    user: AuthUser,
    q: web::Query<Page>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = parse_page(&q, 50)?;
    let req = ConversationsRequest { user_id: uuid_bytes(user.0), limit, offset };
    let reply: ConversationsReply = state.rpc(subjects::CHAT_CONVERSATIONS, &req).await?;
    match remote(reply.result)? {
        conversations_reply::Result::Conversations(list) => {
            let body: Vec<Conversation> = list
                .conversations
                .iter()
                .map(|c| Conversation {
                    partner_id: id(&c.partner_id),
                    last_message: c
                        .last_message
                        .as_ref()
                        .and_then(|m| serde_json::to_value(MessageJson::from_proto(m)).ok()),
                    last_message_at: c.last_message.as_ref().map(|m| rfc3339(m.timestamp_micros)),
                    unread_count: c.unread_count,
                })
                .collect();
            Ok(HttpResponse::Ok().json(body))
        }
        conversations_reply::Result::Error(e) => Err(e.into()),
    }
}
