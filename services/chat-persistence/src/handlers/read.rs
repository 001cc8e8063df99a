//! `chat.v1.rpc.read`: the receiver read a message. The receipt is a
//! durable event in two streams: the sender's (every device of the sender
//! learns it, live or on its next connect) and the reader's (the reader's
//! other devices). Reading twice changes nothing.
use std::sync::Arc;

use shared::{
    ids::{micros, uuid_bytes, uuid_from},
    proto::{
        chat::v1::{ReadReceipt, ReadRequest},
        common::v1::{ErrorCode, ErrorReply},
    },
    reply::unavailable,
};
use uuid::Uuid;

use super::Ctx;
use crate::repository::receipt;

/// `chat.v1.rpc.read`: only the receiver may mark a message read.
pub async fn read(ctx: Arc<Ctx>, req: ReadRequest) -> Result<ReadReceipt, ErrorReply> {
    let (Some(reader), Some(message)) = (uuid_from(&req.reader_id), uuid_from(&req.message_id))
    else {
        return Err(ErrorReply::invalid("message_id", "message_id must be a UUID"));
    };
    let (sender, read_at) = match receipt::message_parties(&ctx.pool, message).await {
        Err(e) => return Err(unavailable(&e)),
        Ok(None) => return Err(ErrorReply::new(ErrorCode::NotFound, "unknown message")),
        Ok(Some((_, receiver, _))) if receiver != reader => {
            return Err(ErrorReply::new(
                ErrorCode::Forbidden,
                "only the receiver can mark a message read",
            ));
        }
        Ok(Some((sender, _, read_at))) => (sender, read_at),
    };
    let receipt = |read_at, seq| ReadReceipt {
        message_id: uuid_bytes(message),
        reader_id: uuid_bytes(reader),
        sender_id: uuid_bytes(sender),
        read_at_micros: micros(read_at),
        seq,
    };
    if let Some(at) = read_at {
        return Ok(receipt(at, 0));
    }
    match record(&ctx, message, sender, reader).await.map_err(|e| unavailable(&e))? {
        Some((at, sender_seq, reader_seq)) => {
            ctx.delivery.receipt(sender, &receipt(at, sender_seq)).await;
            let own = receipt(at, reader_seq);
            ctx.delivery.receipt(reader, &own).await;
            Ok(own)
        }
        // Read meanwhile by another device: that one recorded it.
        None => Ok(receipt(chrono::Utc::now(), 0)),
    }
}

/// Marks the message read and adds the receipt to both streams, in one
/// transaction and one round trip ([`receipt::record`]); `None` when it was
/// read meanwhile.
async fn record(
    ctx: &Ctx,
    message: Uuid,
    sender: Uuid,
    reader: Uuid,
) -> sqlx::Result<Option<(chrono::DateTime<chrono::Utc>, u64, u64)>> {
    let read_at = chrono::Utc::now();
    let seqs = receipt::record(&ctx.pool, message, sender, reader, read_at).await?;
    let seq = |s: i64| u64::try_from(s).unwrap_or_default();
    Ok(seqs.map(|(sender_seq, reader_seq)| (read_at, seq(sender_seq), seq(reader_seq))))
}
