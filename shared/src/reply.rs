//! The one shape of every request/reply answer in `proto/`:
//! `oneof result { <value>; common.v1.ErrorReply error = 2; }`. [`Reply`]
//! turns such an answer into a `Result` and back, so handlers return
//! `Result<value, ErrorReply>` ([`crate::serve`] builds the reply) and
//! callers read one with `into_result()`.
use crate::proto::{
    chat::v1 as chat,
    common::v1::{Empty, ErrorCode, ErrorReply},
    feed::v1 as feed,
    presence::v1 as presence,
};

/// A reply of the `oneof result { value, error }` shape.
pub trait Reply: prost::Message + Default + Send + 'static {
    /// What a successful reply carries.
    type Value;

    /// Builds the reply of an outcome.
    fn from_result(result: Result<Self::Value, ErrorReply>) -> Self;

    /// Reads the outcome; an empty `result` (a reply this build cannot
    /// read) is an `internal` error.
    fn into_result(self) -> Result<Self::Value, ErrorReply>;

    /// Whether the reply carries an error.
    fn is_error(&self) -> bool;
}

macro_rules! replies {
    ($($reply:ty => $result:ident::$variant:ident($value:ty);)*) => {$(
        impl Reply for $reply {
            type Value = $value;

            fn from_result(result: Result<$value, ErrorReply>) -> Self {
                Self {
                    result: Some(match result {
                        Ok(value) => $result::Result::$variant(value),
                        Err(error) => $result::Result::Error(error),
                    }),
                }
            }

            fn into_result(self) -> Result<$value, ErrorReply> {
                match self.result {
                    Some($result::Result::$variant(value)) => Ok(value),
                    Some($result::Result::Error(error)) => Err(error),
                    None => Err(ErrorReply::new(ErrorCode::Internal, "empty reply")),
                }
            }

            fn is_error(&self) -> bool {
                matches!(self.result, Some($result::Result::Error(_)))
            }
        }
    )*};
}

use chat::{
    contacts_reply, conversations_reply, messages_reply, pending_count_reply, read_reply,
    stream_reply,
};
use feed::{
    active_users_reply, comment_reply, comments_reply, delete_reply, follow_reply, like_reply,
    post_reply, posts_reply, users_reply,
};
use presence::{conn_reply, contact_status_reply, online_count_reply, status_reply};

replies! {
    chat::MessagesReply => messages_reply::Messages(chat::MessageList);
    chat::StreamReply => stream_reply::Page(chat::StreamPage);
    chat::PendingCountReply => pending_count_reply::Count(u64);
    chat::ReadReply => read_reply::Receipt(chat::ReadReceipt);
    chat::ConversationsReply => conversations_reply::Conversations(chat::ConversationList);
    chat::ContactsReply => contacts_reply::Contacts(chat::ContactList);
    feed::PostReply => post_reply::Post(feed::Post);
    feed::PostsReply => posts_reply::Posts(feed::PostList);
    feed::LikeReply => like_reply::State(feed::LikeState);
    feed::DeleteReply => delete_reply::Deleted(Empty);
    feed::CommentReply => comment_reply::Comment(feed::Comment);
    feed::CommentsReply => comments_reply::Comments(feed::CommentList);
    feed::FollowReply => follow_reply::State(feed::FollowState);
    feed::UsersReply => users_reply::Users(feed::UserList);
    feed::ActiveUsersReply => active_users_reply::Users(feed::ActiveUserList);
    presence::ConnReply => conn_reply::Contacts(presence::UserPresenceList);
    presence::StatusReply => status_reply::Users(presence::UserPresenceList);
    presence::ContactStatusReply => contact_status_reply::User(presence::UserPresence);
    presence::OnlineCountReply => online_count_reply::Online(u64);
}

/// The answer to a request its service cannot serve because its storage
/// failed: a retryable `unavailable`. Logs the cause here, once.
pub fn unavailable(cause: &impl std::fmt::Debug) -> ErrorReply {
    tracing::warn!(error.cause_chain = ?cause, "storage unavailable");
    ErrorReply::new(ErrorCode::Unavailable, "storage unavailable, retry")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_carries_its_value_or_its_error() {
        let ok = presence::OnlineCountReply::from_result(Ok(7));
        assert!(!ok.is_error());
        assert_eq!(ok.into_result(), Ok(7));
        let failed = chat::ContactsReply::from_result(Err(ErrorReply::invalid("user_id", "bad")));
        assert!(failed.is_error());
        assert_eq!(failed.into_result().map_err(|e| e.field), Err("user_id".to_owned()));
        let empty = feed::DeleteReply::default().into_result();
        assert_eq!(empty.map_err(|e| e.error_code()), Err(ErrorCode::Internal));
    }
}
