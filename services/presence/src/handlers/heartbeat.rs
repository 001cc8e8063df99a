//! `presence.v1.heartbeat`: a gateway is alive, with all its users'
//! connection counts (or those of some user buckets).
use std::{sync::Arc, time::Duration};

use anyhow::Context;
use shared::{ids::uuid_from, proto::presence::v1::Heartbeat};
use uuid::Uuid;

use super::Ctx;
use crate::store::ALL_BUCKETS;

/// `presence.v1.heartbeat`.
pub async fn heartbeat(ctx: Arc<Ctx>, beat: Heartbeat) -> anyhow::Result<()> {
    if beat.gateway_id.is_empty() {
        return Ok(());
    }
    // A gateway may ask for a shorter life, never for a longer one than promised.
    let asked = Duration::from_secs(u64::from(beat.ttl_secs));
    let ttl = if asked.is_zero() { ctx.gateway_ttl } else { asked.min(ctx.gateway_ttl) };
    let counts: Vec<(Uuid, u32)> = beat
        .users
        .iter()
        .filter_map(|u| uuid_from(&u.user_id).map(|id| (id, u.connections)))
        .collect();
    let buckets = if beat.buckets == 0 { ALL_BUCKETS } else { beat.buckets };
    let came_online = ctx
        .store
        .apply_heartbeat(&beat.gateway_id, beat.seq, ttl, buckets, &counts)
        .await
        .with_context(|| format!("failed to apply a heartbeat of gateway {}", beat.gateway_id))?;
    ctx.announcer.announce(came_online, true).await;
    Ok(())
}
