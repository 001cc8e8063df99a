//! `GET /api/conversations`: the caller's conversations.
use shared::proto::chat::v1::{ConversationsReply, ConversationsRequest, conversations_reply};

use crate::rest::prelude::*;

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
            let body: Vec<Conversation<'_>> =
                list.conversations.iter().map(Conversation::from).collect();
            Ok(HttpResponse::Ok().json(body))
        }
        conversations_reply::Result::Error(e) => Err(e.into()),
    }
}
