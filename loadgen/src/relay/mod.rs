//! `loadgen relay --listen 127.0.0.1:PORT`: a bare WebSocket relay speaking
//! the gateway's chat frames, with nothing behind it. The benchmark's
//! baseline: what parsing, routing, acknowledging and serialising cost alone.
//!
//! - `GET /ws/chat/{user_id}`; the token (`?token=` or header) is not checked.
//! - `private_message` gets a UUIDv7 id and the next position in the sender's
//!   and the receiver's (in-memory) streams; the sender gets `message_ack`,
//!   every connection of the receiver and the sender's other connections get
//!   `private_message`. A receiver with no connection keeps its frames in
//!   memory (up to 4,096) and gets them when it connects, like the system's
//!   pending queue; nothing else is kept (`sync` is accepted and adds nothing).
//! - `post` (the fan-out baseline) sends one `feed_update` to every
//!   connection of every other user and answers `post_ack` (see [`frames`]).
//! - `typing` is forwarded, `ping` is answered with `pong`; other types get
//!   an `error` frame. `TCP_NODELAY` on; one unbounded queue per connection;
//!   4 KiB read buffers (tungstenite's default is 128 KiB per connection).
//! - `GET /api/…` on the same port: a fixed page of posts (see [`http`]).
use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_tungstenite::{
    accept_hdr_async_with_config,
    tungstenite::{
        Message,
        handshake::server::{ErrorResponse, Request, Response},
        http::StatusCode,
        protocol::WebSocketConfig,
    },
};
use uuid::Uuid;

use crate::Args;

mod frames;
mod http;

type Tx = mpsc::UnboundedSender<Message>;

#[derive(Default)]
struct User {
    conns: Vec<(u64, Tx)>,
    seq: u64,
    /// Frames that arrived while the user had no connection.
    pending: VecDeque<Message>,
}

#[derive(Default)]
struct Registry {
    users: Mutex<HashMap<Uuid, User>>,
    next_conn: AtomicU64,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, User>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// The handshake callback's error type is tungstenite's (an HTTP response).
#[allow(clippy::result_large_err)]
async fn connection(reg: Arc<Registry>, stream: TcpStream) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let mut first = [0u8; 9];
    let mut seen = 0;
    // Both requests start with "GET /"; the ninth byte tells them apart.
    for _ in 0..50 {
        seen = stream.peek(&mut first).await?;
        if seen >= first.len() || seen == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    if http::is_api(&first[..seen]) {
        return http::serve(stream).await;
    }
    let mut user = None;
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        match req.uri().path().strip_prefix("/ws/chat/").and_then(|s| Uuid::parse_str(s).ok()) {
            Some(u) => {
                user = Some(u);
                Ok(resp)
            }
            None => {
                let mut e = ErrorResponse::new(Some("GET /ws/chat/{user_id}".into()));
                *e.status_mut() = StatusCode::NOT_FOUND;
                Err(e)
            }
        }
    };
    // The gateway's limits (64 KiB frames); small buffers that grow on demand
    // instead of tungstenite's 128 KiB read buffer per connection.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(16 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024));
    let ws = accept_hdr_async_with_config(stream, callback, Some(config)).await?;
    let me = user.context("no user id")?;
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let conn = reg.next_conn.fetch_add(1, Ordering::Relaxed);
    {
        let mut users = reg.lock();
        let u = users.entry(me).or_default();
        for m in u.pending.drain(..) {
            let _ = tx.send(m);
        }
        u.conns.push((conn, tx.clone()));
    }
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            sink.feed(m).await?;
            while let Ok(m) = rx.try_recv() {
                sink.feed(m).await?;
            }
            sink.flush().await?;
        }
        anyhow::Ok(())
    });
    while let Some(m) = source.next().await {
        match m {
            Ok(Message::Text(t)) => frames::handle(&reg, me, conn, &tx, t.as_str()),
            Ok(Message::Binary(_)) => {
                frames::error(&tx, "invalid_json", "binary frames are refused", None);
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    {
        let mut users = reg.lock();
        // The user stays (its stream position and what arrives while it is away).
        if let Some(u) = users.get_mut(&me) {
            u.conns.retain(|(id, _)| *id != conn);
        }
    }
    drop(tx);
    writer.abort();
    Ok(())
}

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let listen = args.0.get("listen").cloned().unwrap_or_else(|| "127.0.0.1:3900".into());
    let listener =
        TcpListener::bind(&listen).await.with_context(|| format!("failed to bind {listen}"))?;
    println!("relay listening on ws://{}", listener.local_addr()?);
    let reg = Arc::new(Registry::default());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait, do not spin.
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        tokio::spawn(connection(reg.clone(), stream));
    }
}
