//! chat-persistence: takes batches of sends from the gateways over NATS
//! (queue group, so replicas share them), seals each message with the
//! AES-256-GCM envelope, gives it its positions in the sender's and the
//! receiver's streams and group-commits it, publishes it to both, and only
//! then acknowledges. It also answers stream pages (pending drain, sync, gap
//! fills), read receipts (durable stream events), history, conversations and
//! pending counts, and keeps each user's delivered cursor. PostgreSQL is the
//! only state.

pub mod config;
pub mod delivery;
pub mod handlers;
pub mod repository;
pub mod startup;
