//! Announcing transitions. Each debounced online/offline transition a
//! script decided is published once as `StatusChanged` on
//! `presence.v1.events` (at once), and as a `user_status` event on the
//! delivery subject of each of the user's contacts who has a connection
//! right now (never a broadcast) — unless the user's status flipped again
//! meanwhile, in which case the newer transition speaks for itself. Transitions queue in a bounded channel and fan out
//! with bounded concurrency; a full queue slows the handlers down rather
//! than dropping announcements.
use std::sync::Arc;

use async_nats::Client;
use bytes::Bytes;
use prost::Message;
use shared::{
    ids::{micros, uuid_bytes},
    proto::{
        gateway::v1::{UserEvent, UserStatus, user_event},
        presence::v1::StatusChanged,
    },
    subjects::{self, Subjects},
};
use tokio::{
    sync::{Semaphore, mpsc},
    task::JoinHandle,
};
use uuid::Uuid;

use crate::{contacts::Contacts, store::Store};

/// Transitions waiting to be announced.
const QUEUE: usize = 10_000;
/// Transitions fanned out at once.
const CONCURRENCY: u32 = 64;

/// One user's debounced change of status.
#[derive(Clone, Copy, Debug)]
struct Transition {
    user: Uuid,
    online: bool,
    /// When it was decided (microseconds).
    at: i64,
}

/// What a fan-out needs.
struct FanOut {
    nats: Client,
    subjects: Subjects,
    store: Store,
    contacts: Arc<Contacts>,
}

/// The handle handlers use to announce transitions.
#[derive(Clone)]
pub struct Announcer {
    tx: mpsc::Sender<Transition>,
}

impl Announcer {
    /// Starts the fan-out loop; it ends once every `Announcer` is dropped and
    /// what was queued has been announced.
    pub fn start(
        nats: Client,
        subjects: Subjects,
        store: Store,
        contacts: Arc<Contacts>,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let fan_out = Arc::new(FanOut { nats, subjects, store, contacts });
        (Self { tx }, tokio::spawn(run(fan_out, rx)))
    }

    /// Queues the announcement of users who came online or went offline.
    pub async fn announce(&self, users: Vec<Uuid>, online: bool) {
        let at = micros(chrono::Utc::now());
        for user in users {
            if self.tx.send(Transition { user, online, at }).await.is_err() {
                tracing::warn!("announcer stopped; transition not announced");
                return;
            }
        }
    }
}

async fn run(fan_out: Arc<FanOut>, mut rx: mpsc::Receiver<Transition>) {
    let permits = Arc::new(Semaphore::new(CONCURRENCY as usize));
    while let Some(t) = rx.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else { break };
        let fan_out = fan_out.clone();
        tokio::spawn(async move {
            let _permit = permit;
            fan_out.announce(t).await;
        });
    }
    let _ = permits.acquire_many(CONCURRENCY).await;
}

impl FanOut {
    async fn announce(&self, t: Transition) {
        let changed =
            StatusChanged { user_id: uuid_bytes(t.user), online: t.online, at_micros: t.at };
        shared::nats::publish(&self.nats, self.subjects.get(subjects::PRESENCE_EVENTS), &changed)
            .await;
        let label = if t.online { "online" } else { "offline" };
        metrics::counter!("presence_transitions_total", "status" => label).increment(1);
        let audience = self.contacts.audience(t.user).await;
        if audience.is_empty() {
            return;
        }
        // The lookup may have taken a while: a newer transition announces itself.
        match self.store.status(&[t.user]).await {
            Ok(now) if now.first().is_some_and(|s| s.online != t.online) => {
                metrics::counter!("presence_stale_transitions_total").increment(1);
                return;
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error.cause_chain = ?e, "status re-check failed"),
        }
        // Contacts without a connection would receive nothing anyway.
        let targets = match self.store.connected(&audience).await {
            Ok(targets) => targets,
            Err(e) => {
                tracing::warn!(error.cause_chain = ?e, "online contacts unknown; telling them all");
                audience
            }
        };
        let event = UserEvent {
            event: Some(user_event::Event::UserStatus(UserStatus {
                user_id: uuid_bytes(t.user),
                online: t.online,
            })),
        };
        let payload = Bytes::from(event.encode_to_vec());
        for contact in &targets {
            if let Err(e) =
                self.nats.publish(self.subjects.deliver(*contact), payload.clone()).await
            {
                tracing::warn!(error.cause_chain = ?e, "failed to publish user_status");
                return;
            }
        }
        metrics::counter!("presence_status_events_total").increment(targets.len() as u64);
        tracing::debug!(user = %t.user, online = t.online, contacts = targets.len(), "announced");
    }
}
