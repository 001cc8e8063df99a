//! Posts: `POST /api/posts`, the caller's timeline, a user's posts, and
//! deleting one's own post.
use actix_web::{HttpResponse, delete, get, post, web};
use serde_json::Value;
use shared::{
    ids::uuid_bytes,
    proto::feed::v1::{
        CreatePostRequest, DeleteReply, MediaType, PostAction, PostReply, delete_reply, post_reply,
    },
    subjects::FeedMethod,
};

use super::{
    feed::{Deleted, PostJson, Reply, feed_error, id, page_request, posts_page},
    parse_id,
    schema::{MediaKind, NewPost, Page},
};
use crate::{auth::AuthUser, error::remote, state::AppState};

/// Publishes a post; followers get a `newpost` event.
#[utoipa::path(
    tag = "posts",
    request_body = NewPost,
    responses((status = 201, description = "the post", body = PostJson)),
)]
#[post("/api/posts")]
pub async fn create_post(
    user: AuthUser,
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Reply {
    let new = NewPost::parse(&body)?;
    let req = CreatePostRequest {
        user_id: uuid_bytes(user.0),
        content: new.content,
        media_url: new.media_url.unwrap_or_default(),
        media_type: match new.media_type {
            None => MediaType::None,
            Some(MediaKind::Photo) => MediaType::Photo,
            Some(MediaKind::Video) => MediaType::Video,
        } as i32,
    };
    let reply: PostReply = state.feed_rpc(FeedMethod::CreatePost, &req).await?;
    match remote(reply.result)? {
        post_reply::Result::Post(p) => Ok(HttpResponse::Created().json(PostJson::from(p))),
        post_reply::Result::Error(e) => Err(feed_error(e)),
    }
}

/// The caller's timeline: their posts and those of the users they follow, newest first.
#[utoipa::path(
    tag = "posts",
    params(Page),
    responses((status = 200, description = "posts, newest first", body = Vec<PostJson>)),
)]
#[get("/api/posts")]
pub async fn timeline(user: AuthUser, q: web::Query<Page>, state: web::Data<AppState>) -> Reply {
    let req = page_request(user.0, user.0, &q, 20)?;
    posts_page(&state, FeedMethod::Timeline, req).await
}

/// A user's posts, newest first.
#[utoipa::path(
    tag = "posts",
    params(("user_id" = Uuid, Path, description = "the author"), Page),
    responses((status = 200, description = "posts, newest first", body = Vec<PostJson>)),
)]
#[get("/api/users/{user_id}/posts")]
pub async fn user_posts(
    user: AuthUser,
    path: web::Path<String>,
    q: web::Query<Page>,
    state: web::Data<AppState>,
) -> Reply {
    let req = page_request(parse_id("user_id", &path)?, user.0, &q, 20)?;
    posts_page(&state, FeedMethod::UserPosts, req).await
}

/// Deletes one of the caller's posts; followers get a `postdeleted` event.
#[utoipa::path(
    tag = "posts",
    params(("post_id" = Uuid, Path, description = "the post")),
    responses(
        (status = 200, description = "deleted", body = Deleted),
        (status = 403, description = "not the author's", body = super::schema::ErrorBody),
        (status = 404, description = "no such post", body = super::schema::ErrorBody),
    ),
)]
#[delete("/api/posts/{post_id}")]
pub async fn delete_post(
    user: AuthUser,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Reply {
    let req = action(user, &path)?;
    let reply: DeleteReply = state.feed_rpc(FeedMethod::DeletePost, &req).await?;
    match remote(reply.result)? {
        delete_reply::Result::Deleted(_) => {
            Ok(HttpResponse::Ok().json(Deleted { post_id: id(&req.post_id), deleted: true }))
        }
        delete_reply::Result::Error(e) => Err(feed_error(e)),
    }
}

/// The caller acting on a post.
pub fn action(user: AuthUser, path: &str) -> Result<PostAction, crate::error::ApiError> {
    Ok(PostAction { user_id: uuid_bytes(user.0), post_id: uuid_bytes(parse_id("post_id", path)?) })
}
