//! Wiring: connections, migrations, the subjects of
//! [`crate::handlers::routes`] served with [`shared::serve`], the group
//! committer, the ops HTTP server, and the graceful stop (stop taking work,
//! finish what is held, drain NATS).
use std::{
    future::Future,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use actix_web::dev::Server;
use shared::subjects::{Subjects, queue};
use sqlx::{PgPool, postgres::PgConnectOptions};
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};

use crate::{
    config::Settings,
    delivery::{self, Delivery},
    handlers::{self, Ctx, commit},
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/chat_persistence");

/// The connection options of the service's pool: "durable before
/// acknowledged" must not rest on a server or database default an operator
/// can change, so every connection asks for synchronous commits.
pub fn durable(options: &PgConnectOptions) -> PgConnectOptions {
    options.clone().options([("synchronous_commit", "on")])
}

/// The running service.
pub struct Application {
    port: u16,
    server: Server,
    ctx: Ctx,
    stop_tx: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    committer: JoinHandle<()>,
    grace: Duration,
}

impl Application {
    /// Connects, starts migrations, subscribes and binds the ops listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let nats = shared::nats::connect(&settings.common.nats, "chat-persistence").await?;
        let subjects = Subjects::new(&settings.common.nats.subject_prefix);
        let pool = shared::db::lazy_pool(
            &durable(&settings.database),
            "chat",
            settings.database_max_connections,
        );
        let migrated =
            shared::db::prepare_in_background(&settings.database, &pool, "chat", &MIGRATOR);
        let delivery = Delivery::new(nats.clone(), subjects.clone());
        let ctx = Ctx { pool, nats, keys: Arc::new(settings.keys), delivery };

        {
            // A replica that died between a commit and its publish left recent
            // messages unoffered: offer them once the schema is ready.
            let (ctx, migrated) = (ctx.clone(), migrated.clone());
            tokio::spawn(async move {
                while !migrated.load(Ordering::Acquire) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                delivery::offer_recent(&ctx).await;
            });
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let (send_tx, send_rx) = mpsc::channel(settings.batch_max);
        let committer = tokio::spawn(commit::run_committer(
            ctx.clone(),
            send_rx,
            settings.batch_max,
            settings.batch_wait,
        ));
        let routes = handlers::routes(send_tx);
        let mut workers =
            shared::serve::serve(&ctx.nats, &subjects, queue::CHAT, &stop_rx, ctx.clone(), routes)
                .await?;
        workers.push(pending_gauge(ctx.pool.clone(), stop_rx.clone()));

        let readiness =
            shared::ops::Checks::new(ctx.nats.clone()).postgres(ctx.pool.clone(), migrated).build();
        let (server, port) = shared::ops::serve(settings.common.http_addr, readiness)?;
        tracing::info!(port, "chat-persistence listening");
        Ok(Self {
            port,
            server,
            ctx,
            stop_tx,
            workers,
            committer,
            grace: settings.common.shutdown_grace,
        })
    }

    /// The bound ops port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` completes, then stops taking work, commits what
    /// it holds, and drains NATS within the grace period.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (workers, committer) = (self.workers, self.committer);
        let finish = async move {
            for w in workers {
                let _ = w.await;
            }
            let _ = committer.await;
            // Let the router offer what was just committed before the connection drains.
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let nats = self.ctx.nats.clone();
        shared::ops::run_until_stopped(
            self.server,
            shutdown,
            self.stop_tx,
            self.grace,
            nats,
            finish,
        )
        .await
    }
}

/// Every 15 s, sets the `chat_pending_messages` gauge (messages not
/// delivered yet, across users) until `stop`.
fn pending_gauge(pool: PgPool, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(15));
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => {
                    if let Ok(n) = crate::repository::stream::pending_total(&pool).await {
                        metrics::gauge!("chat_pending_messages").set(n as f64);
                    }
                }
            }
        }
    })
}
