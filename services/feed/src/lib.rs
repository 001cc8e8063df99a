//! feed: posts, likes, comments and follows, answered over NATS
//! (`feed.v1.rpc.*`, queue group `feed`, protobuf) for the gateway and for
//! presence. PostgreSQL (schema `feed`) is the truth; counters change in the
//! same transaction as the like or comment that moves them. Home timelines
//! are per-user Redis sorted sets of post ids, written on post (fan-out on
//! write, capped at `FEED_TIMELINE_CAP`), built from PostgreSQL when missing,
//! with posts of authors over `FEED_FANOUT_MAX_FOLLOWERS` followers merged on
//! read instead (see [`timeline`]). Live `feed_update` events go to the
//! recipients' delivery subjects, with counter bursts coalesced (see [`live`]).

pub mod config;
pub mod handlers;
pub mod live;
pub mod repository;
pub mod startup;
pub mod timeline;
pub mod validate;
