//! Reports to presence: each connection opened or closed, with the user's
//! connection count here after the change, and a periodic heartbeat with
//! every user's count (so presence corrects a lost report and expires the
//! users of a gateway that died without a word). Every report carries a
//! sequence number taken together with the counts it reports, so presence
//! can tell the newest word on a user whatever order reports arrive in.
//!
//! An `opened` report is a request: presence answers, once it has applied
//! it, with the connecting user's contacts who are online, and they are
//! written as `user_status` frames to that one connection (the snapshot).
use std::{
    sync::{Arc, LazyLock, Mutex},
    time::Duration,
};

use shared::{
    ids::{micros, uuid_bytes},
    nats::RpcError,
    proto::{
        gateway::v1::{UserEvent, UserStatus, user_event},
        presence::v1::{ConnChange, ConnEvent, ConnReply, Heartbeat, UserConns},
    },
    reply::Reply,
    subjects,
};
use uuid::Uuid;

use crate::{registry::ConnHandle, state::AppState, wire::server};

/// Attempts at the `opened` request (it is idempotent: same sequence number).
const OPEN_ATTEMPTS: u32 = 3;
/// Most users in one heartbeat (about 22 bytes each: well under NATS's 1 MiB).
const MAX_USERS_PER_HEARTBEAT: usize = 20_000;
/// User buckets (the last hex digit of the id) a big heartbeat is split by.
const BUCKETS: usize = 16;
/// How long the snapshot waits, in total, for room in a full outbound queue.
const SNAPSHOT_PATIENCE: Duration = Duration::from_secs(2);

/// The sequence of this process's reports. It starts at the start time in
/// microseconds, so a gateway restarted under the same `GATEWAY_ID` still
/// counts up from where the last one stopped.
static SEQ: LazyLock<Mutex<u64>> = LazyLock::new(|| {
    let start = u64::try_from(micros(chrono::Utc::now())).unwrap_or(1);
    Mutex::new(start)
});

/// Runs `read` and takes the next sequence number under one lock, so the
/// number orders what was read.
fn sequenced<T>(read: impl FnOnce() -> T) -> (T, u64) {
    let mut seq = SEQ.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    *seq += 1;
    (read(), *seq)
}

fn conn_event(state: &AppState, user: Uuid, change: ConnChange) -> ConnEvent {
    let (connections, seq) = sequenced(|| state.registry.connections_of(user));
    ConnEvent {
        gateway_id: state.settings.gateway_id.clone(),
        user_id: uuid_bytes(user),
        change: change as i32,
        at_micros: micros(chrono::Utc::now()),
        connections: u32::try_from(connections).unwrap_or(u32::MAX),
        seq,
    }
}

/// Called once a connection is registered and subscribed: reports it and,
/// in the background, writes the contacts' snapshot to this connection.
pub async fn connection_opened(state: &AppState, user: Uuid, conn: &ConnHandle) {
    let event = conn_event(state, user, ConnChange::Opened);
    let nats = state.nats.clone();
    let subject = state.subjects.get(subjects::PRESENCE_CONN);
    let conn = conn.clone();
    tokio::spawn(async move {
        for attempt in 1..=OPEN_ATTEMPTS {
            match shared::nats::request::<_, ConnReply>(&nats, subject.clone(), &event).await {
                Ok(reply) => return write_snapshot(&conn, reply).await,
                Err(RpcError::Unavailable(why)) if attempt < OPEN_ATTEMPTS => {
                    tracing::debug!(why, "presence did not answer; retrying");
                    tokio::time::sleep(Duration::from_millis(250) * attempt).await;
                }
                Err(e) => {
                    // The next heartbeat reports the connection; the snapshot is lost.
                    tracing::warn!(error = %e, "no presence snapshot for a new connection");
                    return;
                }
            }
        }
    });
}

async fn write_snapshot(conn: &ConnHandle, reply: ConnReply) {
    let contacts = match reply.into_result() {
        Ok(list) => list.users,
        Err(e) => {
            tracing::warn!(code = e.code, message = %e.message, "presence snapshot failed");
            return;
        }
    };
    let deadline = tokio::time::Instant::now() + SNAPSHOT_PATIENCE;
    for contact in contacts {
        let event = UserEvent {
            event: Some(user_event::Event::UserStatus(UserStatus {
                user_id: contact.user_id,
                online: contact.online,
            })),
        };
        let Some(out) = server::render(&event) else { continue };
        // A full queue is drained by the connection as we wait; a closed one never is.
        while !conn.try_send(out.clone()) {
            if tokio::time::Instant::now() >= deadline {
                tracing::debug!("snapshot cut short: the connection is full or gone");
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Called when a connection ends.
pub async fn connection_closed(state: &AppState, user: Uuid) {
    let event = conn_event(state, user, ConnChange::Closed);
    shared::nats::publish(&state.nats, state.subjects.get(subjects::PRESENCE_CONN), &event).await;
}

/// Builds this gateway's heartbeat: every user's connection count here.
pub fn heartbeat(state: &AppState) -> Heartbeat {
    let (snapshot, seq) = sequenced(|| state.registry.snapshot());
    beat(state, seq, 0, snapshot)
}

/// Builds this gateway's heartbeats: one, or, for a gateway with many users,
/// one per user bucket (same snapshot, same seq), each under the NATS payload limit.
pub fn heartbeats(state: &AppState) -> Vec<Heartbeat> {
    let (snapshot, seq) = sequenced(|| state.registry.snapshot());
    split(snapshot).into_iter().map(|(buckets, users)| beat(state, seq, buckets, users)).collect()
}

/// Splits a snapshot by user bucket when it is too big for one heartbeat;
/// returns (bucket mask, users) pairs, mask 0 meaning all buckets.
fn split(snapshot: Vec<(Uuid, usize)>) -> Vec<(u32, Vec<(Uuid, usize)>)> {
    if snapshot.len() <= MAX_USERS_PER_HEARTBEAT {
        return vec![(0, snapshot)];
    }
    let mut parts: Vec<Vec<(Uuid, usize)>> = vec![Vec::new(); BUCKETS];
    for (user, n) in snapshot {
        parts[usize::from(user.as_bytes()[15] & 0x0f)].push((user, n));
    }
    parts.into_iter().enumerate().map(|(b, users)| (1 << b, users)).collect()
}

fn beat(state: &AppState, seq: u64, buckets: u32, users: Vec<(Uuid, usize)>) -> Heartbeat {
    let ttl = state.settings.presence_heartbeat.saturating_mul(3).as_secs().max(1);
    Heartbeat {
        gateway_id: state.settings.gateway_id.clone(),
        users: users
            .into_iter()
            .map(|(u, n)| UserConns {
                user_id: uuid_bytes(u),
                connections: u32::try_from(n).unwrap_or(u32::MAX),
            })
            .collect(),
        ttl_secs: u32::try_from(ttl).unwrap_or(15),
        seq,
        buckets,
    }
}

/// Publishes the heartbeat periodically until the task is dropped.
pub async fn run_heartbeat(state: Arc<AppState>) {
    let mut tick =
        tokio::time::interval(state.settings.presence_heartbeat.max(Duration::from_millis(100)));
    loop {
        tick.tick().await;
        for beat in heartbeats(&state) {
            let subject = state.subjects.get(subjects::PRESENCE_HEARTBEAT);
            shared::nats::publish(&state.nats, subject, &beat).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_snapshot_is_split_by_the_last_hex_digit_of_the_user_id() {
        let small: Vec<(Uuid, usize)> = (0..10).map(|_| (Uuid::new_v4(), 1)).collect();
        assert_eq!(split(small).len(), 1);
        let big: Vec<(Uuid, usize)> =
            (0..=MAX_USERS_PER_HEARTBEAT).map(|_| (Uuid::new_v4(), 1)).collect();
        let parts = split(big);
        assert_eq!(parts.len(), BUCKETS);
        assert_eq!(parts.iter().map(|(_, u)| u.len()).sum::<usize>(), MAX_USERS_PER_HEARTBEAT + 1);
        for (mask, users) in parts {
            let digit = mask.trailing_zeros();
            assert!(users.iter().all(|(u, _)| {
                u.simple().to_string().ends_with(char::from_digit(digit, 16).unwrap_or('?'))
            }));
        }
    }

    #[test]
    fn sequence_numbers_increase() {
        let (_, a) = sequenced(|| ());
        let (_, b) = sequenced(|| ());
        assert!(b > a);
    }
}
