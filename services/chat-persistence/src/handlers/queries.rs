//! Request/reply handlers other than sends: history, sync, the pending
//! drain and count, read receipts, conversations, contacts, and the
//! gateways' delivered notices.
use prost::Message;
use shared::{
    ids::{micros, uuid_bytes, uuid_from},
    proto::{
        chat::v1::{
            ContactsReply, ContactsRequest, Conversation, ConversationList, ConversationsReply,
            ConversationsRequest, DeliveredNotice, HistoryRequest, MessageList, MessagesReply,
            PendingCountReply, PendingCountRequest, PendingRequest, ReadReceipt, ReadReply,
            ReadRequest, SyncRequest, conversations_reply, messages_reply, pending_count_reply,
            read_reply,
        },
        common::v1::{ErrorCode, ErrorReply},
        gateway::v1::{UserEvent, user_event},
    },
};
use uuid::Uuid;

use super::Ctx;
use crate::repository::{self, ReadOutcome};

fn unavailable(e: &sqlx::Error) -> ErrorReply {
    tracing::warn!(error.cause_chain = ?e, "query failed");
    ErrorReply::new(ErrorCode::Unavailable, "storage unavailable, retry")
}

fn limit(value: u32, default: u32, max: u32) -> i64 {
    i64::from(if value == 0 { default } else { value.min(max) })
}

/// Builds a list reply, cut (keeping order) to fit one NATS message; the
/// caller asks again after the last id it got.
fn messages(ctx: &Ctx, rows: &[repository::StoredMessage]) -> MessagesReply {
    let messages = shared::nats::fit_reply(&ctx.nats, rows.iter().map(|r| ctx.open(r)));
    MessagesReply { result: Some(messages_reply::Result::Messages(MessageList { messages })) }
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
        Ok(rows) => messages(&ctx, &rows),
        Err(e) => messages_error(unavailable(&e)),
    }
}

/// `chat.v1.rpc.sync`: messages to or from the user after an id, oldest first.
pub async fn sync(ctx: Ctx, req: SyncRequest) -> MessagesReply {
    let (Some(user), Some(after)) = (uuid_from(&req.user_id), uuid_from(&req.after)) else {
        return messages_error(ErrorReply::invalid("after", "after must be a message id"));
    };
    match repository::since(&ctx.pool, user, after, limit(req.limit, 500, 1000)).await {
        Ok(rows) => {
            let undelivered: Vec<Uuid> = rows
                .iter()
                .filter(|r| r.receiver_id == user && r.delivered_at.is_none())
                .map(|r| r.message_id)
                .collect();
            ctx.delivery.delivered(user, undelivered).await;
            messages(&ctx, &rows)
        }
        Err(e) => messages_error(unavailable(&e)),
    }
}

/// `chat.v1.rpc.pending`: the user's undelivered messages, oldest first. The
/// gateway confirms what it handed over with a [`DeliveredNotice`].
pub async fn pending(ctx: Ctx, req: PendingRequest) -> MessagesReply {
    let Some(user) = uuid_from(&req.user_id) else {
        return messages_error(ErrorReply::invalid("user_id", "bad user id"));
    };
    let limit = limit(req.limit, 500, 1000);
    if let Some(after) = uuid_from(&req.after) {
        // A later page of a drain: PostgreSQL's partial index answers it directly.
        return match repository::undelivered_after(&ctx.pool, user, after, limit).await {
            Ok(rows) => messages(&ctx, &rows),
            Err(e) => messages_error(unavailable(&e)),
        };
    }
    let rows = match ctx.pending.ids(user, limit).await {
        Some(ids) if ids.is_empty() => Ok(Vec::new()),
        Some(ids) => {
            let rows = repository::undelivered_by_ids(&ctx.pool, user, &ids).await;
            if let Ok(found) = &rows
                && found.len() < ids.len()
            {
                // Ids whose rows were delivered meanwhile are stale: drop them.
                let stale: Vec<(Uuid, Uuid)> = ids
                    .iter()
                    .filter(|id| !found.iter().any(|r| r.message_id == **id))
                    .map(|id| (user, *id))
                    .collect();
                ctx.pending.remove(&stale).await;
            }
            rows
        }
        None => repository::undelivered(&ctx.pool, user, limit).await,
    };
    match rows {
        Ok(rows) => messages(&ctx, &rows),
        Err(e) => messages_error(unavailable(&e)),
    }
}

/// `chat.v1.rpc.pending_count`.
pub async fn pending_count(ctx: Ctx, req: PendingCountRequest) -> PendingCountReply {
    let Some(user) = uuid_from(&req.user_id) else {
        let e = ErrorReply::invalid("user_id", "bad user id");
        return PendingCountReply { result: Some(pending_count_reply::Result::Error(e)) };
    };
    let count = match ctx.pending.count(user).await {
        Some(n) => Ok(n),
        None => repository::undelivered_count(&ctx.pool, user)
            .await
            .map(|n| u64::try_from(n).unwrap_or_default()),
    };
    PendingCountReply {
        result: Some(match count {
            Ok(n) => pending_count_reply::Result::Count(n),
            Err(e) => pending_count_reply::Result::Error(unavailable(&e)),
        }),
    }
}

/// `chat.v1.rpc.read`: only the receiver may mark a message read; the sender is told.
pub async fn read(ctx: Ctx, req: ReadRequest) -> ReadReply {
    let err = |e| ReadReply { result: Some(read_reply::Result::Error(e)) };
    let (Some(reader), Some(message)) = (uuid_from(&req.reader_id), uuid_from(&req.message_id))
    else {
        return err(ErrorReply::invalid("message_id", "message_id must be a UUID"));
    };
    match repository::mark_read(&ctx.pool, message, reader).await {
        Ok(ReadOutcome::Read { sender, read_at }) => {
            let receipt = ReadReceipt {
                message_id: req.message_id,
                reader_id: req.reader_id,
                sender_id: uuid_bytes(sender),
                read_at_micros: micros(read_at),
            };
            let event = UserEvent { event: Some(user_event::Event::ReadReceipt(receipt.clone())) };
            shared::nats::publish(&ctx.nats, ctx.subjects.deliver(sender), &event).await;
            ctx.pending.remove(&[(reader, message)]).await;
            ReadReply { result: Some(read_reply::Result::Receipt(receipt)) }
        }
        Ok(ReadOutcome::NotReceiver) => {
            err(ErrorReply::new(ErrorCode::Forbidden, "only the receiver can mark a message read"))
        }
        Ok(ReadOutcome::NotFound) => err(ErrorReply::new(ErrorCode::NotFound, "unknown message")),
        Err(e) => err(unavailable(&e)),
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
                        last_message: Some(ctx.open(&r.last)),
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

/// `chat.v1.delivered`: a gateway handed these pending messages to a live connection.
pub async fn delivered(ctx: &Ctx, payload: bytes::Bytes) {
    let Ok(notice) = DeliveredNotice::decode(payload) else { return };
    let Some(user) = uuid_from(&notice.user_id) else { return };
    let ids: Vec<Uuid> = notice.message_ids.iter().filter_map(|b| uuid_from(b)).collect();
    ctx.delivery.delivered(user, ids).await;
}

/// `presence.v1.events`: when a user comes online, offer their pending
/// messages again (the gateway also drains on every connect; this covers a
/// drain that failed, and gateways that do not drain).
pub async fn status_changed(ctx: &Ctx, payload: bytes::Bytes) {
    let Ok(event) = shared::proto::presence::v1::StatusChanged::decode(payload) else { return };
    let Some(user) = uuid_from(&event.user_id) else { return };
    if !event.online {
        return;
    }
    let rows = match ctx.pending.ids(user, 1000).await {
        Some(ids) if ids.is_empty() => return,
        Some(ids) => repository::undelivered_by_ids(&ctx.pool, user, &ids).await,
        None => repository::undelivered(&ctx.pool, user, 1000).await,
    };
    match rows {
        Ok(rows) => ctx.delivery.reoffer(rows.iter().map(|r| ctx.open(r)).collect()).await,
        Err(e) => tracing::warn!(error.cause_chain = ?e, "failed to load pending messages"),
    }
}

/// How far back the start-up re-queue looks for undelivered messages.
const REQUEUE_MINUTES: i32 = 15;

/// At start-up: re-queues and re-offers the recent undelivered messages, so
/// a replica that died between a commit and its delivery loses nothing
/// (offers are idempotent: the gateway de-duplicates by id).
pub async fn requeue_recent(ctx: &Ctx) {
    match repository::undelivered_recent(&ctx.pool, REQUEUE_MINUTES).await {
        Ok(rows) if rows.is_empty() => {}
        Ok(rows) => {
            tracing::info!(messages = rows.len(), "re-offering recent undelivered messages");
            let items: Vec<(Uuid, Uuid, i64)> = rows
                .iter()
                .map(|r| (r.receiver_id, r.message_id, r.created_at.timestamp_millis()))
                .collect();
            ctx.pending.push(&items).await;
            for chunk in rows.chunks(256) {
                ctx.delivery.reoffer(chunk.iter().map(|r| ctx.open(r)).collect()).await;
            }
        }
        Err(e) => tracing::warn!(error.cause_chain = ?e, "failed to re-queue recent messages"),
    }
}
