//! gateway: the only service clients reach. It holds the WebSocket
//! connections (its own lean transport, `wsio`) and serves the REST API (actix-web); it checks
//! JWTs, origins, sizes and rates, and talks to chat-persistence, feed and
//! presence over NATS only (no SQL, no Redis). Events for a user arrive on
//! that user's delivery subject, subscribed only while the user has a
//! connection here, and are written to every connection of the user.

pub mod auth;
pub mod config;
pub mod cursors;
pub mod delivery;
pub mod error;
pub mod mux;
pub mod observe;
pub mod outq;
pub mod presence;
pub mod registry;
pub mod rest;
pub mod server;
pub mod startup;
pub mod state;
pub mod web;
pub mod wire;
pub mod ws;
pub mod wsio;
