//! Likes and comments on a post.
use actix_web::{HttpResponse, delete, get, post, web};
use serde_json::Value;
use shared::{
    ids::uuid_bytes,
    proto::feed::v1::{
        CommentReply, CommentRequest, CommentsReply, CommentsRequest, LikeReply, comment_reply,
        comments_reply, like_reply,
    },
    subjects::FeedMethod,
};

use super::{
    feed::{CommentJson, LikeState, Reply, feed_error, id},
    parse_id, parse_page,
    posts::action,
    schema::{ErrorBody, NewComment, Page},
};
use crate::{auth::AuthUser, error::remote, state::AppState};

async fn like_call(user: AuthUser, path: &str, state: &AppState, method: FeedMethod) -> Reply {
    let reply: LikeReply = state.feed_rpc(method, &action(user, path)?).await?;
    match remote(reply.result)? {
        like_reply::Result::State(s) => Ok(HttpResponse::Ok().json(LikeState {
            post_id: id(&s.post_id),
            likes_count: s.likes_count,
            liked: s.liked,
        })),
        like_reply::Result::Error(e) => Err(feed_error(e)),
    }
}

/// Likes a post (idempotent: a second like changes nothing).
#[utoipa::path(
    tag = "posts",
    params(("post_id" = Uuid, Path, description = "the post")),
    responses(
        (status = 200, description = "the post's likes", body = LikeState),
        (status = 404, description = "no such post", body = ErrorBody),
    ),
)]
#[post("/api/posts/{post_id}/like")]
pub async fn like(user: AuthUser, path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    like_call(user, &path, &state, FeedMethod::Like).await
}

/// Takes a like back (idempotent).
#[utoipa::path(
    tag = "posts",
    params(("post_id" = Uuid, Path, description = "the post")),
    responses(
        (status = 200, description = "the post's likes", body = LikeState),
        (status = 404, description = "no such post", body = ErrorBody),
    ),
)]
#[delete("/api/posts/{post_id}/like")]
pub async fn unlike(user: AuthUser, path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    like_call(user, &path, &state, FeedMethod::Unlike).await
}

/// Comments on a post; its author gets a `newcomment` event.
#[utoipa::path(
    tag = "posts",
    params(("post_id" = Uuid, Path, description = "the post")),
    request_body = NewComment,
    responses(
        (status = 201, description = "the comment", body = CommentJson),
        (status = 404, description = "no such post", body = ErrorBody),
    ),
)]
#[post("/api/posts/{post_id}/comments")]
pub async fn add_comment(
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Reply {
    let post_id = parse_id("post_id", &path)?;
    let req = CommentRequest {
        user_id: uuid_bytes(user.0),
        post_id: uuid_bytes(post_id),
        content: NewComment::parse(&body)?.content,
    };
    let reply: CommentReply = state.feed_rpc(FeedMethod::Comment, &req).await?;
    match remote(reply.result)? {
        comment_reply::Result::Comment(c) => Ok(HttpResponse::Created().json(CommentJson::from(c))),
        comment_reply::Result::Error(e) => Err(feed_error(e)),
    }
}

/// A post's comments, oldest first.
#[utoipa::path(
    tag = "posts",
    params(("post_id" = Uuid, Path, description = "the post"), Page),
    responses(
        (status = 200, description = "comments", body = Vec<CommentJson>),
        (status = 404, description = "no such post", body = ErrorBody),
    ),
)]
#[get("/api/posts/{post_id}/comments")]
pub async fn comments(
    _user: AuthUser,
    path: web::Path<String>,
    q: web::Query<Page>,
    state: web::Data<AppState>,
) -> Reply {
    let post_id = parse_id("post_id", &path)?;
    let (limit, offset) = parse_page(&q, 50)?;
    let state = &state;
    let comments = super::in_chunks(limit, offset, |limit, offset| async move {
        let req = CommentsRequest { post_id: uuid_bytes(post_id), limit, offset };
        let reply: CommentsReply = state.feed_rpc(FeedMethod::Comments, &req).await?;
        match remote(reply.result)? {
            comments_reply::Result::Comments(l) => Ok(l.comments),
            comments_reply::Result::Error(e) => Err(feed_error(e)),
        }
    })
    .await?;
    Ok(HttpResponse::Ok().json(comments.into_iter().map(CommentJson::from).collect::<Vec<_>>()))
}
