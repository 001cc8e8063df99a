//! What the feed routes share: the mapping of feed's error replies, and
//! paged requests. The gateway checks the token, ids, paging and the JSON
//! shape; feed checks the content rules again and answers with the field at fault.
use actix_web::HttpResponse;
use shared::{
    ids::uuid_bytes,
    proto::{
        common::v1::{ErrorCode, ErrorReply},
        feed::v1::{PageRequest, PostsReply, posts_reply},
    },
    subjects::FeedMethod,
};
use uuid::Uuid;

use crate::{
    error::{ApiError, remote},
    state::AppState,
    wire::rest::{
        request::{Page, parse_page},
        response::PostJson,
    },
};

/// The result of a handler.
pub type Reply = Result<HttpResponse, ApiError>;

/// Request fields feed may name in an `invalid_argument` reply.
const FIELDS: &[&str] =
    &["content", "media_url", "media_type", "user_id", "post_id", "limit", "offset"];

/// Maps feed's error reply, keeping the field of a validation error.
pub fn feed_error(e: ErrorReply) -> ApiError {
    if e.error_code() == ErrorCode::InvalidArgument
        && let Some(field) = FIELDS.iter().find(|f| **f == e.field)
    {
        return ApiError::invalid(field, e.message);
    }
    e.into()
}

/// A page request of `user`'s list, for `caller`.
pub fn page_request(
    user: Uuid,
    caller: Uuid,
    q: &Page,
    default: u32,
) -> Result<PageRequest, ApiError> {
    let (limit, offset) = parse_page(q, default)?;
    Ok(PageRequest { user_id: uuid_bytes(user), limit, offset, caller_id: uuid_bytes(caller) })
}

/// A page of posts, asked of feed in chunks that always fit one NATS message.
pub async fn posts_page(state: &AppState, method: FeedMethod, req: PageRequest) -> Reply {
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
    Ok(HttpResponse::Ok().json(posts.into_iter().map(PostJson::from).collect::<Vec<_>>()))
}
