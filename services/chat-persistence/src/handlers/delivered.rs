//! `chat.v1.delivered`: how far gateways wrote users' streams to a live
//! connection; each user's delivered cursor moves up to it.
use std::sync::Arc;

use anyhow::Context;
use shared::{ids::uuid_from, proto::chat::v1::DeliveredNotice};
use uuid::Uuid;

use super::Ctx;
use crate::repository::stream;

/// `chat.v1.delivered`: moves the delivered cursors a gateway reports. A
/// failure leaves them behind: those events are written again on the
/// user's next connect.
pub async fn delivered(ctx: Arc<Ctx>, notice: DeliveredNotice) -> anyhow::Result<()> {
    let cursors: Vec<(Uuid, i64)> = notice
        .cursors
        .iter()
        .filter_map(|c| Some((uuid_from(&c.user_id)?, i64::try_from(c.seq).ok()?)))
        .collect();
    if cursors.is_empty() {
        return Ok(());
    }
    let moved = stream::advance_delivered(&ctx.pool, &cursors)
        .await
        .context("failed to move delivered cursors")?;
    metrics::counter!("chat_cursors_advanced_total").increment(moved);
    Ok(())
}
