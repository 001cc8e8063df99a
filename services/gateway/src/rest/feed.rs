//! Feed REST routes (SPEC §4): posts, likes, comments, follows and the two
//! post statistics. The gateway checks the token, ids, paging and the JSON
//! shape; feed checks the content rules and answers with the field at fault.
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use shared::{
    ids::{rfc3339, uuid_bytes, uuid_from},
    proto::{
        common::v1::{ErrorCode, ErrorReply},
        feed::v1::{
            ActiveUsersReply, ActiveUsersRequest, Comment, CommentReply, CommentRequest,
            CommentsReply, CommentsRequest, CreatePostRequest, DeleteReply, FollowReply,
            FollowRequest, LikeReply, MediaType, PageRequest, Post, PostAction, PostReply,
            PostsReply, TopPostsRequest, UsersReply, active_users_reply, comment_reply,
            comments_reply, delete_reply, follow_reply, like_reply, post_reply, posts_reply,
            users_reply,
        },
    },
    subjects::FeedMethod,
};
use uuid::Uuid;

use super::{Page, parse_id};
use crate::{
    auth::AuthUser,
    error::{ApiError, remote},
    state::AppState,
};

/// Registers the feed routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/posts", web::post().to(create_post))
        .route("/api/posts", web::get().to(timeline))
        .route("/api/posts/{post_id}", web::delete().to(delete_post))
        .route("/api/posts/{post_id}/like", web::post().to(like))
        .route("/api/posts/{post_id}/like", web::delete().to(unlike))
        .route("/api/posts/{post_id}/comments", web::post().to(add_comment))
        .route("/api/posts/{post_id}/comments", web::get().to(comments))
        .route("/api/users/{user_id}/posts", web::get().to(user_posts))
        .route("/api/users/{user_id}/follow", web::post().to(follow))
        .route("/api/users/{user_id}/follow", web::delete().to(unfollow))
        .route("/api/users/{user_id}/followers", web::get().to(followers))
        .route("/api/users/{user_id}/following", web::get().to(following))
        .route("/api/stats/top-posts", web::get().to(top_posts))
        .route("/api/stats/active-users", web::get().to(active_users));
}

type Reply = Result<HttpResponse, ApiError>;

/// Request fields feed may name in an `invalid_argument` reply.
const FIELDS: &[&str] =
    &["content", "media_url", "media_type", "user_id", "post_id", "limit", "offset"];

/// Maps feed's error reply, keeping the field of a validation error.
fn feed_error(e: ErrorReply) -> ApiError {
    if e.error_code() == ErrorCode::InvalidArgument
        && let Some(field) = FIELDS.iter().find(|f| **f == e.field)
    {
        return ApiError::invalid(field, e.message);
    }
    e.into()
}

fn id_json(bytes: &[u8]) -> Value {
    uuid_from(bytes).map_or(Value::Null, |u| Value::String(u.to_string()))
}

fn post_json(p: &Post) -> Value {
    let media_type = match MediaType::try_from(p.media_type) {
        Ok(MediaType::Photo) => json!("photo"),
        Ok(MediaType::Video) => json!("video"),
        _ => Value::Null,
    };
    json!({
        "id": id_json(&p.id),
        "user_id": id_json(&p.user_id),
        "content": p.content,
        "media_url": if p.media_url.is_empty() { Value::Null } else { json!(p.media_url) },
        "media_type": media_type,
        "likes_count": p.likes_count,
        "comments_count": p.comments_count,
        "created_at": rfc3339(p.created_at_micros),
    })
}

fn comment_json(c: &Comment) -> Value {
    json!({
        "id": id_json(&c.id),
        "post_id": id_json(&c.post_id),
        "user_id": id_json(&c.user_id),
        "content": c.content,
        "created_at": rfc3339(c.created_at_micros),
    })
}

fn posts_json(reply: PostsReply) -> Reply {
    match remote(reply.result)? {
        posts_reply::Result::Posts(l) => {
            Ok(HttpResponse::Ok().json(l.posts.iter().map(post_json).collect::<Vec<_>>()))
        }
        posts_reply::Result::Error(e) => Err(feed_error(e)),
    }
}

/// Reads an optional string member of a JSON body; `null` counts as absent.
fn text<'a>(body: &'a Value, field: &'static str) -> Result<Option<&'a str>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(field, format!("{field} must be a string"))),
    }
}

fn content(body: &Value) -> Result<String, ApiError> {
    if !body.is_object() {
        return Err(ApiError::invalid("content", "the body must be a JSON object with content"));
    }
    text(body, "content")?
        .map(str::to_owned)
        .ok_or_else(|| ApiError::invalid("content", "content is required"))
}

fn page_request(user: Uuid, caller: Uuid, q: &Page, default: u32) -> Result<PageRequest, ApiError> {
    let (limit, offset) = q.parse(default)?;
    Ok(PageRequest { user_id: uuid_bytes(user), limit, offset, caller_id: uuid_bytes(caller) })
}

async fn create_post(user: AuthUser, body: web::Json<Value>, state: web::Data<AppState>) -> Reply {
    let content = content(&body)?;
    let media_type = match text(&body, "media_type")? {
        None => MediaType::None,
        Some("photo") => MediaType::Photo,
        Some("video") => MediaType::Video,
        Some(_) => {
            return Err(ApiError::invalid("media_type", "media_type must be photo or video"));
        }
    };
    let req = CreatePostRequest {
        user_id: uuid_bytes(user.0),
        content,
        media_url: text(&body, "media_url")?.unwrap_or_default().to_owned(),
        media_type: media_type as i32,
    };
    let reply: PostReply = state.feed_rpc(FeedMethod::CreatePost, &req).await?;
    match remote(reply.result)? {
        post_reply::Result::Post(p) => Ok(HttpResponse::Created().json(post_json(&p))),
        post_reply::Result::Error(e) => Err(feed_error(e)),
    }
}

/// A page of posts, asked of feed in chunks that always fit one NATS message.
async fn posts_page(state: &AppState, method: FeedMethod, req: PageRequest) -> Reply {
    let posts = super::in_chunks(req.limit, req.offset, |limit, offset| {
        let chunk = PageRequest { limit, offset, ..req.clone() };
        async move {
            let reply: PostsReply = state.feed_rpc(method, &chunk).await?;
            match remote(reply.result)? {
                posts_reply::Result::Posts(l) => Ok(l.posts),
                posts_reply::Result::Error(e) => Err(feed_error(e)),
            }
        }
    })
    .await?;
    Ok(HttpResponse::Ok().json(posts.iter().map(post_json).collect::<Vec<_>>()))
}

async fn timeline(user: AuthUser, q: web::Query<Page>, state: web::Data<AppState>) -> Reply {
    let req = page_request(user.0, user.0, &q, 20)?;
    posts_page(&state, FeedMethod::Timeline, req).await
}

async fn user_posts(
    user: AuthUser,
    path: web::Path<String>,
    q: web::Query<Page>,
    state: web::Data<AppState>,
) -> Reply {
    let req = page_request(parse_id("user_id", &path)?, user.0, &q, 20)?;
    posts_page(&state, FeedMethod::UserPosts, req).await
}

fn action(user: AuthUser, path: &str) -> Result<PostAction, ApiError> {
    Ok(PostAction { user_id: uuid_bytes(user.0), post_id: uuid_bytes(parse_id("post_id", path)?) })
}

async fn delete_post(user: AuthUser, path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    let req = action(user, &path)?;
    let reply: DeleteReply = state.feed_rpc(FeedMethod::DeletePost, &req).await?;
    match remote(reply.result)? {
        delete_reply::Result::Deleted(_) => {
            Ok(HttpResponse::Ok().json(json!({"post_id": id_json(&req.post_id), "deleted": true})))
        }
        delete_reply::Result::Error(e) => Err(feed_error(e)),
    }
}

async fn like_call(user: AuthUser, path: &str, state: &AppState, method: FeedMethod) -> Reply {
    let reply: LikeReply = state.feed_rpc(method, &action(user, path)?).await?;
    match remote(reply.result)? {
        like_reply::Result::State(s) => Ok(HttpResponse::Ok().json(json!({
            "post_id": id_json(&s.post_id), "likes_count": s.likes_count, "liked": s.liked,
        }))),
        like_reply::Result::Error(e) => Err(feed_error(e)),
    }
}

async fn like(user: AuthUser, path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    like_call(user, &path, &state, FeedMethod::Like).await
}

async fn unlike(user: AuthUser, path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    like_call(user, &path, &state, FeedMethod::Unlike).await
}

async fn add_comment(
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Reply {
    let post_id = parse_id("post_id", &path)?;
    let req = CommentRequest {
        user_id: uuid_bytes(user.0),
        post_id: uuid_bytes(post_id),
        content: content(&body)?,
    };
    let reply: CommentReply = state.feed_rpc(FeedMethod::Comment, &req).await?;
    match remote(reply.result)? {
        comment_reply::Result::Comment(c) => Ok(HttpResponse::Created().json(comment_json(&c))),
        comment_reply::Result::Error(e) => Err(feed_error(e)),
    }
}

async fn comments(
    _user: AuthUser,
    path: web::Path<String>,
    q: web::Query<Page>,
    state: web::Data<AppState>,
) -> Reply {
    let post_id = parse_id("post_id", &path)?;
    let (limit, offset) = q.parse(50)?;
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
    Ok(HttpResponse::Ok().json(comments.iter().map(comment_json).collect::<Vec<_>>()))
}

async fn follow_call(user: AuthUser, path: &str, state: &AppState, method: FeedMethod) -> Reply {
    let req = FollowRequest {
        follower_id: uuid_bytes(user.0),
        followee_id: uuid_bytes(parse_id("user_id", path)?),
    };
    let reply: FollowReply = state.feed_rpc(method, &req).await?;
    match remote(reply.result)? {
        follow_reply::Result::State(s) => Ok(HttpResponse::Ok().json(json!({
            "follower_id": id_json(&s.follower_id),
            "followee_id": id_json(&s.followee_id),
            "following": s.following,
        }))),
        follow_reply::Result::Error(e) => Err(feed_error(e)),
    }
}

async fn follow(user: AuthUser, path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    follow_call(user, &path, &state, FeedMethod::Follow).await
}

async fn unfollow(user: AuthUser, path: web::Path<String>, state: web::Data<AppState>) -> Reply {
    follow_call(user, &path, &state, FeedMethod::Unfollow).await
}

async fn users_call(
    user: AuthUser,
    path: &str,
    q: &Page,
    state: &AppState,
    method: FeedMethod,
) -> Reply {
    let req = page_request(parse_id("user_id", path)?, user.0, q, 50)?;
    let reply: UsersReply = state.feed_rpc(method, &req).await?;
    match remote(reply.result)? {
        users_reply::Result::Users(l) => Ok(HttpResponse::Ok()
            .json(l.user_ids.iter().map(|u| json!({"user_id": id_json(u)})).collect::<Vec<_>>())),
        users_reply::Result::Error(e) => Err(feed_error(e)),
    }
}

async fn followers(
    user: AuthUser,
    path: web::Path<String>,
    q: web::Query<Page>,
    state: web::Data<AppState>,
) -> Reply {
    users_call(user, &path, &q, &state, FeedMethod::Followers).await
}

async fn following(
    user: AuthUser,
    path: web::Path<String>,
    q: web::Query<Page>,
    state: web::Data<AppState>,
) -> Reply {
    users_call(user, &path, &q, &state, FeedMethod::Following).await
}

async fn top_posts(_user: AuthUser, q: web::Query<Page>, state: web::Data<AppState>) -> Reply {
    let (limit, _) = q.parse(10)?;
    posts_json(state.feed_rpc(FeedMethod::TopPosts, &TopPostsRequest { limit }).await?)
}

async fn active_users(_user: AuthUser, q: web::Query<Page>, state: web::Data<AppState>) -> Reply {
    let (limit, _) = q.parse(10)?;
    let reply: ActiveUsersReply =
        state.feed_rpc(FeedMethod::ActiveUsers, &ActiveUsersRequest { limit }).await?;
    match remote(reply.result)? {
        active_users_reply::Result::Users(l) => Ok(HttpResponse::Ok().json(
            l.users
                .iter()
                .map(|u| json!({"user_id": id_json(&u.user_id), "post_count": u.post_count}))
                .collect::<Vec<_>>(),
        )),
        active_users_reply::Result::Error(e) => Err(feed_error(e)),
    }
}
