//! Wiring: connections, migrations, subscriptions, the ops HTTP server, and
//! the graceful stop (stop taking work, finish what is held, drain NATS).
use std::{
    future::Future,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use actix_web::dev::Server;
use futures_util::StreamExt;
use prost::Message;
use shared::subjects::{self, Subjects, queue};
use sqlx::postgres::PgConnectOptions;
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};

use crate::{
    config::Settings,
    delivery::Delivery,
    handlers::{Ctx, commit, queries, read, send, stream},
};

/// Concurrent request handlers per subject.
const HANDLER_CONCURRENCY: u32 = 256;

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
        let ctx = Ctx { pool, nats, subjects, keys: Arc::new(settings.keys), delivery };

        {
            // A replica that died between a commit and its publish left recent
            // messages unoffered: offer them once the schema is ready.
            let (ctx, migrated) = (ctx.clone(), migrated.clone());
            tokio::spawn(async move {
                while !migrated.load(Ordering::Acquire) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                queries::offer_recent(&ctx).await;
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
        let mut workers = vec![serve_sends(&ctx, send_tx, stop_rx.clone()).await?];
        workers.push(rpc(&ctx, subjects::CHAT_HISTORY, &stop_rx, queries::history).await?);
        workers.push(rpc(&ctx, subjects::CHAT_SYNC, &stop_rx, stream::sync).await?);
        workers
            .push(rpc(&ctx, subjects::CHAT_PENDING_COUNT, &stop_rx, queries::pending_count).await?);
        workers.push(rpc(&ctx, subjects::CHAT_READ, &stop_rx, read::read).await?);
        workers
            .push(rpc(&ctx, subjects::CHAT_CONVERSATIONS, &stop_rx, queries::conversations).await?);
        workers.push(rpc(&ctx, subjects::CHAT_CONTACTS, &stop_rx, queries::contacts).await?);
        let pool = ctx.pool.clone();
        workers.push(
            shared::nats::serve_queue(
                &ctx.nats,
                ctx.subjects.get(subjects::CHAT_DELIVERED),
                queue::CHAT,
                stop_rx.clone(),
                16,
                move |msg| {
                    let pool = pool.clone();
                    async move { crate::delivery::cursors(&pool, msg.payload).await }
                },
            )
            .await?,
        );
        {
            let mut stop = stop_rx.clone();
            let pool = ctx.pool.clone();
            workers.push(tokio::spawn(async move {
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
            }));
        }

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

async fn serve_sends(
    ctx: &Ctx,
    tx: mpsc::Sender<send::QueuedBatch>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let mut sub =
        ctx.nats.queue_subscribe(ctx.subjects.get(subjects::CHAT_SEND), queue::CHAT.into()).await?;
    let ctx = ctx.clone();
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                next = sub.next() => {
                    let Some(msg) = next else { break };
                    metrics::counter!("chat_sends_received_total").increment(1);
                    let Some(batch) = send::prepare(&ctx, msg) else { continue };
                    if batch.is_settled() {
                        send::answer_now(&ctx, batch).await;
                    } else if tx.send(batch).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = sub.unsubscribe().await;
        // Batches already received are still in the channel: dropping `tx`
        // lets the committer finish them and stop.
    }))
}

async fn rpc<Req, Rep, F, Fut>(
    ctx: &Ctx,
    subject: &str,
    stop: &watch::Receiver<bool>,
    handler: F,
) -> anyhow::Result<JoinHandle<()>>
where
    Req: Message + Default + Send + 'static,
    Rep: Message + Send + 'static,
    F: Fn(Ctx, Req) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Rep> + Send + 'static,
{
    let c = ctx.clone();
    Ok(shared::nats::serve_rpc(
        &ctx.nats,
        ctx.subjects.get(subject),
        queue::CHAT,
        stop.clone(),
        HANDLER_CONCURRENCY,
        move |req| handler(c.clone(), req),
    )
    .await?)
}
