//! Who hears about whom. A user's status goes to their *audience*: the
//! people they exchanged messages with (chat-persistence) and the people who
//! follow them (feed). On connect a user gets the status of the people they
//! *watch*: their chat partners and the people they follow — exactly those
//! whose later changes will reach them.
//!
//! The three lists are asked for over NATS and cached per replica for
//! [`CACHE_TTL`] (a failed or partial answer for [`RETRY_TTL`], so a service
//! that is down is asked again soon but never once per event). The cache is
//! bounded, and so is every list ([`MAX_CONTACTS`]). A fresh list also fills
//! in the mirror lists already cached (B in A's partners puts A in B's; B in
//! A's followers puts A in B's following), so a new contact shows up on both
//! sides as soon as either side is looked up again.
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_nats::Client;
use shared::{
    ids::{uuid_bytes, uuid_from},
    proto::{
        chat::v1::{ContactsReply, ContactsRequest},
        feed::v1::{PageRequest, UsersReply},
    },
    reply::Reply,
    subjects::{self, FeedMethod, Subjects},
};
use uuid::Uuid;

/// How long a complete list is trusted.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// How long a failed or partial list is used before asking again.
pub const RETRY_TTL: Duration = Duration::from_secs(3);
/// Longest list kept per user and kind (a bigger audience is cut here).
pub const MAX_CONTACTS: usize = 5000;
/// Most cached lists per replica.
const MAX_ENTRIES: usize = 100_000;
/// Page size of the feed's followers/following methods.
const PAGE: u32 = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Partners,
    Followers,
    Following,
}

type Ids = Arc<HashSet<Uuid>>;

struct Entry {
    expires: Instant,
    ids: Ids,
}

/// The contact lookups and their cache.
pub struct Contacts {
    nats: Client,
    subjects: Subjects,
    cache: Mutex<HashMap<(Kind, Uuid), Entry>>,
}

impl Contacts {
    /// Creates an empty cache over a NATS connection.
    pub fn new(nats: Client, subjects: Subjects) -> Self {
        Self { nats, subjects, cache: Mutex::new(HashMap::new()) }
    }

    /// Returns who is told about `user`'s status: chat partners and followers.
    pub async fn audience(&self, user: Uuid) -> Vec<Uuid> {
        let partners = self.list(Kind::Partners, user).await;
        let followers = self.list(Kind::Followers, user).await;
        union(user, &partners, &followers)
    }

    /// Returns whose status `user` is told: chat partners and followees.
    pub async fn watched(&self, user: Uuid) -> Vec<Uuid> {
        let partners = self.list(Kind::Partners, user).await;
        let following = self.list(Kind::Following, user).await;
        union(user, &partners, &following)
    }

    /// Drops what is cached about `user` (for when their contacts changed).
    pub fn forget(&self, user: Uuid) {
        if let Ok(mut cache) = self.cache.lock() {
            for kind in [Kind::Partners, Kind::Followers, Kind::Following] {
                cache.remove(&(kind, user));
            }
        }
    }

    async fn list(&self, kind: Kind, user: Uuid) -> Ids {
        let now = Instant::now();
        if let Ok(cache) = self.cache.lock()
            && let Some(e) = cache.get(&(kind, user))
            && e.expires > now
        {
            return e.ids.clone();
        }
        let (ids, complete) = match kind {
            Kind::Partners => self.partners(user).await,
            Kind::Followers => self.feed_page_all(FeedMethod::Followers, user).await,
            Kind::Following => self.feed_page_all(FeedMethod::Following, user).await,
        };
        metrics::counter!("presence_contact_lookups_total").increment(1);
        let ids: Ids = Arc::new(ids);
        let ttl = if complete { CACHE_TTL } else { RETRY_TTL };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_ENTRIES {
                cache.retain(|_, e| e.expires > now);
                if cache.len() >= MAX_ENTRIES {
                    cache.clear();
                }
            }
            if complete {
                learn(&mut cache, kind, user, &ids);
            }
            cache.insert((kind, user), Entry { expires: now + ttl, ids: ids.clone() });
        }
        ids
    }

    async fn partners(&self, user: Uuid) -> (HashSet<Uuid>, bool) {
        let req = ContactsRequest { user_id: uuid_bytes(user) };
        let subject = self.subjects.get(subjects::CHAT_CONTACTS);
        let reply = shared::nats::request::<_, ContactsReply>(&self.nats, subject, &req).await;
        match reply.map(Reply::into_result) {
            Ok(Ok(list)) => {
                let ids: HashSet<Uuid> =
                    list.user_ids.iter().filter_map(|b| uuid_from(b)).take(MAX_CONTACTS).collect();
                (ids, true)
            }
            Ok(Err(e)) => {
                tracing::warn!(code = e.code, message = %e.message, "chat contacts failed");
                (HashSet::new(), false)
            }
            Err(e) => {
                tracing::debug!(error = %e, "chat contacts unavailable");
                (HashSet::new(), false)
            }
        }
    }

    /// Reads every page of a feed user list, up to [`MAX_CONTACTS`]; the flag
    /// says whether the answer is complete (feed may not be deployed).
    async fn feed_page_all(&self, method: FeedMethod, user: Uuid) -> (HashSet<Uuid>, bool) {
        let mut ids = HashSet::new();
        let mut offset = 0u32;
        while ids.len() < MAX_CONTACTS {
            let req = PageRequest {
                user_id: uuid_bytes(user),
                limit: PAGE,
                offset,
                caller_id: uuid_bytes(user),
            };
            let subject = self.subjects.feed_rpc(method);
            let reply = shared::nats::request::<_, UsersReply>(&self.nats, subject, &req).await;
            let page = match reply.map(Reply::into_result) {
                Ok(Ok(list)) => list.user_ids,
                Ok(Err(e)) => {
                    let subject = method.subject();
                    tracing::warn!(subject, code = e.code, message = %e.message, "feed list failed");
                    return (ids, false);
                }
                Err(e) => {
                    let subject = method.subject();
                    tracing::debug!(subject, error = %e, "feed list unavailable");
                    return (ids, false);
                }
            };
            let got = page.len();
            ids.extend(page.iter().filter_map(|b| uuid_from(b)));
            if got < PAGE as usize {
                return (ids, true);
            }
            offset = offset.saturating_add(PAGE);
        }
        (ids, true)
    }
}

/// Adds `user` to the cached mirror lists of everyone in its fresh list.
fn learn(cache: &mut HashMap<(Kind, Uuid), Entry>, kind: Kind, user: Uuid, ids: &HashSet<Uuid>) {
    let mirror = match kind {
        Kind::Partners => Kind::Partners,
        Kind::Followers => Kind::Following,
        Kind::Following => Kind::Followers,
    };
    for other in ids {
        if let Some(e) = cache.get_mut(&(mirror, *other))
            && !e.ids.contains(&user)
            && e.ids.len() < MAX_CONTACTS
        {
            Arc::make_mut(&mut e.ids).insert(user);
        }
    }
}

fn union(user: Uuid, a: &HashSet<Uuid>, b: &HashSet<Uuid>) -> Vec<Uuid> {
    a.union(b).copied().filter(|u| *u != user).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ids: &[Uuid]) -> Entry {
        Entry { expires: Instant::now() + CACHE_TTL, ids: Arc::new(ids.iter().copied().collect()) }
    }

    #[test]
    fn a_fresh_list_fills_in_the_cached_mirror_lists() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut cache = HashMap::new();
        cache.insert((Kind::Partners, b), entry(&[]));
        cache.insert((Kind::Following, c), entry(&[]));
        learn(&mut cache, Kind::Partners, a, &[b].into_iter().collect());
        learn(&mut cache, Kind::Followers, a, &[c].into_iter().collect());
        assert!(cache[&(Kind::Partners, b)].ids.contains(&a));
        assert!(cache[&(Kind::Following, c)].ids.contains(&a));
        assert!(!cache.contains_key(&(Kind::Partners, c)), "nothing is cached that was not");
    }

    #[test]
    fn union_leaves_the_user_out() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let set: HashSet<Uuid> = [a, b].into_iter().collect();
        assert_eq!(union(a, &set, &HashSet::new()), vec![b]);
    }
}
