//! `DELETE /api/posts/{post_id}`: deletes one of the caller's posts.
use shared::proto::feed::v1::{DeleteReply, delete_reply};

use super::action;
use crate::rest::prelude::*;

/// Deletes one of the caller's posts; followers get a `postdeleted` event.
#[utoipa::path(
    tag = "posts",
    params(("post_id" = Uuid, Path, description = "the post")),
    responses(
        (status = 200, description = "deleted", body = Deleted),
        (status = 403, description = "not the author's", body = ErrorBody),
        (status = 404, description = "no such post", body = ErrorBody),
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
            Ok(HttpResponse::Ok().json(Deleted::new(uuid_from(&req.post_id).unwrap_or_default())))
        }
        delete_reply::Result::Error(e) => Err(feed_error(e)),
    }
}
