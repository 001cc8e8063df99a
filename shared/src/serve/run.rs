//! The loops behind every route: one per subscription, ending on `stop`
//! with an unsubscribe, then the work in flight.
use std::{future::Future, sync::Arc, time::Instant};

use async_nats::{Client, HeaderMap, Message};
use futures_util::StreamExt;
use metrics::{Counter, Histogram};
use prost::Message as Proto;
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::{Ordered, Serving};
use crate::nats::REQUEST_ID_HEADER;

/// One subject's metrics, resolved once so that a message only bumps them.
pub(super) struct Metrics {
    requests: Counter,
    errors: Counter,
    seconds: Histogram,
}

impl Metrics {
    pub(super) fn of(subject: &'static str) -> Self {
        Self {
            requests: metrics::counter!("nats_requests_total", "subject" => subject),
            errors: metrics::counter!("nats_request_errors_total", "subject" => subject),
            seconds: metrics::histogram!("nats_request_seconds", "subject" => subject),
        }
    }

    fn done(&self, started: Instant, ok: bool) {
        self.seconds.record(started.elapsed().as_secs_f64());
        if !ok {
            self.errors.increment(1);
        }
    }
}

fn request_id(headers: Option<&HeaderMap>) -> Option<&str> {
    headers.and_then(|h| h.get(REQUEST_ID_HEADER)).map(|v| v.as_str())
}

pub(super) async fn run_spawning<C, F, Fut>(s: Serving<C>, permits: u32, work: F)
where
    C: Send + Sync + 'static,
    F: Fn(&Arc<C>, &Client, Message) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let Serving { ctx, nats, mut sub, mut stop, subject, metrics } = s;
    let semaphore = Arc::new(Semaphore::new(permits as usize));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            next = sub.next() => {
                let Some(msg) = next else { break };
                let Ok(permit) = semaphore.clone().acquire_owned().await else { break };
                metrics.requests.increment(1);
                let request_id = request_id(msg.headers.as_ref()).unwrap_or_default();
                let span = tracing::info_span!("nats.handle", subject, request_id);
                let job = work(&ctx, &nats, msg);
                let metrics = metrics.clone();
                let started = Instant::now();
                tokio::spawn(
                    async move {
                        let ok = job.await;
                        metrics.done(started, ok);
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
        }
    }
    let _ = sub.unsubscribe().await;
    let _ = semaphore.acquire_many(permits).await;
}

pub(super) async fn run_ordered<C, Req, H>(s: Serving<C>, mut handler: H)
where
    C: Send + Sync + 'static,
    Req: Proto + Default,
    H: Ordered<C, Req>,
{
    let Serving { ctx, mut sub, mut stop, subject, metrics, .. } = s;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            next = sub.next() => {
                let Some(msg) = next else { break };
                metrics.requests.increment(1);
                let started = Instant::now();
                let req = match Req::decode(msg.payload) {
                    Ok(req) => req,
                    Err(e) => {
                        tracing::warn!(subject, error = %e, "malformed request");
                        metrics.done(started, false);
                        continue;
                    }
                };
                let work = handler.handle(&ctx, req, msg.reply);
                // Only a message with a request id gets a span: the hot path opens none.
                let flow = match request_id(msg.headers.as_ref()) {
                    Some(request_id) => {
                        work.instrument(tracing::info_span!("nats.handle", subject, request_id))
                            .await
                    }
                    None => work.await,
                };
                metrics.done(started, true);
                if flow.is_break() {
                    break;
                }
            }
        }
    }
    let _ = sub.unsubscribe().await;
}
