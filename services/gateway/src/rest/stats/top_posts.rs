//! `GET /api/stats/top-posts`: the most liked posts.
use shared::proto::feed::v1::{PostsReply, TopPostsRequest, posts_reply};

use crate::rest::prelude::*;

/// The most liked posts.
#[utoipa::path(
    tag = "stats",
    params(Top),
    responses((status = 200, description = "posts, most liked first", body = Vec<PostJson>)),
)]
#[get("/api/stats/top-posts")]
pub async fn top_posts(_user: AuthUser, q: web::Query<Top>, state: web::Data<AppState>) -> Reply {
    let limit = parse_limit(q.limit.as_deref(), 10)?;
    let reply: PostsReply =
        state.feed_rpc(FeedMethod::TopPosts, &TopPostsRequest { limit }).await?;
    match remote(reply.result)? {
        posts_reply::Result::Posts(l) => {
            Ok(HttpResponse::Ok().json(l.posts.into_iter().map(PostJson::from).collect::<Vec<_>>()))
        }
        posts_reply::Result::Error(e) => Err(feed_error(e)),
    }
}
