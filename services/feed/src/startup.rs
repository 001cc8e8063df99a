//! Wiring: connections, migrations, one queue subscription per
//! `feed.v1.rpc.<method>`, the timeline repair loop, the ops HTTP server,
//! and the graceful stop (stop taking requests, finish those held, send
//! coalesced updates, drain NATS).
use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use actix_web::dev::Server;
use prost::Message;
use shared::subjects::{FeedMethod, Subjects, queue};
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    config::Settings,
    handlers::{Ctx, follows, posts, reactions, stats},
    live::Live,
    timeline::Timelines,
};

/// Concurrent request handlers per method.
const HANDLER_CONCURRENCY: u32 = 256;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/feed");

/// The running service.
pub struct Application {
    port: u16,
    server: Server,
    ctx: Ctx,
    stop_tx: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    coalescer: JoinHandle<()>,
    grace: Duration,
}

impl Application {
    /// Connects, starts migrations, subscribes and binds the ops listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let nats = shared::nats::connect(&settings.common.nats, "feed").await?;
        let subjects = Subjects::new(&settings.common.nats.subject_prefix);
        let pool =
            shared::db::lazy_pool(&settings.database, "feed", settings.database_max_connections);
        let redis = shared::redis::connect(&settings.redis_url).await?;

        let migrated =
            shared::db::prepare_in_background(&settings.database, &pool, "feed", &MIGRATOR);

        let timelines = Arc::new(Timelines::new(
            redis.clone(),
            pool.clone(),
            &settings.redis_prefix,
            settings.timeline_cap,
        ));
        let (live, coalescer) = Live::start(nats.clone(), subjects.clone());
        let ctx = Ctx {
            pool,
            nats,
            subjects,
            timelines,
            live,
            fanout_max_followers: settings.fanout_max_followers,
        };

        let (stop_tx, stop_rx) = watch::channel(false);
        let s = &stop_rx;
        let workers = vec![
            rpc(&ctx, FeedMethod::CreatePost, s, posts::create_post).await?,
            rpc(&ctx, FeedMethod::DeletePost, s, posts::delete_post).await?,
            rpc(&ctx, FeedMethod::Timeline, s, posts::timeline).await?,
            rpc(&ctx, FeedMethod::UserPosts, s, posts::user_posts).await?,
            rpc(&ctx, FeedMethod::Like, s, reactions::like).await?,
            rpc(&ctx, FeedMethod::Unlike, s, reactions::unlike).await?,
            rpc(&ctx, FeedMethod::Comment, s, reactions::add_comment).await?,
            rpc(&ctx, FeedMethod::Comments, s, reactions::comments).await?,
            rpc(&ctx, FeedMethod::Follow, s, follows::follow).await?,
            rpc(&ctx, FeedMethod::Unfollow, s, follows::unfollow).await?,
            rpc(&ctx, FeedMethod::Followers, s, follows::followers).await?,
            rpc(&ctx, FeedMethod::Following, s, follows::following).await?,
            rpc(&ctx, FeedMethod::TopPosts, s, stats::top_posts).await?,
            rpc(&ctx, FeedMethod::ActiveUsers, s, stats::active_users).await?,
            repair_loop(&ctx, stop_rx.clone()),
        ];

        let readiness = shared::ops::Checks::new(ctx.nats.clone())
            .postgres(ctx.pool.clone(), migrated)
            .redis(redis)
            .build();
        let (server, port) = shared::ops::serve(settings.common.http_addr, readiness)?;
        tracing::info!(port, "feed listening");
        Ok(Self {
            port,
            server,
            ctx,
            stop_tx,
            workers,
            coalescer,
            grace: settings.common.shutdown_grace,
        })
    }

    /// The bound ops port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` completes, then stops taking requests,
    /// finishes those held and drains NATS within the grace period.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let nats = self.ctx.nats.clone();
        let (workers, coalescer, ctx) = (self.workers, self.coalescer, self.ctx);
        let finish = async move {
            for w in workers {
                let _ = w.await;
            }
            // The last handle to the coalescer: it sends what it holds and stops.
            drop(ctx);
            let _ = coalescer.await;
        };
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

fn repair_loop(ctx: &Ctx, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let timelines = ctx.timelines.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => timelines.repair().await,
            }
        }
    })
}

async fn rpc<Req, Rep, F, Fut>(
    ctx: &Ctx,
    method: FeedMethod,
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
        ctx.subjects.feed_rpc(method),
        queue::FEED,
        stop.clone(),
        HANDLER_CONCURRENCY,
        move |req| {
            let work = handler(c.clone(), req);
            async move {
                let started = Instant::now();
                let rep = work.await;
                metrics::histogram!("feed_rpc_seconds", "method" => method.name())
                    .record(started.elapsed().as_secs_f64());
                rep
            }
        },
    )
    .await?)
}
