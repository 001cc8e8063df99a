//! Chat routes: history, conversations, pending messages, and a contact's presence.
pub mod conversations;
pub mod history;
pub mod pending;
pub mod presence;
