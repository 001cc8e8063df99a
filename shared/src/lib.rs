//! Wire and infrastructure code every service shares: the protobuf contract
//! and its one reply shape, NATS subjects behind a configurable prefix, the
//! NATS request helper and the toolkit every backend serves its subjects
//! with, the limits both sides check, typed settings from the environment,
//! JWT verification, the AES-256-GCM envelope, telemetry and the shutdown
//! signal. It holds no business logic.

pub mod auth;
pub mod config;
pub mod crypto;
#[cfg(feature = "db")]
pub mod db;
pub mod error;
pub mod ids;
pub mod limits;
pub mod nats;
#[cfg(feature = "ops")]
pub mod ops;
pub mod proto;
#[cfg(feature = "redis")]
pub mod redis;
pub mod reply;
pub mod serve;
pub mod shutdown;
pub mod subjects;
pub mod telemetry;
