//! `chat.v1.rpc.contacts` (asked by presence): the people a user has
//! exchanged messages with.
use std::sync::Arc;

use shared::{
    ids::{uuid_bytes, uuid_from},
    proto::{
        chat::v1::{ContactList, ContactsRequest},
        common::v1::ErrorReply,
    },
    reply::unavailable,
};

use super::Ctx;
use crate::repository;

/// `chat.v1.rpc.contacts`.
pub async fn contacts(ctx: Arc<Ctx>, req: ContactsRequest) -> Result<ContactList, ErrorReply> {
    let user =
        uuid_from(&req.user_id).ok_or_else(|| ErrorReply::invalid("user_id", "bad user id"))?;
    let ids = repository::contacts(&ctx.pool, user).await.map_err(|e| unavailable(&e))?;
    Ok(ContactList { user_ids: ids.into_iter().map(uuid_bytes).collect() })
}
