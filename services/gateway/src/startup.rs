//! Wiring: NATS, state, routes, the heartbeat to presence, and the drain on
//! SIGTERM (refuse new connections, report not-ready, finish in-flight sends,
//! close every WebSocket with 1012 so clients reconnect elsewhere).
use std::{future::Future, sync::Arc, time::Duration};

use actix_web::{App, HttpResponse, HttpServer, dev::Server, web};
use anyhow::Context;
use tokio::sync::watch;

use crate::{config::Settings, rest, state::AppState, ws};

/// Serves a request with its id (the client's `x-request-id` when sane, else
/// a fresh one): echoed in the response, and copied by every NATS request
/// made on its behalf, so backends log the same id.
fn with_request_id<S>(
    req: actix_web::dev::ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<actix_web::dev::ServiceResponse, actix_web::Error>> + use<S>
where
    S: actix_web::dev::Service<
            actix_web::dev::ServiceRequest,
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
        >,
{
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let echo = actix_web::http::header::HeaderValue::from_str(&id).ok();
    let call = srv.call(req);
    shared::nats::REQUEST_ID.scope(id, async move {
        let mut res = call.await?;
        if let Some(v) = echo {
            res.headers_mut()
                .insert(actix_web::http::header::HeaderName::from_static("x-request-id"), v);
        }
        Ok(res)
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
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("failed to bind HTTP_ADDR {addr}"))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .wrap_fn(crate::web::cors)
                .wrap_fn(with_request_id)
                .app_data(data.clone())
                .app_data(web::JsonConfig::default().limit(shared::limits::REST_BODY_MAX_BYTES).error_handler(|err, _| {
                    let status = match &err {
                        actix_web::error::JsonPayloadError::Overflow { .. }
                        | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => {
                            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
                        }
                        _ => actix_web::http::StatusCode::BAD_REQUEST,
                    };
                    let code = if status.as_u16() == 413 { "too_large" } else { "invalid_json" };
                    let body = serde_json::json!({"error": format!("invalid JSON body: {err}"), "code": code, "field": "body"});
                    actix_web::error::InternalError::from_response(err, HttpResponse::build(status).json(body)).into()
                }))
                .app_data(web::QueryConfig::default().error_handler(|err, _| {
                    let body = serde_json::json!({"error": format!("invalid query: {err}"), "code": "invalid_argument", "field": "query"});
                    actix_web::error::InternalError::from_response(err, HttpResponse::BadRequest().json(body)).into()
                }))
                .app_data(web::PathConfig::default().error_handler(|err, _| {
                    let body = serde_json::json!({"error": format!("invalid path: {err}"), "code": "invalid_argument", "field": "path"});
                    actix_web::error::InternalError::from_response(err, HttpResponse::BadRequest().json(body)).into()
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
                .default_service(web::to(rest::openapi::unrouted))
        })
        .disable_signals()
        .tcp_nodelay(true)
        .shutdown_timeout(grace.as_secs().max(1))
        .listen(listener)?
        .run();
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
