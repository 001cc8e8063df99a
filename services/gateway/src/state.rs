//! What every handler shares.
use std::{num::NonZeroU32, sync::Arc};

use async_nats::Client;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use prost::Message;
use shared::{auth::JwtVerifier, subjects::Subjects};
use tokio::sync::watch;
use uuid::Uuid;

use crate::{config::Settings, cursors::Cursors, error::ApiError, registry::Registry};

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
    /// Stream positions written here, waiting to be reported.
    pub cursors: Cursors,
    /// Per-user frame rate limiter (shared by a user's connections here).
    pub limiter: DefaultKeyedRateLimiter<Uuid>,
    /// Per-user REST request rate limiter.
    pub api_limiter: DefaultKeyedRateLimiter<Uuid>,
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
        Arc::new(Self {
            api_limiter: RateLimiter::keyed(Quota::per_second(api_per_sec).allow_burst(api_burst)),
            registry: Arc::new(Registry::new(settings.outbound_queue)),
            cursors: Cursors::default(),
            limiter: RateLimiter::keyed(Quota::per_second(per_sec).allow_burst(burst)),
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
