//! `GET /api/messages/pending?limit=50&after_seq=N`: the caller's pending
//! messages — received, and not yet written to any connection of theirs —
//! oldest first, a page at a time; `pending` is the count of them all (the
//! field SPEC §4 defines, kept). The messages are read from the caller's
//! stream with chat-persistence's `sync` (from the delivered cursor for the
//! first page, after `next_after_seq` for the next), skipping what is not a
//! message received (read receipts, the caller's own sends). Reading them
//! here does not mark them delivered: the next connection still gets them.
use serde::Deserialize;
use shared::proto::chat::v1::{
    ChatMessage, PendingCountReply, PendingCountRequest, StreamReply, SyncRequest,
    pending_count_reply, stream_event, stream_reply,
};
use utoipa::IntoParams;

use crate::rest::prelude::*;

/// Stream pages read at most for one answer (a stream full of receipts and
/// own messages is cut here; `next_after_seq` says where to go on).
const MAX_ROUNDS: usize = 8;

/// A page of pending messages.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PendingQuery {
    /// How many messages, 1 to 100 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Continue after this stream position (a previous page's `next_after_seq`).
    #[param(value_type = Option<i64>, minimum = 0)]
    after_seq: Option<String>,
}

/// One page: the messages, and the position to continue after (`None`: the end).
struct Found {
    messages: Vec<ChatMessage>,
    next: Option<u64>,
}

/// The caller's pending messages (received, not yet written to any of
/// their connections), oldest first, a page at a time, with their count.
/// Listing them does not mark them delivered.
#[utoipa::path(
    tag = "chat",
    params(PendingQuery),
    responses((status = 200, description = "the count and a page of pending messages", body = PendingPage)),
)]
#[get("/api/messages/pending")]
pub async fn pending(
    user: AuthUser,
    q: web::Query<PendingQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = parse_limit(q.limit.as_deref(), 50)?;
    let after_seq = match q.after_seq.as_deref() {
        None => None,
        Some(s) => Some(
            Some(s)
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<i64>().ok())
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| {
                    ApiError::invalid("after_seq", "after_seq must be an integer from 0 to 2^63-1")
                })?,
        ),
    };
    let count = pending_count(&state, user).await?;
    let found = read_pending(&state, user, limit, after_seq).await?;
    Ok(HttpResponse::Ok().json(PendingPage {
        pending: count,
        messages: found.messages.iter().map(MessageJson::from_proto).collect(),
        next_after_seq: found.next,
    }))
}

async fn pending_count(state: &AppState, user: AuthUser) -> Result<u64, ApiError> {
    let reply: PendingCountReply = state
        .rpc(subjects::CHAT_PENDING_COUNT, &PendingCountRequest { user_id: uuid_bytes(user.0) })
        .await?;
    match remote(reply.result)? {
        pending_count_reply::Result::Count(n) => Ok(n),
        pending_count_reply::Result::Error(e) => Err(e.into()),
    }
}

/// Reads the stream from the delivered cursor (or after `after_seq`) until
/// `limit` messages received are found, the stream ends, or [`MAX_ROUNDS`].
async fn read_pending(
    state: &AppState,
    user: AuthUser,
    limit: u32,
    after_seq: Option<u64>,
) -> Result<Found, ApiError> {
    let mut messages = Vec::new();
    let mut cursor = after_seq;
    for _ in 0..MAX_ROUNDS {
        let req = SyncRequest {
            user_id: uuid_bytes(user.0),
            limit,
            after_seq: cursor.unwrap_or_default(),
            from_delivered: cursor.is_none(),
            ..Default::default()
        };
        let reply: StreamReply = state.rpc(subjects::CHAT_SYNC, &req).await?;
        let page = match remote(reply.result)? {
            stream_reply::Result::Page(page) => page,
            stream_reply::Result::Error(e) => return Err(e.into()),
        };
        let mut last = cursor.unwrap_or(page.after_seq);
        let total = page.events.len();
        for (i, event) in page.events.into_iter().enumerate() {
            let seq = match &event.event {
                Some(stream_event::Event::Message(m)) => m.seq,
                Some(stream_event::Event::Receipt(r)) => r.seq,
                None => last,
            };
            last = last.max(seq);
            if let Some(stream_event::Event::Message(m)) = event.event
                && uuid_from(&m.receiver_id) == Some(user.0)
            {
                messages.push(m);
                if messages.len() >= limit as usize {
                    let more = page.more || i + 1 < total;
                    return Ok(Found { messages, next: more.then_some(last) });
                }
            }
        }
        if !page.more {
            return Ok(Found { messages, next: None });
        }
        cursor = Some(last);
    }
    Ok(Found { messages, next: cursor })
}
