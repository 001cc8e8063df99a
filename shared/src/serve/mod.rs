//! The one way a service serves NATS subjects. A service lists its subjects
//! as [`Route`]s, each a constant of [`crate::subjects`] with its handler,
//! and [`serve`] does the rest for every route:
//!
//! - subscribes it (with the deployment's prefix) in the service's queue
//!   group, so replicas share the work, or on every replica
//!   ([`Route::every_replica`]);
//! - decodes the protobuf request; a malformed one is counted as an error,
//!   logged, and answered `invalid_argument` when a reply is expected;
//! - runs the handler and sends its reply, the `oneof result { value,
//!   ErrorReply }` built from the handler's `Result` ([`crate::reply`]);
//! - opens a `nats.handle` span with the subject and the request id of the
//!   `X-Request-Id` header;
//! - keeps per-subject metrics, labelled `subject`: `nats_requests_total`,
//!   `nats_request_errors_total` (malformed requests, error replies,
//!   failed events) and `nats_request_seconds` (time in the handler);
//! - stops gracefully: once `stop` turns true it unsubscribes (no new work)
//!   and waits for the work in flight.
//!
//! Handlers come in three kinds: [`Route::rpc`] (request/reply) and
//! [`Route::event`] (no reply) run each message in a task of its own, at
//! most `permits` at once; [`Route::ordered`] runs inside the subscription
//! loop, one message at a time in arrival order.
use std::{future::Future, ops::ControlFlow, sync::Arc};

use anyhow::Context as _;
use async_nats::{Client, Message, Subject, Subscriber};
use prost::Message as Proto;
use tokio::{sync::watch, task::JoinHandle};

use crate::{nats::respond, proto::common::v1::ErrorReply, reply::Reply, subjects::Subjects};

mod run;

use run::{Metrics, run_ordered, run_spawning};

/// A handler run inside its subscription's loop: each message waits for
/// the one before it, so messages reach it (and whatever it feeds) in
/// arrival order, and it may wait for room downstream (back-pressure)
/// without a task or an allocation per message.
pub trait Ordered<C, Req>: Send + 'static {
    /// Handles one request; `reply` is where its answer goes, if anywhere.
    /// `Break` ends the subscription.
    fn handle(
        &mut self,
        ctx: &C,
        req: Req,
        reply: Option<Subject>,
    ) -> impl Future<Output = ControlFlow<()>> + Send;
}

/// One subject and its handler.
pub struct Route<C> {
    subject: &'static str,
    every_replica: bool,
    start: Box<dyn FnOnce(Serving<C>) -> JoinHandle<()> + Send>,
}

/// What a route's loop runs with.
struct Serving<C> {
    ctx: Arc<C>,
    nats: Client,
    sub: Subscriber,
    stop: watch::Receiver<bool>,
    subject: &'static str,
    metrics: Arc<Metrics>,
}

impl<C: Send + Sync + 'static> Route<C> {
    /// Request/reply: `handler` answers each request with a value or an
    /// error, sent back as the reply `Rep`.
    pub fn rpc<Rep, Req, Fut>(
        subject: &'static str,
        permits: u32,
        handler: impl Fn(Arc<C>, Req) -> Fut + Send + Sync + 'static,
    ) -> Self
    where
        Rep: Reply,
        Req: Proto + Default + Send + 'static,
        Fut: Future<Output = Result<Rep::Value, ErrorReply>> + Send + 'static,
    {
        Self::spawning(subject, permits, move |ctx, nats, msg| {
            let (nats, reply_to) = (nats.clone(), msg.reply);
            let work = Req::decode(msg.payload).map(|req| handler(ctx.clone(), req));
            async move {
                let reply = match work {
                    Ok(work) => Rep::from_result(work.await),
                    Err(e) => {
                        tracing::warn!(error = %e, "malformed request");
                        Rep::from_result(Err(ErrorReply::invalid("", "malformed request")))
                    }
                };
                let ok = !reply.is_error();
                if let Some(to) = reply_to {
                    respond(&nats, to, &reply).await;
                }
                ok
            }
        })
    }

    /// No reply: `handler` acts on each message; a failure is logged here.
    pub fn event<Req, Fut>(
        subject: &'static str,
        permits: u32,
        handler: impl Fn(Arc<C>, Req) -> Fut + Send + Sync + 'static,
    ) -> Self
    where
        Req: Proto + Default + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        Self::spawning(subject, permits, move |ctx, _, msg| {
            let work = Req::decode(msg.payload).map(|req| handler(ctx.clone(), req));
            async move {
                let failed = match work {
                    Ok(work) => work.await.err(),
                    Err(e) => Some(anyhow::Error::new(e).context("malformed event")),
                };
                if let Some(e) = &failed {
                    tracing::warn!(error.cause_chain = ?e, "event not handled");
                }
                failed.is_none()
            }
        })
    }

    /// In arrival order, inside the subscription loop (see [`Ordered`]).
    /// When the loop ends, `handler` is dropped with what it holds.
    pub fn ordered<Req>(subject: &'static str, handler: impl Ordered<C, Req>) -> Self
    where
        Req: Proto + Default + Send + 'static,
    {
        let start = move |s: Serving<C>| tokio::spawn(run_ordered(s, handler));
        Self { subject, every_replica: false, start: Box::new(start) }
    }

    /// Subscribes on every replica (no queue group): each one gets every message.
    pub fn every_replica(mut self) -> Self {
        self.every_replica = true;
        self
    }

    /// A route whose messages each run `work` in a task, at most `permits`
    /// at once; `work` resolves to whether the message was served without error.
    fn spawning<F, Fut>(subject: &'static str, permits: u32, work: F) -> Self
    where
        F: Fn(&Arc<C>, &Client, Message) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        let start = move |s: Serving<C>| tokio::spawn(run_spawning(s, permits.max(1), work));
        Self { subject, every_replica: false, start: Box::new(start) }
    }
}

/// Subscribes every route and starts its loop; returns the loops, which end
/// once `stop` turns true and the work they took is done.
pub async fn serve<C: Send + Sync + 'static>(
    nats: &Client,
    subjects: &Subjects,
    queue: &'static str,
    stop: &watch::Receiver<bool>,
    ctx: C,
    routes: Vec<Route<C>>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    // Metric handles taken before a recorder is installed record nothing.
    #[cfg(feature = "ops")]
    let _ = crate::ops::metrics_handle();
    let ctx = Arc::new(ctx);
    let mut loops = Vec::with_capacity(routes.len());
    for route in routes {
        let subject = subjects.get(route.subject);
        let sub = if route.every_replica {
            nats.subscribe(subject).await
        } else {
            nats.queue_subscribe(subject, queue.to_owned()).await
        }
        .with_context(|| format!("failed to subscribe to {}", route.subject))?;
        loops.push((route.start)(Serving {
            ctx: ctx.clone(),
            nats: nats.clone(),
            sub,
            stop: stop.clone(),
            subject: route.subject,
            metrics: Arc::new(Metrics::of(route.subject)),
        }));
    }
    // The subscriptions are buffered in the client: once the server has
    // them (its answer to a ping), a request sent by anyone finds them, so
    // the service may report ready. Not waited for while NATS is down (the
    // service starts and reports not-ready; the client subscribes on connect).
    let confirmed = tokio::time::timeout(std::time::Duration::from_secs(2), nats.flush()).await;
    if !matches!(confirmed, Ok(Ok(()))) {
        tracing::warn!("could not confirm the subscriptions with the nats server");
    }
    Ok(loops)
}
