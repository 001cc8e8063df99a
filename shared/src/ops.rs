//! Operations endpoints every service serves on `HTTP_ADDR`: `/healthz`
//! (alive), `/readyz` (dependencies reachable: 503 otherwise) and `/metrics`
//! (Prometheus text format).
use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
};

use actix_web::{App, HttpResponse, HttpServer, dev::Server, web};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// A readiness check: resolves to the list of dependencies that are down (empty when ready).
pub type Readiness =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Vec<&'static str>> + Send>> + Send + Sync>;

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once) and returns its handle.
pub fn metrics_handle() -> Option<PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let buckets =
                [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
            PrometheusBuilder::new()
                .set_buckets(&buckets)
                .ok()?
                .install_recorder()
                .map_err(
                    |e| tracing::warn!(error.cause_chain = ?e, "metrics recorder not installed"),
                )
                .ok()
        })
        .clone()
}

/// Registers `/healthz`, `/readyz` and `/metrics` on an actix app.
pub fn configure(cfg: &mut web::ServiceConfig, readiness: Readiness) {
    let metrics = metrics_handle();
    cfg.app_data(web::Data::new(readiness))
        .app_data(web::Data::new(metrics))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(render_metrics));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    let down = (readiness.get_ref())().await;
    if down.is_empty() {
        HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"status": "not ready", "unavailable": down}))
    }
}

async fn render_metrics(handle: web::Data<Option<PrometheusHandle>>) -> HttpResponse {
    match handle.get_ref() {
        Some(h) => HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(h.render()),
        None => HttpResponse::ServiceUnavailable().finish(),
    }
}

/// Binds `addr` and builds the ops-only HTTP server of a backend service
/// (one worker, signals left to the service); returns it with the bound port.
pub fn serve(addr: std::net::SocketAddr, readiness: Readiness) -> anyhow::Result<(Server, u16)> {
    use anyhow::Context;
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("failed to bind HTTP_ADDR {addr}"))?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new().configure(|cfg: &mut web::ServiceConfig| configure(cfg, readiness.clone()))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((server, port))
}

/// Builds a service's readiness check from the dependencies it owns: NATS
/// always, PostgreSQL (reachable and migrated) and Redis when given.
pub struct Checks {
    nats: async_nats::Client,
    #[cfg(feature = "db")]
    postgres: Option<(sqlx::PgPool, Arc<std::sync::atomic::AtomicBool>)>,
    #[cfg(feature = "redis")]
    redis: Option<fred::clients::Client>,
}

impl Checks {
    /// Starts from the NATS connection.
    pub fn new(nats: async_nats::Client) -> Self {
        Self {
            nats,
            #[cfg(feature = "db")]
            postgres: None,
            #[cfg(feature = "redis")]
            redis: None,
        }
    }

    /// Adds PostgreSQL: ready once `migrated` is set and a ping answers.
    #[cfg(feature = "db")]
    pub fn postgres(
        mut self,
        pool: sqlx::PgPool,
        migrated: Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        self.postgres = Some((pool, migrated));
        self
    }

    /// Adds Redis: ready while a PING answers.
    #[cfg(feature = "redis")]
    pub fn redis(mut self, client: fred::clients::Client) -> Self {
        self.redis = Some(client);
        self
    }

    /// The readiness closure for [`configure`] / [`serve`].
    pub fn build(self) -> Readiness {
        let checks = Arc::new(self);
        Arc::new(move || {
            let checks = checks.clone();
            Box::pin(async move {
                let mut down = Vec::new();
                if !crate::nats::is_connected(&checks.nats) {
                    down.push("nats");
                }
                #[cfg(feature = "db")]
                if let Some((pool, migrated)) = &checks.postgres
                    && (!migrated.load(std::sync::atomic::Ordering::Acquire)
                        || !crate::db::ping(pool).await)
                {
                    down.push("postgresql");
                }
                #[cfg(feature = "redis")]
                if let Some(redis) = &checks.redis
                    && !crate::redis::ping(redis).await
                {
                    down.push("redis");
                }
                down
            })
        })
    }
}

/// How long each last step of a stop (draining NATS, closing the ops
/// server) may take: a dependency that is gone must not hold the process.
pub const STOP_STEP: std::time::Duration = std::time::Duration::from_secs(2);

/// The graceful stop every backend service shares: serve until `shutdown`
/// completes (or the ops server dies), then tell the workers to stop taking
/// work (`stop`), let `finish` complete what they hold within `grace`, drain
/// NATS, and stop the ops server, each last step bounded by [`STOP_STEP`].
pub async fn run_until_stopped(
    server: Server,
    shutdown: impl Future<Output = ()>,
    stop: tokio::sync::watch::Sender<bool>,
    grace: std::time::Duration,
    nats: async_nats::Client,
    finish: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let handle = server.handle();
    let mut server = tokio::spawn(server);
    tokio::select! {
        finished = &mut server => return Ok(finished??),
        () = shutdown => tracing::info!("shutting down: no new work, finishing what is held"),
    }
    let _ = stop.send(true);
    if tokio::time::timeout(grace, finish).await.is_err() {
        tracing::warn!("grace period over; stopping with work in flight");
    }
    bounded("drain nats", async {
        if let Err(e) = nats.drain().await {
            tracing::warn!(error.cause_chain = ?e, "failed to drain nats");
        }
    })
    .await;
    if !bounded("stop the ops server", handle.stop(true)).await {
        bounded("force the ops server down", handle.stop(false)).await;
    }
    server.abort();
    Ok(())
}

/// Runs one step of a stop for at most [`STOP_STEP`]; false when it overran.
pub async fn bounded(step: &'static str, work: impl Future<Output = ()>) -> bool {
    let done = tokio::time::timeout(STOP_STEP, work).await.is_ok();
    if !done {
        tracing::warn!(step, "stop step overran; going on");
    }
    done
}
