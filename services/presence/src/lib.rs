//! presence: knows who is online. Gateways report each connection opened
//! and closed, and a heartbeat with all their users' connection counts;
//! presence keeps those counts per gateway in Redis (Lua scripts, so
//! replicas never race), expires a gateway's connections when its
//! heartbeats stop, and debounces offlines by a grace period
//! (`PRESENCE_GRACE_MS`, default 2 s: a reconnect within it sends nothing).
//! Each transition is published as `StatusChanged` and told, as
//! `user_status`, to the user's contacts who are connected — never to
//! everyone. It answers "is this user online?", "how many are online?", and
//! gives each connecting user its contacts' statuses.

pub mod announce;
pub mod config;
pub mod contacts;
pub mod handlers;
pub mod startup;
pub mod store;
pub mod sweeper;
