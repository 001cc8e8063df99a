//! What every handler shares.
use std::{num::NonZeroU32, sync::Arc};

use async_nats::Client;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use prost::Message;
use shared::{auth::JwtVerifier, subjects::Subjects};
use tokio::sync::watch;
use uuid::Uuid;

use crate::{
    config::{ActionRates, Rate, Settings},
    cursors::Cursors,
    error::ApiError,
    registry::Registry,
};

/// One keyed limiter per action.
pub struct ActionLimiters {
    /// `private_message` frames.
    pub sends: DefaultKeyedRateLimiter<Uuid>,
    /// `typing` frames.
    pub typing: DefaultKeyedRateLimiter<Uuid>,
    /// `read_receipt` frames.
    pub receipts: DefaultKeyedRateLimiter<Uuid>,
    /// `sync` frames.
    pub syncs: DefaultKeyedRateLimiter<Uuid>,
    /// REST requests other than GET.
    pub api_writes: DefaultKeyedRateLimiter<Uuid>,
}

/// A keyed limiter for a rate (a zero rate counts as 1 per second).
pub fn limiter(rate: Rate) -> DefaultKeyedRateLimiter<Uuid> {
    let per_sec = NonZeroU32::new(rate.per_sec).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rate.burst).unwrap_or(per_sec);
    RateLimiter::keyed(Quota::per_second(per_sec).allow_burst(burst))
}

impl ActionLimiters {
    fn new(rates: &ActionRates) -> Self {
        Self {
            sends: limiter(rates.sends),
            typing: limiter(rates.typing),
            receipts: limiter(rates.receipts),
            syncs: limiter(rates.syncs),
            api_writes: limiter(rates.api_writes),
        }
    }

    /// Every limiter (for pruning).
    pub fn all(&self) -> [&DefaultKeyedRateLimiter<Uuid>; 5] {
        [&self.sends, &self.typing, &self.receipts, &self.syncs, &self.api_writes]
    }
}

/// Shared state of the gateway.
pub struct AppState {
    /// The NATS connection.
    pub nats: Client,
    /// Subject names with the deployment's prefix.
    pub subjects: Subjects,
    /// Verifies tokens.
    pub verifier: JwtVerifier,
    /// Connections held by this instance.
    pub registry: Arc<Registry>,
    /// The users' delivery subscriptions on the gateway's own NATS
    /// connection (plain `nats://` URLs); `None`: through async-nats.
    pub mux: Option<crate::mux::DeliveryMux>,
    /// Stream positions written here, waiting to be reported.
    pub cursors: Cursors,
    /// Per-user frame rate limiter (shared by a user's connections here).
    pub limiter: DefaultKeyedRateLimiter<Uuid>,
    /// Per-user REST request rate limiter.
    pub api_limiter: DefaultKeyedRateLimiter<Uuid>,
    /// Per-user limiters of each action (sends, typing, receipts, syncs, REST writes).
    pub actions: ActionLimiters,
    /// Flips to true when the gateway starts draining.
    pub draining: watch::Receiver<bool>,
    /// Settings.
    pub settings: Settings,
}

impl AppState {
    /// Builds the state.
    pub fn new(nats: Client, settings: Settings, draining: watch::Receiver<bool>) -> Arc<Self> {
        let subjects = Subjects::new(&settings.common.nats.subject_prefix);
        let per_sec = NonZeroU32::new(settings.rate_per_sec).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.rate_burst).unwrap_or(per_sec);
        let api_per_sec = NonZeroU32::new(settings.api_rate_per_sec).unwrap_or(NonZeroU32::MIN);
        let api_burst = NonZeroU32::new(settings.api_rate_burst).unwrap_or(api_per_sec);
        let registry = Arc::new(Registry::new(settings.outbound_queue));
        let nats_settings = &settings.common.nats;
        let mux = crate::mux::plain_addresses(
            &nats_settings.url,
            nats_settings.require_tls,
            nats_settings.creds_file.is_some(),
        )
        .map(|addresses| {
            crate::mux::DeliveryMux::start(
                addresses,
                format!("gateway-{}", settings.gateway_id),
                registry.clone(),
            )
        });
        Arc::new(Self {
            api_limiter: RateLimiter::keyed(Quota::per_second(api_per_sec).allow_burst(api_burst)),
            registry,
            mux,
            cursors: Cursors::default(),
            limiter: RateLimiter::keyed(Quota::per_second(per_sec).allow_burst(burst)),
            actions: ActionLimiters::new(&settings.actions),
            verifier: settings.verifier.clone(),
            nats,
            subjects,
            draining,
            settings,
        })
    }

    /// Sends a protobuf request to a backend subject (prefix applied) and decodes the reply.
    pub async fn rpc<Req: Message, Rep: Message + Default>(
        &self,
        base: &str,
        req: &Req,
    ) -> Result<Rep, ApiError> {
        Ok(shared::nats::request(&self.nats, self.subjects.get(base), req).await?)
    }

    /// Sends a protobuf request to a feed method (`feed.v1.rpc.<method>`).
    pub async fn feed_rpc<Req: Message, Rep: Message + Default>(
        &self,
        method: shared::subjects::FeedMethod,
        req: &Req,
    ) -> Result<Rep, ApiError> {
        Ok(shared::nats::request(&self.nats, self.subjects.feed_rpc(method), req).await?)
    }
}
