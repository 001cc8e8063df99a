//! The socket against a real client (tokio-tungstenite) over loopback.
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, protocol::Role, protocol::frame::coding::CloseCode},
};

use super::{Frames, Incoming, RecvError, Sink, frame::ProtocolError, split};

const MAX: usize = 64 * 1024;

/// A server socket and a client already past the handshake.
async fn pair() -> ((Frames, Sink), WebSocketStream<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
    (split(server, BytesMut::new(), MAX), client)
}

async fn recv(frames: &mut Frames) -> Result<Incoming, RecvError> {
    tokio::time::timeout(Duration::from_secs(5), frames.recv()).await.expect("recv timed out")
}

#[tokio::test]
async fn text_both_ways_and_pings_answered() {
    let ((mut frames, mut sink), mut client) = pair().await;
    client.send(Message::text("hello")).await.unwrap();
    client.send(Message::Ping(b"p1".to_vec().into())).await.unwrap();
    client.send(Message::text("é".repeat(20_000))).await.unwrap();
    assert_eq!(recv(&mut frames).await.unwrap(), Incoming::Text("hello".into()));
    assert_eq!(recv(&mut frames).await.unwrap(), Incoming::Ping(b"p1".to_vec().into()));
    sink.pong(b"p1");
    assert_eq!(recv(&mut frames).await.unwrap(), Incoming::Text("é".repeat(20_000).into()));
    sink.send_text(b"one").await.unwrap();
    sink.ping();
    sink.send_text(&[b'x'; 70_000]).await.unwrap();
    sink.flush().await.unwrap();
    assert_eq!(sink.backlog(), 0);
    // The pong was queued before "one" and goes out first.
    assert_eq!(client.next().await.unwrap().unwrap(), Message::Pong(b"p1".to_vec().into()));
    assert_eq!(client.next().await.unwrap().unwrap(), Message::text("one"));
    assert!(matches!(client.next().await.unwrap().unwrap(), Message::Ping(_)));
    assert_eq!(client.next().await.unwrap().unwrap().into_data().len(), 70_000);
    client.send(Message::Pong(Vec::new().into())).await.unwrap();
    assert_eq!(recv(&mut frames).await.unwrap(), Incoming::Pong);
}

#[tokio::test]
async fn idle_socket_holds_no_buffer() {
    let ((mut frames, mut sink), mut client) = pair().await;
    for i in 0..50 {
        client.send(Message::text(format!("message {i}"))).await.unwrap();
    }
    for i in 0..50 {
        assert_eq!(recv(&mut frames).await.unwrap(), Incoming::Text(format!("message {i}").into()));
    }
    sink.send_text(&[b'y'; 10_000]).await.unwrap();
    sink.flush().await.unwrap();
    assert_eq!(frames.held() + sink.held(), 0, "read and write buffers released once drained");
    drop(client);
}

#[tokio::test]
async fn fragments_are_put_together() {
    let ((mut frames, _sink), client) = pair().await;
    let mut raw = client.into_inner();
    use tokio::io::AsyncWriteExt;
    let mut bytes = masked(false, 0x1, b"frag");
    bytes.extend(masked(true, 0x9, b"")); // a ping between fragments
    bytes.extend(masked(false, 0x0, b"men"));
    bytes.extend(masked(true, 0x0, b"ted"));
    // One byte at a time: every header and payload boundary is crossed.
    for b in bytes {
        raw.write_all(&[b]).await.unwrap();
    }
    assert_eq!(recv(&mut frames).await.unwrap(), Incoming::Ping(Default::default()));
    assert_eq!(recv(&mut frames).await.unwrap(), Incoming::Text("fragmented".into()));
}

#[tokio::test]
async fn protocol_errors_carry_their_close_codes() {
    use tokio::io::AsyncWriteExt;
    let cases: [(Vec<u8>, ProtocolError, u16); 4] = [
        (masked(true, 0x1, &[0xFF, 0xFE]), ProtocolError::Utf8, 1007),
        (masked(true, 0x1, &vec![b'a'; MAX + 1]), ProtocolError::Overflow, 1009),
        (masked(true, 0x0, b"orphan"), ProtocolError::Continuation, 1002),
        (
            {
                let mut b = masked(false, 0x1, &vec![b'a'; MAX]);
                b.extend(masked(true, 0x0, b"b"));
                b
            },
            ProtocolError::Overflow,
            1009,
        ),
    ];
    for (bytes, expected, code) in cases {
        let ((mut frames, _sink), client) = pair().await;
        let mut raw = client.into_inner();
        raw.write_all(&bytes).await.unwrap();
        match recv(&mut frames).await {
            Err(RecvError::Protocol(e)) => {
                assert_eq!(e, expected);
                assert_eq!(e.close_code(), code);
            }
            other => panic!("expected {expected:?}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn binary_and_close() {
    let ((mut frames, sink), mut client) = pair().await;
    client.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(recv(&mut frames).await.unwrap(), Incoming::Binary);
    client
        .send(Message::Close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: CloseCode::Library(4001),
            reason: "bye".into(),
        })))
        .await
        .unwrap();
    assert_eq!(recv(&mut frames).await.unwrap(), Incoming::Close(4001));
    sink.close(frames, Some(4001), "bye", Duration::from_secs(1)).await;
    let mut saw_close = false;
    while let Some(Ok(msg)) = client.next().await {
        saw_close |=
            matches!(msg, Message::Close(Some(ref f)) if f.code == CloseCode::Library(4001));
    }
    assert!(saw_close);
}

#[tokio::test]
async fn server_close_reaches_a_client_that_sent_unread_frames() {
    let ((mut frames, sink), mut client) = pair().await;
    for _ in 0..100 {
        client.send(Message::text("unread")).await.unwrap();
    }
    assert!(matches!(recv(&mut frames).await.unwrap(), Incoming::Text(_)));
    sink.close(frames, Some(1012), "restarting", Duration::from_secs(1)).await;
    let mut code = None;
    while let Some(Ok(msg)) = client.next().await {
        if let Message::Close(Some(f)) = msg {
            code = Some(u16::from(f.code));
        }
    }
    assert_eq!(code, Some(1012));
}

#[tokio::test]
async fn a_client_that_does_not_read_holds_the_sender_at_the_high_water_mark() {
    let ((_frames, mut sink), _client) = pair().await;
    let chunk = vec![b'z'; 16 * 1024];
    let filled = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            sink.send_text(&chunk).await.unwrap();
        }
    })
    .await;
    assert!(filled.is_err(), "send_text must wait once the client stops reading");
    assert!(sink.backlog() < 256 * 1024 + 32 * 1024, "backlog {}", sink.backlog());
}

/// A client frame, masked.
fn masked(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    super::frame::tests::client_frame(fin, opcode, payload, [0x37, 0xFA, 0x21, 0x3D])
}
