//! The serving toolkit against a real NATS server (`E2E_NATS_URL`, default
//! `nats://127.0.0.1:4222`), under a subject prefix of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::{ops::ControlFlow, sync::Arc, time::Duration};

use async_nats::Subject;
use bytes::Bytes;
use prost::Message;
use shared::{
    proto::{
        chat::v1::{PendingCountReply, PendingCountRequest},
        common::v1::{ErrorCode, ErrorReply},
    },
    reply::Reply,
    serve::{Ordered, Route, serve},
    subjects::Subjects,
};
use tokio::sync::{mpsc, watch};

/// Answers with the length of `user_id`; an empty one is invalid.
async fn length(_: Arc<()>, req: PendingCountRequest) -> Result<u64, ErrorReply> {
    match req.user_id.len() {
        0 => Err(ErrorReply::invalid("user_id", "empty")),
        n => Ok(n as u64),
    }
}

/// Passes each request's first byte on, in the order it handles them.
struct Record(mpsc::Sender<u8>);

impl Ordered<(), PendingCountRequest> for Record {
    async fn handle(
        &mut self,
        _: &(),
        req: PendingCountRequest,
        _: Option<Subject>,
    ) -> ControlFlow<()> {
        match self.0.send(req.user_id[0]).await {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }
}

async fn ask(
    nats: &async_nats::Client,
    subject: String,
    payload: Bytes,
) -> Result<u64, ErrorReply> {
    let reply = nats.request(subject, payload).await.unwrap();
    PendingCountReply::decode(reply.payload).unwrap().into_result()
}

#[tokio::test]
async fn routes_answer_in_order_and_stop() {
    let url = std::env::var("E2E_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let nats = async_nats::connect(url).await.unwrap();
    let subjects = Subjects::new(&format!("test.{}", uuid::Uuid::new_v4().simple()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (seen_tx, mut seen) = mpsc::channel(4);
    let routes = vec![
        Route::rpc::<PendingCountReply, _, _>("serve.rpc", 4, length),
        Route::ordered("serve.ordered", Record(seen_tx)),
    ];
    let loops = serve(&nats, &subjects, "serve-test", &stop_rx, (), routes).await.unwrap();

    // A value, an error reply, and a malformed request answered as invalid.
    let rpc = subjects.get("serve.rpc");
    let req = |id: &[u8]| {
        Bytes::from(PendingCountRequest { user_id: Bytes::copy_from_slice(id) }.encode_to_vec())
    };
    assert_eq!(ask(&nats, rpc.clone(), req(&[1, 2, 3])).await, Ok(3));
    let empty = ask(&nats, rpc.clone(), req(&[])).await.unwrap_err();
    assert_eq!(empty.field, "user_id");
    let malformed = ask(&nats, rpc, Bytes::from_static(&[0xff, 0xff])).await.unwrap_err();
    assert_eq!(malformed.error_code(), ErrorCode::InvalidArgument);

    // Ordered: arrival order, even while waiting for room downstream (a
    // channel of 4 for 200 messages).
    let ordered = subjects.get("serve.ordered");
    for i in 0..200u8 {
        nats.publish(ordered.clone(), req(&[i])).await.unwrap();
    }
    for i in 0..200u8 {
        assert_eq!(seen.recv().await, Some(i));
    }

    // Stop: every loop ends, and the ordered handler is dropped with it.
    stop_tx.send(true).unwrap();
    for l in loops {
        tokio::time::timeout(Duration::from_secs(5), l).await.unwrap().unwrap();
    }
    assert_eq!(seen.recv().await, None);
}
