//! `feed.v1.rpc.follow` and `unfollow`: one handler, told by its subject
//! which way. Both are idempotent. Following merges the author's recent
//! posts into the follower's timeline; unfollowing takes them out; either
//! tells presence (every replica) that the two users' contacts changed.
use std::sync::Arc;

use shared::{
    ids::uuid_bytes,
    proto::{
        common::v1::ErrorReply,
        feed::v1::{FollowRequest, FollowState},
        presence::v1::ContactsChanged,
    },
    reply::unavailable,
    subjects,
};

use super::{Ctx, id};
use crate::repository;

/// `feed.v1.rpc.follow` (`following`) or `unfollow`.
pub async fn follow(
    ctx: Arc<Ctx>,
    req: FollowRequest,
    following: bool,
) -> Result<FollowState, ErrorReply> {
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
        let notice = ContactsChanged { user_ids: vec![uuid_bytes(follower), uuid_bytes(followee)] };
        let subject = ctx.subjects.get(subjects::PRESENCE_CONTACTS_CHANGED);
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
