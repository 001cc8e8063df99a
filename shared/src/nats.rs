//! NATS connection and the request helper every caller uses: protobuf in and
//! out, and no-responders or a timeout turned into an `unavailable` error
//! instead of a hang. Serving subjects is [`crate::serve`].
use std::time::Duration;

use async_nats::{Client, ConnectOptions, RequestErrorKind};
use bytes::Bytes;
use prost::Message;

use crate::config::NatsSettings;

/// The NATS header carrying the id of the client request that caused a message.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

tokio::task_local! {
    /// The id of the client request being served (set by the gateway per
    /// HTTP request); [`request`] copies it into the `X-Request-Id` header.
    pub static REQUEST_ID: String;
}

/// Why a request over NATS did not produce a decoded reply.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Nobody answered in time, or nobody listens: retry later.
    #[error("service unavailable: {0}")]
    Unavailable(&'static str),
    /// The reply could not be decoded.
    #[error("malformed reply")]
    Decode(#[from] prost::DecodeError),
}

/// Connects to NATS with the deployment's options. Retries in the background
/// when the server is down at start, so the service starts and reports not-ready.
pub async fn connect(settings: &NatsSettings, name: &str) -> anyhow::Result<Client> {
    Ok(connect_observed(settings, name).await?.0)
}

/// [`connect`], and a counter of the events after which this client may have
/// missed messages: each (re)connection (core NATS drops what is published
/// to a client while it is away; the first connection counts 1) and each
/// slow-consumer drop. A subscriber that cares watches it and fetches what
/// it may have missed.
pub async fn connect_observed(
    settings: &NatsSettings,
    name: &str,
) -> anyhow::Result<(Client, tokio::sync::watch::Receiver<u64>)> {
    let (connected_tx, connected_rx) = tokio::sync::watch::channel(0u64);
    let connected_tx = std::sync::Arc::new(connected_tx);
    let mut options = ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(3))
        .request_timeout(Some(settings.request_timeout))
        .event_callback(move |event| {
            let connected_tx = connected_tx.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        tracing::info!("nats connected");
                        connected_tx.send_modify(|n| *n += 1);
                    }
                    async_nats::Event::Disconnected => tracing::warn!("nats disconnected"),
                    async_nats::Event::SlowConsumer(sid) => {
                        tracing::warn!(sid, "nats slow consumer: messages dropped");
                    }
                    other => tracing::info!(event = %other, "nats event"),
                }
            }
        });
    if let Some(path) = &settings.creds_file {
        options = options.credentials_file(path).await?;
    }
    if settings.require_tls {
        options = options.require_tls(true);
    }
    Ok((options.connect(settings.url.as_str()).await?, connected_rx))
}

/// Returns whether the client is currently connected.
pub fn is_connected(client: &Client) -> bool {
    matches!(client.connection_state(), async_nats::connection::State::Connected)
}

/// Sends a protobuf request and decodes the protobuf reply.
pub async fn request<Req: Message, Rep: Message + Default>(
    client: &Client,
    subject: String,
    req: &Req,
) -> Result<Rep, RpcError> {
    let payload = Bytes::from(req.encode_to_vec());
    let sent = match REQUEST_ID.try_with(Clone::clone) {
        Ok(id) => {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(REQUEST_ID_HEADER, id.as_str());
            client.request_with_headers(subject, headers, payload).await
        }
        Err(_) => client.request(subject, payload).await,
    };
    let reply = sent.map_err(|e| match e.kind() {
        RequestErrorKind::NoResponders => RpcError::Unavailable("no responders"),
        RequestErrorKind::TimedOut => RpcError::Unavailable("timed out"),
        _ => RpcError::Unavailable("request failed"),
    })?;
    Ok(Rep::decode(reply.payload)?)
}

/// How long a fire-and-forget publish may wait for room in the client's
/// buffer (it fills while NATS is unreachable).
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);

/// Publishes a protobuf message; failures are logged, not returned (fire and
/// forget), and it never waits more than [`PUBLISH_TIMEOUT`].
pub async fn publish<M: Message>(client: &Client, subject: String, msg: &M) {
    publish_bytes(client, subject, Bytes::from(msg.encode_to_vec())).await;
}

/// [`publish`] for an encoded payload; returns whether the client took it.
pub async fn publish_bytes(
    client: &Client,
    subject: impl async_nats::subject::ToSubject,
    payload: Bytes,
) -> bool {
    match tokio::time::timeout(PUBLISH_TIMEOUT, client.publish(subject, payload)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error.cause_chain = ?e, "failed to publish");
            false
        }
        Err(_) => {
            tracing::warn!("publish timed out: nats unreachable");
            false
        }
    }
}

/// Sends a protobuf reply to a request's reply subject.
pub async fn respond<M: Message>(client: &Client, reply: async_nats::Subject, msg: &M) {
    publish_bytes(client, reply, Bytes::from(msg.encode_to_vec())).await;
}

/// Room left in a reply for everything but its list.
const REPLY_MARGIN: usize = 64 * 1024;

/// Collects list items (keeping order) while they fit in one reply on this
/// connection (its server's `max_payload` less a margin); at least one item
/// is kept. Callers page on from the last item returned.
pub fn fit_reply<T: Message>(client: &Client, items: impl IntoIterator<Item = T>) -> Vec<T> {
    let budget = client.max_payload().saturating_sub(REPLY_MARGIN);
    let mut size = 0;
    let mut out = Vec::new();
    for item in items {
        size += item.encoded_len() + 8;
        if size > budget && !out.is_empty() {
            break;
        }
        out.push(item);
    }
    out
}
