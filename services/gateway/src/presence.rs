//! Reports to presence: each connection opened or closed, and a periodic
//! heartbeat with this gateway's per-user connection counts (so presence can
//! expire the users of a gateway that died without a word).
use std::{sync::Arc, time::Duration};

use shared::{
    ids::{micros, uuid_bytes},
    proto::presence::v1::{ConnChange, ConnEvent, Heartbeat, UserConns},
    subjects,
};
use uuid::Uuid;

use crate::{registry::ConnHandle, state::AppState};

async fn report(state: &AppState, user: Uuid, change: ConnChange) {
    let event = ConnEvent {
        gateway_id: state.settings.gateway_id.clone(),
        user_id: uuid_bytes(user),
        change: change as i32,
        at_micros: micros(chrono::Utc::now()),
    };
    shared::nats::publish(&state.nats, state.subjects.get(subjects::PRESENCE_CONN), &event).await;
}

/// Called once a connection is registered and subscribed.
pub async fn connection_opened(state: &AppState, user: Uuid, _conn: &ConnHandle) {
    report(state, user, ConnChange::Opened).await;
}

/// Called when a connection ends (`last`: it was the user's last one here).
pub async fn connection_closed(state: &AppState, user: Uuid, _last: bool) {
    report(state, user, ConnChange::Closed).await;
}

/// Builds this gateway's heartbeat.
pub fn heartbeat(state: &AppState) -> Heartbeat {
    let ttl = state.settings.presence_heartbeat.saturating_mul(3).as_secs().max(1);
    Heartbeat {
        gateway_id: state.settings.gateway_id.clone(),
        users: state
            .registry
            .snapshot()
            .into_iter()
            .map(|(u, n)| UserConns {
                user_id: uuid_bytes(u),
                connections: u32::try_from(n).unwrap_or(u32::MAX),
            })
            .collect(),
        ttl_secs: u32::try_from(ttl).unwrap_or(15),
    }
}

/// Publishes the heartbeat periodically until the task is dropped.
pub async fn run_heartbeat(state: Arc<AppState>) {
    let mut tick =
        tokio::time::interval(state.settings.presence_heartbeat.max(Duration::from_millis(100)));
    loop {
        tick.tick().await;
        let beat = heartbeat(&state);
        shared::nats::publish(&state.nats, state.subjects.get(subjects::PRESENCE_HEARTBEAT), &beat)
            .await;
    }
}
