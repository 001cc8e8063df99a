//! What the route files share: `use crate::rest::prelude::*;`.
pub use actix_web::{HttpResponse, delete, get, post, web};
pub use shared::{
    ids::{uuid_bytes, uuid_from},
    subjects::{self, FeedMethod},
};

pub use super::{
    feed::{Reply, feed_error, page_request, posts_page},
    in_chunks,
};
pub use crate::{
    auth::AuthUser,
    error::{ApiError, remote},
    state::AppState,
    wire::{
        message::MessageJson,
        rest::{request::*, response::*},
    },
};
