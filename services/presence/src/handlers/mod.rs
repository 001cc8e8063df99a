//! One module per NATS subject, and [`routes`]: the list of every subject
//! presence serves with its handler ([`shared::serve`] does the rest).
//! [`Ctx`] is what every handler shares.
use std::{sync::Arc, time::Duration};

use async_nats::Client;
use shared::{
    proto::presence::v1::{ConnReply, ContactStatusReply, OnlineCountReply, StatusReply},
    serve::Route,
    subjects,
};

use crate::{announce::Announcer, contacts::Contacts, store::Store};

pub mod conn;
pub mod contact_status;
pub mod contacts_changed;
pub mod heartbeat;
pub mod online_count;
pub mod status;

/// Every subject presence serves, with its concurrency.
pub fn routes() -> Vec<Route<Ctx>> {
    vec![
        Route::rpc::<ConnReply, _, _>(subjects::PRESENCE_CONN, 256, conn::conn),
        Route::event(subjects::PRESENCE_HEARTBEAT, 8, heartbeat::heartbeat),
        Route::rpc::<StatusReply, _, _>(subjects::PRESENCE_STATUS, 64, status::status),
        Route::rpc::<ContactStatusReply, _, _>(
            subjects::PRESENCE_CONTACT_STATUS,
            64,
            contact_status::contact_status,
        ),
        Route::rpc::<OnlineCountReply, _, _>(
            subjects::PRESENCE_ONLINE_COUNT,
            16,
            online_count::online_count,
        ),
        // Every replica keeps its own contact cache: each one forgets what changed.
        Route::event(subjects::PRESENCE_CONTACTS_CHANGED, 16, contacts_changed::contacts_changed)
            .every_replica(),
    ]
}

/// What every handler shares.
#[derive(Clone)]
pub struct Ctx {
    /// The NATS connection.
    pub nats: Client,
    /// The presence keys.
    pub store: Store,
    /// Contact lookups.
    pub contacts: Arc<Contacts>,
    /// Queues transitions for announcement.
    pub announcer: Announcer,
    /// The longest a gateway lives without a heartbeat (`PRESENCE_GATEWAY_TTL_SECS`).
    pub gateway_ttl: Duration,
}
