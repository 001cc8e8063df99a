//! `presence.v1.contacts_changed` (every replica): these users' contacts
//! changed, so the contacts cached about them are forgotten.
use std::sync::Arc;

use shared::{ids::uuid_from, proto::presence::v1::ContactsChanged};

use super::Ctx;

/// `presence.v1.contacts_changed`.
pub async fn contacts_changed(ctx: Arc<Ctx>, changed: ContactsChanged) -> anyhow::Result<()> {
    for user in changed.user_ids.iter().filter_map(|b| uuid_from(b)) {
        ctx.contacts.forget(user);
    }
    Ok(())
}
