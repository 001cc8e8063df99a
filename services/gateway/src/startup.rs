//! Wiring: NATS, state, routes, the heartbeat to presence, and the drain on
//! SIGTERM (refuse new connections, report not-ready, finish in-flight sends,
//! close every WebSocket with 1012 so clients reconnect elsewhere).
use std::{future::Future, sync::Arc, time::Duration};

use actix_web::{App, dev::Server, error::JsonPayloadError, web};
use anyhow::Context;
use shared::limits::REST_BODY_MAX_BYTES;
use tokio::sync::watch;
use tracing_actix_web::TracingLogger;

use crate::{config::Settings, error::ApiError, observe, rest, state::AppState, ws};

/// JSON bodies up to [`REST_BODY_MAX_BYTES`]: a larger one is 413
/// `too_large`, one that is not JSON 400 `invalid_json`.
fn body_errors() -> web::JsonConfig {
    web::JsonConfig::default().limit(REST_BODY_MAX_BYTES).error_handler(|err, _| {
        let too_large = matches!(
            err,
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. }
        );
        ApiError::Body { too_large, message: format!("invalid JSON body: {err}") }.into()
    })
}

/// Every route: operations (`/healthz`, `/readyz`, `/metrics`), the
/// WebSocket, and the REST API (whose routes are all in its OpenAPI document).
pub fn routes(cfg: &mut web::ServiceConfig, readiness: shared::ops::Readiness) {
    shared::ops::configure(cfg, readiness);
    cfg.route("/ws/chat/{user_id}", web::get().to(ws::handshake));
    rest::configure(cfg);
    crate::web::configure(cfg);
}

/// The running gateway.
pub struct Application {
    port: u16,
    server: Server,
    state: Arc<AppState>,
    draining: watch::Sender<bool>,
    connected: watch::Receiver<u64>,
}

impl Application {
    /// Connects to NATS, builds the routes and binds `HTTP_ADDR`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let (nats, connected) =
            shared::nats::connect_observed(&settings.common.nats, "gateway").await?;
        let (draining_tx, draining_rx) = watch::channel(false);
        let addr = settings.common.http_addr;
        let grace = settings.common.shutdown_grace;
        let state = AppState::new(nats, settings, draining_rx);
        let readiness: shared::ops::Readiness = {
            let state = state.clone();
            Arc::new(move || {
                let state = state.clone();
                Box::pin(async move {
                    let mut down = Vec::new();
                    if *state.draining.borrow() {
                        down.push("draining");
                    }
                    if !shared::nats::is_connected(&state.nats) {
                        down.push("nats");
                    }
                    down
                })
            })
        };
        let data = web::Data::from(state.clone());
        let dev_mode = state.settings.dev_tokens.is_some();
        let listener = crate::server::bind(addr)
            .with_context(|| format!("failed to bind HTTP_ADDR {addr}"))?;
        let port = listener.local_addr()?.port();
        let server = crate::server::serve(listener, grace, state.clone(), move || {
            App::new()
                .wrap_fn(crate::web::cors)
                .wrap_fn(observe::observe)
                .wrap(TracingLogger::<observe::RootSpan>::new())
                .app_data(data.clone())
                .app_data(body_errors())
                .app_data(web::QueryConfig::default().error_handler(|err, _| {
                    ApiError::invalid("query", format!("invalid query: {err}")).into()
                }))
                .app_data(web::PathConfig::default().error_handler(|err, _| {
                    ApiError::invalid("path", format!("invalid path: {err}")).into()
                }))
                .configure({
                    let readiness = readiness.clone();
                    move |cfg| routes(cfg, readiness)
                })
                .configure(|cfg| {
                    if dev_mode {
                        rest::dev::configure(cfg);
                    }
                })
                .default_service(web::to(rest::unrouted::unrouted))
        })?;
        tracing::info!(port, gateway_id = %state.settings.gateway_id, "gateway listening");
        Ok(Self { port, server, state, draining: draining_tx, connected })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` completes, then drains: every step is
    /// bounded, so the gateway stops within `SHUTDOWN_GRACE_SECS` and a few
    /// seconds whatever state NATS and its clients are in.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        use shared::ops::bounded;
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        let background = [
            tokio::spawn(crate::presence::run_heartbeat(self.state.clone())),
            tokio::spawn(crate::cursors::run(self.state.clone())),
            tokio::spawn(watch_reconnects(self.state.clone(), self.connected)),
            tokio::spawn(prune_limiters(self.state.clone())),
        ];
        tokio::select! {
            finished = &mut server => {
                background.iter().for_each(|t| t.abort());
                return Ok(finished??);
            }
            () = shutdown => tracing::info!("draining: refusing new connections, closing with 1012"),
        }
        let _ = self.draining.send(true);
        let grace = self.state.settings.common.shutdown_grace;
        let drained = async {
            while self.state.registry.connection_count() > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        if tokio::time::timeout(grace, drained).await.is_err() {
            tracing::warn!(left = self.state.registry.connection_count(), "grace period over");
        }
        background.iter().for_each(|t| t.abort());
        // The last cursors, and a last heartbeat with no users so presence
        // marks them offline at once.
        bounded("report cursors", crate::cursors::flush(&self.state)).await;
        let beat = crate::presence::heartbeat(&self.state);
        let subject = self.state.subjects.get(shared::subjects::PRESENCE_HEARTBEAT);
        bounded("last heartbeat", shared::nats::publish(&self.state.nats, subject, &beat)).await;
        if !bounded("stop the http server", handle.stop(true)).await {
            bounded("force the http server down", handle.stop(false)).await;
        }
        server.abort();
        bounded("drain nats", async {
            if let Err(e) = self.state.nats.drain().await {
                tracing::warn!(error.cause_chain = ?e, "failed to drain nats");
            }
        })
        .await;
        Ok(())
    }
}

/// How often the rate limiters forget users who are back at a full bucket.
const LIMITER_PRUNE: Duration = Duration::from_secs(60);

/// Keeps the per-user rate limiters bounded by the users active lately:
/// a key whose bucket is full again carries no state worth keeping.
async fn prune_limiters(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(LIMITER_PRUNE);
    loop {
        tick.tick().await;
        let budgets = [&state.limiter, &state.api_limiter];
        for limiter in budgets.into_iter().chain(state.actions.all()) {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        metrics::gauge!("gateway_rate_limiter_keys").set(state.limiter.len() as f64);
    }
}

/// After NATS reconnects (or dropped messages for a slow subscription),
/// every connection fetches what it may have missed from its stream.
async fn watch_reconnects(state: Arc<AppState>, mut connected: watch::Receiver<u64>) {
    while connected.changed().await.is_ok() {
        if *connected.borrow_and_update() > 1 {
            tracing::info!("nats events may be lost: connections catch up from their streams");
            state.registry.lag_all();
        }
    }
}
