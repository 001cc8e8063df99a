//! Chat REST routes: history and conversations (the pending messages are in `pending.rs`).
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shared::{
    ids::{rfc3339, uuid_bytes, uuid_from},
    proto::chat::v1::{
        ConversationsReply, ConversationsRequest, HistoryRequest, MessagesReply,
        conversations_reply, messages_reply,
    },
    subjects,
};

use super::{Page, parse_id};
use crate::{
    auth::AuthUser,
    error::{ApiError, remote},
    state::AppState,
    ws::frames::MessageJson,
};

/// Registers the chat routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/messages", web::get().to(history))
        .route("/api/conversations", web::get().to(conversations));
}

#[derive(Deserialize)]
struct HistoryQuery {
    user1: Option<String>,
    user2: Option<String>,
    #[serde(flatten)]
    page: Page,
}

async fn history(
    user: AuthUser,
    q: web::Query<HistoryQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user1 = parse_id(
        "user1",
        q.user1.as_deref().ok_or_else(|| ApiError::invalid("user1", "user1 is required"))?,
    )?;
    let user2 = parse_id(
        "user2",
        q.user2.as_deref().ok_or_else(|| ApiError::invalid("user2", "user2 is required"))?,
    )?;
    let (limit, offset) = q.page.parse(50)?;
    if user.0 != user1 && user.0 != user2 {
        return Err(ApiError::Remote {
            code: shared::proto::common::v1::ErrorCode::Forbidden,
            message: "you can only read your own conversations".into(),
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

async fn conversations(
    user: AuthUser,
    q: web::Query<Page>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = q.parse(50)?;
    let req = ConversationsRequest { user_id: uuid_bytes(user.0), limit, offset };
    let reply: ConversationsReply = state.rpc(subjects::CHAT_CONVERSATIONS, &req).await?;
    match remote(reply.result)? {
        conversations_reply::Result::Conversations(list) => {
            let body: Vec<serde_json::Value> = list
                .conversations
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "partner_id": uuid_from(&c.partner_id).unwrap_or_default(),
                        "last_message": c.last_message.as_ref().map(MessageJson::from_proto),
                        "last_message_at": c.last_message.as_ref().map(|m| rfc3339(m.timestamp_micros)),
                        "unread_count": c.unread_count,
                    })
                })
                .collect();
            Ok(HttpResponse::Ok().json(body))
        }
        conversations_reply::Result::Error(e) => Err(e.into()),
    }
}
