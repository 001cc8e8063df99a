//! `feed.v1.rpc.follow`, `unfollow`, `followers` and `following`. Following
//! merges the author's recent posts into the follower's timeline;
//! unfollowing takes them out. `followers` also serves presence (who should
//! hear that a user came online), so internal callers may ask for pages of
//! up to [`MAX_INTERNAL_PAGE`] ids.
use shared::{
    ids::uuid_bytes,
    proto::{
        common::v1::ErrorReply,
        feed::v1::{
            FollowReply, FollowRequest, FollowState, PageRequest, UserList, UsersReply,
            follow_reply, users_reply,
        },
    },
};
use uuid::Uuid;

use super::{Ctx, id, limit, unavailable};
use crate::repository;

/// The largest page of user ids one `followers`/`following` request returns.
pub const MAX_INTERNAL_PAGE: u32 = 10_000;

/// `follow`: idempotent.
pub async fn follow(ctx: Ctx, req: FollowRequest) -> FollowReply {
    follow_reply(change(&ctx, req, true).await)
}

/// `unfollow`: idempotent.
pub async fn unfollow(ctx: Ctx, req: FollowRequest) -> FollowReply {
    follow_reply(change(&ctx, req, false).await)
}

fn follow_reply(result: Result<FollowState, ErrorReply>) -> FollowReply {
    FollowReply {
        result: Some(match result {
            Ok(s) => follow_reply::Result::State(s),
            Err(e) => follow_reply::Result::Error(e),
        }),
    }
}

async fn change(ctx: &Ctx, req: FollowRequest, following: bool) -> Result<FollowState, ErrorReply> {
    let follower = id("follower_id", &req.follower_id)?;
    let followee = id("user_id", &req.followee_id)?;
    if follower == followee {
        return Err(ErrorReply::invalid("user_id", "user_id must not be yourself"));
    }
    let changed = if following {
        repository::follow(&ctx.pool, follower, followee).await
    } else {
        repository::unfollow(&ctx.pool, follower, followee).await
    }
    .map_err(|e| unavailable(&e))?;
    if changed {
        // Presence caches contact sets: tell every replica these two changed.
        let notice = shared::proto::presence::v1::ContactsChanged {
            user_ids: vec![uuid_bytes(follower), uuid_bytes(followee)],
        };
        let subject = ctx.subjects.get(shared::subjects::PRESENCE_CONTACTS_CHANGED);
        shared::nats::publish(&ctx.nats, subject, &notice).await;
        let synced = if following {
            ctx.timelines.on_follow(follower, followee).await
        } else {
            ctx.timelines.on_unfollow(follower, followee).await
        };
        if let Err(e) = synced {
            tracing::warn!(error.cause_chain = ?e, "failed to update a timeline; dropping it");
            ctx.timelines.invalidate(follower).await;
        }
    }
    Ok(FollowState {
        follower_id: uuid_bytes(follower),
        followee_id: uuid_bytes(followee),
        following,
    })
}

fn users(result: Result<Vec<Uuid>, ErrorReply>) -> UsersReply {
    UsersReply {
        result: Some(match result {
            Ok(ids) => users_reply::Result::Users(UserList {
                user_ids: ids.into_iter().map(uuid_bytes).collect(),
            }),
            Err(e) => users_reply::Result::Error(e),
        }),
    }
}

/// `followers`: who follows `user_id`, newest first.
pub async fn followers(ctx: Ctx, req: PageRequest) -> UsersReply {
    users(page(&ctx, req, true).await)
}

/// `following`: whom `user_id` follows, newest first.
pub async fn following(ctx: Ctx, req: PageRequest) -> UsersReply {
    users(page(&ctx, req, false).await)
}

async fn page(ctx: &Ctx, req: PageRequest, followers: bool) -> Result<Vec<Uuid>, ErrorReply> {
    let user = id("user_id", &req.user_id)?;
    let (limit, offset) = (limit(req.limit, 50, MAX_INTERNAL_PAGE), i64::from(req.offset));
    if followers {
        repository::followers(&ctx.pool, user, limit, offset).await
    } else {
        repository::following(&ctx.pool, user, limit, offset).await
    }
    .map_err(|e| unavailable(&e))
}
