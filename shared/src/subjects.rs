//! Every NATS subject the services use, in one place, behind a configurable
//! prefix (`NATS_SUBJECT_PREFIX`): deployments can share a NATS cluster and
//! tests isolate themselves with a prefix of their own.

/// gateway → chat-persistence: make one connection's queued messages durable,
/// in send order (`SendBatch`, request/reply, queue group).
pub const CHAT_SEND: &str = "chat.v1.send";
/// gateway → chat-persistence: history between two users.
pub const CHAT_HISTORY: &str = "chat.v1.rpc.history";
/// gateway → chat-persistence: a page of a user's stream (pending drain, sync, gap fill).
pub const CHAT_SYNC: &str = "chat.v1.rpc.sync";
/// gateway → chat-persistence: a read receipt.
pub const CHAT_READ: &str = "chat.v1.rpc.read";
/// gateway → chat-persistence: the caller's conversations.
pub const CHAT_CONVERSATIONS: &str = "chat.v1.rpc.conversations";
/// gateway → chat-persistence: the user's pending count.
pub const CHAT_PENDING_COUNT: &str = "chat.v1.rpc.pending_count";
/// presence → chat-persistence: the people a user exchanged messages with.
pub const CHAT_CONTACTS: &str = "chat.v1.rpc.contacts";
/// gateway → chat-persistence: how far users' streams were written to a live connection.
pub const CHAT_DELIVERED: &str = "chat.v1.delivered";

/// gateway → presence: a connection opened or closed.
pub const PRESENCE_CONN: &str = "presence.v1.conn";
/// gateway → presence: the gateway is alive, with its per-user connection counts.
pub const PRESENCE_HEARTBEAT: &str = "presence.v1.heartbeat";
/// presence → anyone: a user came online or went offline.
pub const PRESENCE_EVENTS: &str = "presence.v1.events";
/// chat-persistence, feed → presence (every replica): these users' contacts changed.
pub const PRESENCE_CONTACTS_CHANGED: &str = "presence.v1.contacts_changed";
/// → presence: which of these users are online.
pub const PRESENCE_STATUS: &str = "presence.v1.rpc.status";
/// gateway → presence: a user's status, if the caller is one of their contacts.
pub const PRESENCE_CONTACT_STATUS: &str = "presence.v1.rpc.contact_status";
/// → presence: how many users are online.
pub const PRESENCE_ONLINE_COUNT: &str = "presence.v1.rpc.online_count";

/// feed → anyone: post, like and comment events.
pub const FEED_EVENTS: &str = "feed.v1.events";
/// The feed's request/reply methods: one subject each, `feed.v1.rpc.<name>`.
/// An enum, so a misspelt method is a compile error, not a 503 at run time;
/// [`FeedMethod::subject`] names each one's subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedMethod {
    /// Create a post.
    CreatePost,
    /// Delete a post (author only).
    DeletePost,
    /// The caller's home timeline.
    Timeline,
    /// One user's posts.
    UserPosts,
    /// Like a post.
    Like,
    /// Take a like back.
    Unlike,
    /// Comment on a post.
    Comment,
    /// A post's comments.
    Comments,
    /// Follow a user.
    Follow,
    /// Unfollow a user.
    Unfollow,
    /// A user's followers.
    Followers,
    /// Whom a user follows.
    Following,
    /// The most liked recent posts.
    TopPosts,
    /// The most active users.
    ActiveUsers,
}

impl FeedMethod {
    /// The method's subject (without the deployment's prefix).
    pub const fn subject(self) -> &'static str {
        match self {
            Self::CreatePost => "feed.v1.rpc.create_post",
            Self::DeletePost => "feed.v1.rpc.delete_post",
            Self::Timeline => "feed.v1.rpc.timeline",
            Self::UserPosts => "feed.v1.rpc.user_posts",
            Self::Like => "feed.v1.rpc.like",
            Self::Unlike => "feed.v1.rpc.unlike",
            Self::Comment => "feed.v1.rpc.comment",
            Self::Comments => "feed.v1.rpc.comments",
            Self::Follow => "feed.v1.rpc.follow",
            Self::Unfollow => "feed.v1.rpc.unfollow",
            Self::Followers => "feed.v1.rpc.followers",
            Self::Following => "feed.v1.rpc.following",
            Self::TopPosts => "feed.v1.rpc.top_posts",
            Self::ActiveUsers => "feed.v1.rpc.active_users",
        }
    }
}

/// Prefix of the per-user delivery subjects (`gw.v1.deliver.<user_id>`).
pub const DELIVER: &str = "gw.v1.deliver";

/// Queue group names: replicas of one service share the work.
pub mod queue {
    /// chat-persistence's queue group.
    pub const CHAT: &str = "chat-persistence";
    /// feed's queue group.
    pub const FEED: &str = "feed";
    /// presence's queue group.
    pub const PRESENCE: &str = "presence";
}

/// Subject names with the deployment's prefix applied.
#[derive(Clone, Debug, Default)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    /// Creates the subject set for a prefix (empty for none; a trailing dot is added).
    pub fn new(prefix: &str) -> Self {
        let prefix = prefix.trim_matches('.');
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}.") };
        Self { prefix }
    }

    /// Returns the prefix as applied (empty or ending with a dot).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Returns a base subject (one of this module's constants) with the prefix applied.
    pub fn get(&self, base: &str) -> String {
        format!("{}{base}", self.prefix)
    }

    /// Returns the delivery subject of one user.
    pub fn deliver(&self, user_id: uuid::Uuid) -> String {
        format!("{}{DELIVER}.{}", self.prefix, user_id.simple())
    }

    /// Returns the subject of one feed method (`feed.v1.rpc.<method>`).
    pub fn feed_rpc(&self, method: FeedMethod) -> String {
        self.get(method.subject())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_applied_once_with_a_dot() {
        let s = Subjects::new("test.abc.");
        assert_eq!(s.get(CHAT_SEND), "test.abc.chat.v1.send");
        assert_eq!(Subjects::new("").get(CHAT_SEND), "chat.v1.send");
        let u = uuid::Uuid::nil();
        assert_eq!(
            Subjects::new("p").deliver(u),
            "p.gw.v1.deliver.00000000000000000000000000000000"
        );
        assert_eq!(Subjects::new("").feed_rpc(FeedMethod::Like), "feed.v1.rpc.like");
        use FeedMethod as M;
        let all = [
            M::CreatePost,
            M::DeletePost,
            M::Timeline,
            M::UserPosts,
            M::Like,
            M::Unlike,
            M::Comment,
            M::Comments,
            M::Follow,
            M::Unfollow,
            M::Followers,
            M::Following,
            M::TopPosts,
            M::ActiveUsers,
        ];
        let names: std::collections::HashSet<&str> = all.iter().map(|m| m.subject()).collect();
        assert_eq!(names.len(), all.len(), "one subject per method");
        assert!(names.iter().all(|s| s.starts_with("feed.v1.rpc.")));
    }
}
