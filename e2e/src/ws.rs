//! A real WebSocket client (tokio-tungstenite) for the tests.
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};
use uuid::Uuid;

use crate::System;

type Stream = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A connected test client.
pub struct WsClient {
    stream: Stream,
    /// The user it connected as.
    pub user: Uuid,
}

/// How a handshake was refused.
#[derive(Debug)]
#[allow(dead_code)]
pub struct Refused(pub u16);

impl WsClient {
    /// Connects user `user` to gateway `gw` with a valid token in the header.
    pub async fn connect(sys: &System, gw: usize, user: Uuid) -> WsClient {
        Self::connect_with(sys, gw, user, Some(&sys.token(user)), None)
            .await
            .expect("handshake refused")
    }

    /// Connects as `user` with its own token from a browser page at `origin`.
    pub async fn connect_from(
        sys: &System,
        gw: usize,
        user: Uuid,
        origin: &str,
    ) -> Result<WsClient, Refused> {
        Self::connect_with(sys, gw, user, Some(&sys.token(user)), Some(origin)).await
    }

    /// Connects with an explicit token (header) and origin; `Err` carries the HTTP status.
    pub async fn connect_with(
        sys: &System,
        gw: usize,
        path_user: Uuid,
        token: Option<&str>,
        origin: Option<&str>,
    ) -> Result<WsClient, Refused> {
        let url = format!("{}/ws/chat/{path_user}", sys.gateway(gw).replace("http://", "ws://"));
        let mut req = url.into_client_request().unwrap();
        if let Some(t) = token {
            req.headers_mut()
                .insert("authorization", HeaderValue::from_str(&format!("Bearer {t}")).unwrap());
        }
        if let Some(o) = origin {
            req.headers_mut().insert("origin", HeaderValue::from_str(o).unwrap());
        }
        Self::open(req, path_user).await
    }

    /// Connects with the token in the query string (as browsers do).
    pub async fn connect_query(
        sys: &System,
        gw: usize,
        user: Uuid,
        token: &str,
    ) -> Result<WsClient, Refused> {
        let url =
            format!("{}/ws/chat/{user}?token={token}", sys.gateway(gw).replace("http://", "ws://"));
        Self::open(url.into_client_request().unwrap(), user).await
    }

    async fn open(
        req: tokio_tungstenite::tungstenite::handshake::client::Request,
        user: Uuid,
    ) -> Result<WsClient, Refused> {
        match connect_async(req).await {
            Ok((stream, _)) => Ok(WsClient { stream, user }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                Err(Refused(resp.status().as_u16()))
            }
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }

    /// Sends a JSON frame.
    pub async fn send_json(&mut self, v: Value) {
        self.stream.send(Message::text(v.to_string())).await.unwrap();
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, s: &str) {
        self.stream.send(Message::text(s.to_owned())).await.unwrap();
    }

    /// Sends a raw frame.
    pub async fn send_raw(&mut self, m: Message) -> bool {
        self.stream.send(m).await.is_ok()
    }

    /// The next JSON frame within `timeout` (control frames skipped); `None` on timeout or close.
    pub async fn recv_json(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??;
            let next = match next {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("websocket read error: {e}");
                    return None;
                }
            };
            match next {
                Message::Text(t) => return serde_json::from_str(t.as_str()).ok(),
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// The next frame of `kind` within `timeout`, skipping others.
    pub async fn recv_type(&mut self, kind: &str, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let v = self.recv_json(left).await?;
            if v["type"] == kind {
                return Some(v);
            }
        }
    }

    /// Collects every JSON frame that arrives within `window`.
    pub async fn drain(&mut self, window: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + window;
        while let Some(v) =
            self.recv_json(deadline.saturating_duration_since(tokio::time::Instant::now())).await
        {
            out.push(v);
        }
        out
    }

    /// Waits for the server's close frame; returns its code (`None` if the stream just ended).
    pub async fn expect_close(&mut self, timeout: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??;
            match next {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Collects JSON frames until the server closes; returns them and the close code.
    pub async fn until_close(&mut self, timeout: Duration) -> (Vec<Value>, Option<u16>) {
        let mut frames = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let Ok(Some(next)) = tokio::time::timeout_at(deadline, self.stream.next()).await else {
                return (frames, None);
            };
            match next {
                Ok(Message::Text(t)) => frames.extend(serde_json::from_str(t.as_str()).ok()),
                Ok(Message::Close(frame)) => return (frames, frame.map(|f| u16::from(f.code))),
                Ok(_) => {}
                Err(_) => return (frames, None),
            }
        }
    }

    /// Sends a private message with a client_msg_id and waits for its ack (or error).
    pub async fn send_message(&mut self, to: Uuid, content: &str, client_msg_id: &str) -> Value {
        self.send_json(serde_json::json!({
            "type": "private_message", "receiver_id": to, "content": content, "client_msg_id": client_msg_id
        }))
        .await;
        loop {
            let v = self.recv_json(Duration::from_secs(10)).await.expect("no ack");
            if (v["type"] == "message_ack" || v["type"] == "error")
                && v["client_msg_id"] == client_msg_id
            {
                return v;
            }
        }
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
