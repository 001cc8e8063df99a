//! How far each user's stream was written to a connection here, collected
//! from the connections and sent to chat-persistence in one `chat.v1.delivered`
//! notice per tick (one cursor per user, the furthest), not one per message.
use std::{collections::HashMap, sync::Mutex, time::Duration};

use shared::{
    ids::uuid_bytes,
    proto::chat::v1::{DeliveredNotice, StreamCursor},
    subjects,
};
use uuid::Uuid;

use crate::state::AppState;

/// How often the cursors are sent.
const TICK: Duration = Duration::from_millis(100);
/// Cursors per notice (about 28 bytes each).
const PER_NOTICE: usize = 8192;

/// Cursors moved since the last notice.
#[derive(Default)]
pub struct Cursors {
    moved: Mutex<HashMap<Uuid, u64>>,
}

impl Cursors {
    /// Records that `user`'s stream was written up to `seq` here.
    pub fn advance(&self, user: Uuid, seq: u64) {
        if let Ok(mut moved) = self.moved.lock() {
            let at = moved.entry(user).or_default();
            *at = (*at).max(seq);
        }
    }

    fn take(&self) -> HashMap<Uuid, u64> {
        self.moved.lock().map(|mut m| std::mem::take(&mut *m)).unwrap_or_default()
    }
}

/// Sends the moved cursors once.
pub async fn flush(state: &AppState) {
    let moved = state.cursors.take();
    if moved.is_empty() {
        return;
    }
    let all: Vec<StreamCursor> = moved
        .into_iter()
        .map(|(user, seq)| StreamCursor { user_id: uuid_bytes(user), seq })
        .collect();
    for chunk in all.chunks(PER_NOTICE) {
        let notice = DeliveredNotice { cursors: chunk.to_vec() };
        let subject = state.subjects.get(subjects::CHAT_DELIVERED);
        shared::nats::publish(&state.nats, subject, &notice).await;
    }
}

/// Sends the moved cursors every tick until the task is dropped.
pub async fn run(state: std::sync::Arc<AppState>) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tick.tick().await;
        flush(&state).await;
    }
}
