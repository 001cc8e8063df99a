//! chat-persistence: takes sends from the gateways over NATS (queue group, so
//! replicas share them), seals each message with the AES-256-GCM envelope,
//! group-commits the sends that arrive together in one statement, replies
//! only after the commit, then routes delivery: a request to the receiver's
//! delivery subject, and the Redis pending queue until a gateway confirms.
//! It also answers history, sync, read receipts, conversations and pending
//! queries. PostgreSQL is the truth; Redis is a cache rebuilt from it.

pub mod config;
pub mod delivery;
pub mod handlers;
pub mod pending;
pub mod repository;
pub mod startup;
