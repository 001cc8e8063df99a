//! The gateway's JSON: every WebSocket frame and REST body, below `ws`,
//! `rest` and `presence`, which all speak it. Nothing here does I/O or
//! depends on the rest of the gateway.
//!
//! - [`client`]: a client frame parsed and checked, by a pure function.
//! - [`server`]: server frames, rendered once per event into an [`Outbound`].
//! - [`message`]: the `message` object both the frames and REST carry.
//! - [`rest`]: REST request bodies and parameters (checked) and responses,
//!   with their OpenAPI schemas.

pub mod client;
pub mod message;
pub mod outbound;
pub mod rest;
pub mod server;

pub use outbound::{Kind, Outbound};
