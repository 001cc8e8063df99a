//! The per-user delivery subscription: events published on the user's
//! subject are rendered once and handed to every connection of the user
//! here (each connection orders stream events by position itself). With a
//! plain `nats://` URL it is a subscription on [`crate::mux`]; otherwise an
//! async-nats subscription with a task that dispatches it.
use std::sync::Arc;

use futures_util::StreamExt;
use prost::Message;
use shared::proto::gateway::v1::UserEvent;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::{state::AppState, wire::server};

/// A user's delivery subscription.
pub enum Delivery {
    /// On the gateway's multiplexed delivery connection.
    Mux(crate::mux::Subscription),
    /// An async-nats subscription and the task that dispatches it.
    Task(tokio::task::AbortHandle),
}

impl Delivery {
    /// Ends the subscription.
    pub fn cancel(&self) {
        match self {
            Self::Mux(sub) => sub.cancel(),
            Self::Task(task) => task.abort(),
        }
    }
}

/// How long a new connection waits for its delivery subscription to be confirmed.
const SUBSCRIBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Makes sure the user's subject is subscribed here: by the user's first
/// connection, while the others wait on `slot`; false when it could not be.
pub async fn ensure(state: &Arc<AppState>, user: Uuid, slot: &Mutex<Option<Delivery>>) -> bool {
    let mut guard = slot.lock().await;
    if guard.is_some() {
        return true;
    }
    // Boxed: subscribing is a large future, and a connection's task keeps this one.
    match Box::pin(subscribe(state, user)).await {
        Ok(subscription) => {
            *guard = Some(subscription);
            true
        }
        Err(e) => {
            tracing::warn!(error.cause_chain = ?e, "failed to subscribe a user's events");
            false
        }
    }
}

/// Subscribes to the user's subject (confirmed by the server before it
/// returns, so a following catch-up cannot miss an event) and spawns the
/// loop that dispatches its events.
async fn subscribe(state: &Arc<AppState>, user: Uuid) -> anyhow::Result<Delivery> {
    if let Some(mux) = &state.mux {
        let subscribed = mux.subscribe(user, state.subjects.deliver(user));
        let sub = tokio::time::timeout(SUBSCRIBE_TIMEOUT, subscribed)
            .await
            .map_err(|_| anyhow::anyhow!("nats did not confirm the subscription"))??;
        return Ok(Delivery::Mux(sub));
    }
    // Bounded: with NATS unreachable the connection is refused (1013), not left hanging.
    let confirmed = tokio::time::timeout(SUBSCRIBE_TIMEOUT, async {
        let sub = state.nats.subscribe(state.subjects.deliver(user)).await?;
        state.nats.flush().await?;
        Ok::<_, anyhow::Error>(sub)
    });
    let mut sub =
        confirmed.await.map_err(|_| anyhow::anyhow!("nats did not confirm the subscription"))??;
    let state = state.clone();
    let task = tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            match UserEvent::decode(msg.payload) {
                Ok(event) => {
                    if let Some(out) = server::render(&event) {
                        state.registry.dispatch(user, &out);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "undecodable user event"),
            }
            metrics::counter!("gateway_events_in_total").increment(1);
        }
    });
    Ok(Delivery::Task(task.abort_handle()))
}
