//! `loadgen relay --listen 127.0.0.1:PORT`: a bare WebSocket relay speaking
//! the gateway's chat frames, with nothing behind it. The benchmark's
//! baseline: what parsing, routing, acknowledging and serialising cost alone.
//!
//! - `GET /ws/chat/{user_id}`; the token (`?token=` or header) is not checked.
//! - `private_message` gets a UUIDv7 id and the next position in the sender's
//!   and the receiver's (in-memory) streams; the sender gets `message_ack`,
//!   every connection of the receiver and the sender's other connections get
//!   `private_message`. Nothing is stored: an offline receiver misses it.
//! - `typing` is forwarded, `ping` is answered with `pong`; other types get
//!   an `error` frame. `TCP_NODELAY` on; one unbounded queue per connection;
//!   4 KiB read buffers (tungstenite's default is 128 KiB per connection).
use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::Context;
use chrono::SecondsFormat;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
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

type Tx = mpsc::UnboundedSender<Message>;

#[derive(Default)]
struct User {
    conns: Vec<(u64, Tx)>,
    seq: u64,
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

#[derive(Deserialize)]
struct In<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(borrow)]
    receiver_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow)]
    client_msg_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message_type: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
struct Msg<'a> {
    id: Uuid,
    sender_id: Uuid,
    receiver_id: Uuid,
    content: &'a str,
    timestamp: &'a str,
    read: bool,
    message_type: &'a str,
    seq: u64,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Out<'a> {
    MessageAck {
        #[serde(skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<&'a str>,
        message: Msg<'a>,
    },
    PrivateMessage {
        message: Msg<'a>,
    },
    Typing {
        user_id: Uuid,
    },
    Pong,
    Error {
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<&'a str>,
    },
}

fn frame(out: &Out<'_>) -> Message {
    match serde_json::to_string(out) {
        Ok(s) => Message::text(s),
        Err(_) => Message::text(r#"{"type":"error","code":"internal","message":"serialise"}"#),
    }
}

fn error(tx: &Tx, code: &str, message: &str, client_msg_id: Option<&str>) {
    let _ = tx.send(frame(&Out::Error { code, message, client_msg_id }));
}

/// Sends `m` to every connection of `user` but `except`.
fn to_user(user: &User, m: &Message, except: u64) {
    for (id, tx) in &user.conns {
        if *id != except {
            let _ = tx.send(m.clone());
        }
    }
}

fn private_message(reg: &Registry, me: Uuid, conn: u64, tx: &Tx, f: &In<'_>) {
    let cid = f.client_msg_id.as_deref();
    let Some(to) = f.receiver_id.as_deref() else {
        return error(tx, "missing_field", "receiver_id is required", cid);
    };
    let Ok(to) = Uuid::parse_str(to) else {
        return error(tx, "invalid_uuid", "receiver_id must be a UUID", cid);
    };
    let content = f.content.as_deref().unwrap_or_default();
    if content.trim().is_empty() {
        return error(tx, "empty_content", "content is empty", cid);
    }
    if to == me {
        return error(tx, "invalid_argument", "messages to yourself are refused", cid);
    }
    let id = Uuid::now_v7();
    let timestamp = chrono::Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let message_type = f.message_type.as_deref().unwrap_or("text");
    let msg = |seq| Msg {
        id,
        sender_id: me,
        receiver_id: to,
        content,
        timestamp: &timestamp,
        read: false,
        message_type,
        seq,
    };
    let mut users = reg.lock();
    if let Some(r) = users.get_mut(&to) {
        r.seq += 1;
        to_user(r, &frame(&Out::PrivateMessage { message: msg(r.seq) }), u64::MAX);
    }
    if let Some(s) = users.get_mut(&me) {
        s.seq += 1;
        let seq = s.seq;
        if s.conns.len() > 1 {
            to_user(s, &frame(&Out::PrivateMessage { message: msg(seq) }), conn);
        }
        let _ = tx.send(frame(&Out::MessageAck { client_msg_id: cid, message: msg(seq) }));
    }
}

fn handle(reg: &Registry, me: Uuid, conn: u64, tx: &Tx, text: &str) {
    let Ok(f) = serde_json::from_str::<In<'_>>(text) else {
        return error(tx, "invalid_json", "not a JSON object with a type", None);
    };
    match f.ty.as_ref() {
        "private_message" => private_message(reg, me, conn, tx, &f),
        "ping" => {
            let _ = tx.send(frame(&Out::Pong));
        }
        "typing" => {
            if let Some(to) = f.receiver_id.as_deref().and_then(|s| Uuid::parse_str(s).ok())
                && let Some(r) = reg.lock().get(&to)
            {
                to_user(r, &frame(&Out::Typing { user_id: me }), u64::MAX);
            }
        }
        _ => error(tx, "unknown_type", "the bare relay does not implement this type", None),
    }
}

// The handshake callback's error type is tungstenite's (an HTTP response).
#[allow(clippy::result_large_err)]
async fn connection(reg: Arc<Registry>, stream: TcpStream) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
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
    reg.lock().entry(me).or_default().conns.push((conn, tx.clone()));
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
            Ok(Message::Text(t)) => handle(&reg, me, conn, &tx, t.as_str()),
            Ok(Message::Binary(_)) => error(&tx, "invalid_json", "binary frames are refused", None),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    {
        let mut users = reg.lock();
        if let Some(u) = users.get_mut(&me) {
            u.conns.retain(|(id, _)| *id != conn);
            if u.conns.is_empty() {
                users.remove(&me);
            }
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
