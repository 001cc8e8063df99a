//! `GET /api/posts/{post_id}/comments`: a post's comments.
use shared::proto::feed::v1::{CommentsReply, CommentsRequest, comments_reply};

use crate::rest::prelude::*;

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
    let comments = in_chunks(limit, offset, |limit, offset| async move {
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
