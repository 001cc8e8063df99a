//! Statistics: users online (asked of presence), top posts and most active
//! authors (asked of feed).
pub mod active_users;
pub mod online;
pub mod top_posts;
