//! Request/reply handlers that only read: history, the pending count,
//! conversations and contacts; and the start-up offer of recent messages.
use shared::{
    ids::{uuid_bytes, uuid_from},
    proto::{
        chat::v1::{
            ContactsReply, ContactsRequest, Conversation, ConversationList, ConversationsReply,
            ConversationsRequest, HistoryRequest, MessageList, MessagesReply, PendingCountReply,
            PendingCountRequest, conversations_reply, messages_reply, pending_count_reply,
        },
        common::v1::{ErrorCode, ErrorReply},
    },
};

use super::Ctx;
use crate::repository::{self, stream};

/// The error reply of a failed query (logged here).
pub fn unavailable(e: &sqlx::Error) -> ErrorReply {
    tracing::warn!(error.cause_chain = ?e, "query failed");
    ErrorReply::new(ErrorCode::Unavailable, "storage unavailable, retry")
}

fn limit(value: u32, default: u32, max: u32) -> i64 {
    i64::from(if value == 0 { default } else { value.min(max) })
}

fn messages_error(e: ErrorReply) -> MessagesReply {
    MessagesReply { result: Some(messages_reply::Result::Error(e)) }
}

/// `chat.v1.rpc.history`: the caller must be one of the two users.
pub async fn history(ctx: Ctx, req: HistoryRequest) -> MessagesReply {
    let (Some(caller), Some(a), Some(b)) =
        (uuid_from(&req.caller_id), uuid_from(&req.user1), uuid_from(&req.user2))
    else {
        return messages_error(ErrorReply::invalid("user1", "user1 and user2 must be UUIDs"));
    };
    if caller != a && caller != b {
        return messages_error(ErrorReply::new(
            ErrorCode::Forbidden,
            "not a participant of this chat",
        ));
    }
    match repository::history(&ctx.pool, a, b, limit(req.limit, 50, 100), i64::from(req.offset))
        .await
    {
        Ok(rows) => {
            let messages =
                shared::nats::fit_reply(&ctx.nats, rows.iter().map(|r| ctx.open(r, caller)));
            MessagesReply {
                result: Some(messages_reply::Result::Messages(MessageList { messages })),
            }
        }
        Err(e) => messages_error(unavailable(&e)),
    }
}

/// `chat.v1.rpc.pending_count`: messages received after the delivered cursor.
pub async fn pending_count(ctx: Ctx, req: PendingCountRequest) -> PendingCountReply {
    let Some(user) = uuid_from(&req.user_id) else {
        let e = ErrorReply::invalid("user_id", "bad user id");
        return PendingCountReply { result: Some(pending_count_reply::Result::Error(e)) };
    };
    let count = stream::pending_count(&ctx.pool, user).await;
    PendingCountReply {
        result: Some(match count {
            Ok(n) => pending_count_reply::Result::Count(u64::try_from(n).unwrap_or_default()),
            Err(e) => pending_count_reply::Result::Error(unavailable(&e)),
        }),
    }
}

/// `chat.v1.rpc.conversations`.
pub async fn conversations(ctx: Ctx, req: ConversationsRequest) -> ConversationsReply {
    let Some(user) = uuid_from(&req.user_id) else {
        let e = ErrorReply::invalid("user_id", "bad user id");
        return ConversationsReply { result: Some(conversations_reply::Result::Error(e)) };
    };
    let rows = repository::conversations(
        &ctx.pool,
        user,
        limit(req.limit, 50, 100),
        i64::from(req.offset),
    )
    .await;
    ConversationsReply {
        result: Some(match rows {
            Ok(rows) => {
                let conversations = shared::nats::fit_reply(
                    &ctx.nats,
                    rows.iter().map(|r| Conversation {
                        partner_id: uuid_bytes(r.partner_id),
                        last_message: Some(ctx.open(&r.last, user)),
                        unread_count: u64::try_from(r.unread_count).unwrap_or_default(),
                    }),
                );
                conversations_reply::Result::Conversations(ConversationList { conversations })
            }
            Err(e) => conversations_reply::Result::Error(unavailable(&e)),
        }),
    }
}

/// `chat.v1.rpc.contacts`.
pub async fn contacts(ctx: Ctx, req: ContactsRequest) -> ContactsReply {
    let Some(user) = uuid_from(&req.user_id) else {
        return ContactsReply {
            user_ids: vec![],
            error: Some(ErrorReply::invalid("user_id", "bad user id")),
        };
    };
    match repository::contacts(&ctx.pool, user).await {
        Ok(ids) => {
            ContactsReply { user_ids: ids.into_iter().map(uuid_bytes).collect(), error: None }
        }
        Err(e) => ContactsReply { user_ids: vec![], error: Some(unavailable(&e)) },
    }
}

/// How far back the start-up offer looks.
const RECENT_MINUTES: u64 = 15;

/// At start-up: offers again the recent messages that lie after their
/// receiver's delivered cursor, so one committed by a replica that died
/// before publishing it reaches an online receiver without waiting for a
/// later message or a reconnect (gateways drop what they already wrote).
pub async fn offer_recent(ctx: &Ctx) {
    let since_ms = chrono::Utc::now().timestamp_millis()
        - i64::try_from(RECENT_MINUTES * 60_000).unwrap_or_default();
    let since = uuid::Uuid::from_u128(u128::from(u64::try_from(since_ms).unwrap_or(0)) << 80);
    match stream::recent_undelivered(&ctx.pool, since).await {
        Ok(rows) if rows.is_empty() => {}
        Ok(rows) => {
            tracing::info!(messages = rows.len(), "offering recent undelivered messages again");
            for r in &rows {
                ctx.delivery.message(r.receiver_id, ctx.open(r, r.receiver_id)).await;
            }
        }
        Err(e) => tracing::warn!(error.cause_chain = ?e, "failed to offer recent messages"),
    }
}
