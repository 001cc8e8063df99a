//! The workload: sender→receiver pairs over real WebSockets. Senders keep a
//! window of messages in flight and resend (same `client_msg_id`) on a
//! retryable error, after 5 s without an answer, and after reconnecting.
//! Receivers sync after every (re)connect and record, per connection, every
//! `private_message` in the order it arrived.
use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};
use uuid::Uuid;

use super::rng::Rng;

/// A client WebSocket.
pub type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Error codes a sender resends on.
pub const RETRYABLE: &[&str] = &["unavailable", "rate_limited", "internal", "timeout"];

/// One sender→receiver pair.
#[derive(Clone, Debug)]
pub struct Pair {
    /// Its number.
    pub index: usize,
    /// The sending user.
    pub sender: Uuid,
    /// The receiving user.
    pub receiver: Uuid,
    /// The gateway the sender connects to first.
    pub sender_gw: usize,
    /// The gateway the receiver connects to first.
    pub receiver_gw: usize,
}

/// A token bucket shared by every sender (messages created per second).
pub struct Pacer {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Pacer {
    /// `rate` new messages per second (0 = unlimited).
    pub fn new(rate: f64) -> Self {
        let burst = (rate / 20.0).max(5.0);
        Self { rate, burst, tokens: burst, last: Instant::now() }
    }

    fn take(&mut self) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What every workload task shares.
pub struct Shared {
    /// When the run started (times in views are relative to it).
    pub started: Instant,
    /// The run's seed (also in every message's content).
    pub seed: u64,
    /// WebSocket base URLs of the gateways.
    pub gateways: Vec<String>,
    /// Messages to acknowledge in all.
    pub target: u64,
    /// Messages in flight per sender.
    pub window: usize,
    /// Resend a send unanswered this long.
    pub resend_after: Duration,
    /// A send unanswered this long on an open connection is a hang.
    pub hang_after: Duration,
    /// Messages created so far.
    pub created: AtomicU64,
    /// Distinct messages acknowledged so far.
    pub acked: AtomicU64,
    /// Every planned fault is done: senders stop creating at `target`.
    pub faults_done: AtomicBool,
    /// Senders give up (deadline).
    pub abort: AtomicBool,
    /// Receivers reconnect one last time, sync and settle.
    pub final_sync: AtomicBool,
    /// Receivers give up (deadline).
    pub receivers_abort: AtomicBool,
    /// Resends and reconnects so far (for progress lines).
    pub resends: AtomicU64,
    /// Reconnects so far (for progress lines).
    pub reconnects: AtomicU64,
    /// Limits how fast messages are created.
    pub pacer: Mutex<Pacer>,
}

impl Shared {
    fn capped(&self) -> bool {
        self.abort.load(Ordering::SeqCst)
            || (self.faults_done.load(Ordering::SeqCst)
                && self.created.load(Ordering::SeqCst) >= self.target)
    }

    fn try_create(&self) -> bool {
        if self.capped() || !self.pacer.lock().is_ok_and(|mut p| p.take()) {
            return false;
        }
        self.created
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                (!(self.faults_done.load(Ordering::SeqCst) && c >= self.target)).then_some(c + 1)
            })
            .is_ok()
    }
}

/// The `client_msg_id` of message `idx` of pair `pair`.
pub fn client_msg_id(pair: usize, idx: u64) -> String {
    format!("p{pair}-{idx}")
}

/// Parses a `client_msg_id` back into (pair, index).
pub fn parse_client_msg_id(cmid: &str) -> Option<(usize, u64)> {
    let (p, i) = cmid.strip_prefix('p')?.split_once('-')?;
    Some((p.parse().ok()?, i.parse().ok()?))
}

/// The content of message `idx` of pair `pair`: it names the run, pair and index.
pub fn content(seed: u64, pair: usize, idx: u64) -> String {
    format!("faults seed={seed} pair={pair} idx={idx}")
}

/// Parses a content back into (seed, pair, index).
pub fn parse_content(s: &str) -> Option<(u64, usize, u64)> {
    let mut it = s.strip_prefix("faults ")?.split(' ');
    let seed = it.next()?.strip_prefix("seed=")?.parse().ok()?;
    let pair = it.next()?.strip_prefix("pair=")?.parse().ok()?;
    let idx = it.next()?.strip_prefix("idx=")?.parse().ok()?;
    it.next().is_none().then_some((seed, pair, idx))
}

/// Opens `<base>/ws/chat/<user>` with the token in the header (5 s at most); `Err` says why not.
pub async fn connect(base: &str, user: Uuid, token: &str) -> Result<Ws, String> {
    let url = format!("{base}/ws/chat/{user}");
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    let auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?;
    req.headers_mut().insert("authorization", auth);
    match tokio::time::timeout(Duration::from_secs(5), connect_async(req)).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => {
            Err(format!("http {}", resp.status().as_u16()))
        }
        Ok(Err(e)) => Err(short_error(&e.to_string())),
        Err(_) => Err("connect timed out".into()),
    }
}

fn short_error(e: &str) -> String {
    let e = e.split(" (os error").next().unwrap_or(e);
    let e = e.strip_prefix("WebSocket protocol error: ").unwrap_or(e);
    e.chars().take(80).collect()
}

fn close_label(frame: Option<&tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> String {
    match frame {
        Some(f) => format!("close {}", u16::from(f.code)),
        None => "close (no code)".into(),
    }
}

async fn send_frames(ws: &mut Ws, frames: Vec<Value>) -> bool {
    let send = async {
        for f in frames {
            ws.feed(Message::text(f.to_string())).await?;
        }
        ws.flush().await
    };
    matches!(tokio::time::timeout(Duration::from_secs(10), send).await, Ok(Ok(())))
}

async fn backoff(rng: &mut Rng) {
    tokio::time::sleep(Duration::from_millis(rng.range(100, 500))).await;
}

/// A send not yet acknowledged.
struct Outstanding {
    cmid: String,
    content: String,
    sent_before: bool,
    /// Sent on this connection at, no answer yet.
    awaiting: Option<Instant>,
    /// Send (again) at.
    retry_at: Option<Instant>,
}

/// What one sender did.
#[derive(Debug, Default)]
pub struct SenderLog {
    /// The pair.
    pub pair: usize,
    /// Messages created (indices `0..created`).
    pub created: u64,
    /// Every distinct message id acknowledged per `client_msg_id`, first first.
    pub acks: HashMap<String, Vec<Uuid>>,
    /// `message_ack` frames received (acks of resends included).
    pub ack_frames: u64,
    /// Acks flagged `"duplicate": true`.
    pub duplicate_acks: u64,
    /// Never acknowledged.
    pub unacked: Vec<String>,
    /// Refused with a non-retryable error: (client_msg_id, code).
    pub rejected: Vec<(String, String)>,
    /// `private_message` frames sent.
    pub attempts: u64,
    /// Of which resends.
    pub resends: u64,
    /// Resends because 5 s passed without an answer.
    pub timeouts: u64,
    /// Connections opened.
    pub connections: u64,
    /// Failed connection attempts, by reason.
    pub connect_failures: BTreeMap<String, u64>,
    /// `error` frames by code.
    pub errors: BTreeMap<String, u64>,
    /// How connections ended.
    pub closes: BTreeMap<String, u64>,
    /// Sends unanswered > `hang_after` on an open connection.
    pub hangs: Vec<String>,
}

/// Runs one sender until everything it created is acknowledged and no more
/// may be created, or until `abort`.
pub async fn run_sender(sh: Arc<Shared>, pair: Pair, token: String, mut rng: Rng) -> SenderLog {
    let mut log = SenderLog { pair: pair.index, ..SenderLog::default() };
    let mut out: BTreeMap<u64, Outstanding> = BTreeMap::new();
    let mut next_idx = 0u64;
    let mut gw = pair.sender_gw;
    let n = sh.gateways.len();
    loop {
        if sh.abort.load(Ordering::SeqCst) || (out.is_empty() && sh.capped()) {
            break;
        }
        let mut ws = match connect(&sh.gateways[gw], pair.sender, &token).await {
            Ok(ws) => ws,
            Err(e) => {
                *log.connect_failures.entry(e).or_default() += 1;
                gw = (gw + 1) % n;
                backoff(&mut rng).await;
                continue;
            }
        };
        if log.connections > 0 {
            sh.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        log.connections += 1;
        let reason =
            sender_connection(&sh, &pair, &mut ws, &mut out, &mut next_idx, &mut log, &mut rng)
                .await;
        *log.closes.entry(reason).or_default() += 1;
        for o in out.values_mut() {
            o.awaiting = None;
            o.retry_at = None;
        }
        gw = (gw + 1) % n;
        if !(sh.abort.load(Ordering::SeqCst) || (out.is_empty() && sh.capped())) {
            backoff(&mut rng).await;
        }
    }
    log.created = next_idx;
    log.unacked = out.into_values().map(|o| o.cmid).collect();
    log
}

async fn sender_connection(
    sh: &Shared,
    pair: &Pair,
    ws: &mut Ws,
    out: &mut BTreeMap<u64, Outstanding>,
    next_idx: &mut u64,
    log: &mut SenderLog,
    rng: &mut Rng,
) -> String {
    // Attempts on this connection still unanswered: client_msg_id → (sent at, counted as a hang).
    let mut attempts: HashMap<String, VecDeque<(Instant, bool)>> = HashMap::new();
    let mut last_frame = Instant::now();
    // Everything unacknowledged is sent again on a new connection.
    let now = Instant::now();
    for o in out.values_mut() {
        o.retry_at = Some(now);
    }
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            m = ws.next() => {
                last_frame = Instant::now();
                match m {
                    Some(Ok(Message::Text(t))) => {
                        let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else { continue };
                        on_sender_frame(sh, &v, out, &mut attempts, log, rng);
                    }
                    Some(Ok(Message::Close(f))) => return close_label(f.as_ref()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return format!("error: {}", short_error(&e.to_string())),
                    None => return "eof".into(),
                }
            }
            _ = tick.tick() => {
                if sh.abort.load(Ordering::SeqCst) {
                    let _ = ws.close(None).await;
                    return "abort".into();
                }
                if out.is_empty() && sh.capped() {
                    let _ = ws.close(None).await;
                    return "done".into();
                }
                let now = Instant::now();
                let mut to_send = Vec::new();
                for (&idx, o) in out.iter_mut() {
                    if let Some(at) = o.retry_at {
                        if at <= now {
                            to_send.push(idx);
                        }
                    } else if let Some(at) = o.awaiting
                        && now.duration_since(at) >= sh.resend_after
                    {
                        log.timeouts += 1;
                        to_send.push(idx);
                    }
                }
                while out.len() < sh.window && sh.try_create() {
                    let idx = *next_idx;
                    *next_idx += 1;
                    out.insert(idx, Outstanding {
                        cmid: client_msg_id(pair.index, idx),
                        content: content(sh.seed, pair.index, idx),
                        sent_before: false,
                        awaiting: None,
                        retry_at: None,
                    });
                    to_send.push(idx);
                }
                for (cmid, q) in attempts.iter_mut() {
                    for a in q.iter_mut() {
                        if !a.1 && now.duration_since(a.0) > sh.hang_after {
                            a.1 = true;
                            log.hangs.push(format!("pair {} {cmid}: no answer after {:?}", pair.index, sh.hang_after));
                        }
                    }
                }
                if attempts.values().any(|q| !q.is_empty())
                    && now.duration_since(last_frame) > Duration::from_secs(30)
                {
                    let _ = ws.close(None).await;
                    return "stalled (30 s without a frame)".into();
                }
                let mut frames = Vec::with_capacity(to_send.len());
                for idx in to_send {
                    let Some(o) = out.get_mut(&idx) else { continue };
                    frames.push(json!({
                        "type": "private_message",
                        "receiver_id": pair.receiver,
                        "content": o.content,
                        "client_msg_id": o.cmid,
                    }));
                    o.awaiting = Some(now);
                    o.retry_at = None;
                    attempts.entry(o.cmid.clone()).or_default().push_back((now, false));
                    log.attempts += 1;
                    if o.sent_before {
                        log.resends += 1;
                        sh.resends.fetch_add(1, Ordering::Relaxed);
                    }
                    o.sent_before = true;
                }
                if !frames.is_empty() && !send_frames(ws, frames).await {
                    return "send failed".into();
                }
            }
        }
    }
}

fn on_sender_frame(
    sh: &Shared,
    v: &Value,
    out: &mut BTreeMap<u64, Outstanding>,
    attempts: &mut HashMap<String, VecDeque<(Instant, bool)>>,
    log: &mut SenderLog,
    rng: &mut Rng,
) {
    let cmid = v["client_msg_id"].as_str();
    let answered = |attempts: &mut HashMap<String, VecDeque<(Instant, bool)>>, c: &str| {
        if let Some(q) = attempts.get_mut(c) {
            q.pop_front();
        }
    };
    match v["type"].as_str() {
        Some("message_ack") => {
            log.ack_frames += 1;
            if v["duplicate"] == true {
                log.duplicate_acks += 1;
            }
            let Some(c) = cmid else { return };
            answered(attempts, c);
            let Some(id) = v["message"]["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()) else {
                *log.errors.entry("ack without a message id".into()).or_default() += 1;
                return;
            };
            let ids = log.acks.entry(c.to_owned()).or_default();
            if ids.is_empty() {
                sh.acked.fetch_add(1, Ordering::SeqCst);
            }
            if !ids.contains(&id) {
                ids.push(id);
            }
            if let Some((_, idx)) = parse_client_msg_id(c) {
                out.remove(&idx);
            }
        }
        Some("error") => {
            let code = v["code"].as_str().unwrap_or("(no code)").to_owned();
            *log.errors.entry(code.clone()).or_default() += 1;
            let Some(c) = cmid else { return };
            answered(attempts, c);
            let Some((_, idx)) = parse_client_msg_id(c) else { return };
            if RETRYABLE.contains(&code.as_str()) {
                if let Some(o) = out.get_mut(&idx) {
                    o.awaiting = None;
                    o.retry_at = Some(Instant::now() + Duration::from_millis(rng.range(100, 300)));
                }
            } else if let Some(o) = out.remove(&idx) {
                log.rejected.push((o.cmid, code));
            }
        }
        _ => {}
    }
}

/// One `private_message` a receiver got.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `message.id`.
    pub id: Uuid,
    /// `message.seq`, when the server sends one.
    pub seq: Option<i64>,
    /// `message.sender_id`.
    pub sender: Option<Uuid>,
    /// `message.content`.
    pub content: String,
    /// When it arrived, since the run started.
    pub at: Duration,
}

/// Everything one receiver connection got, in arrival order.
#[derive(Clone, Debug, Default)]
pub struct ConnView {
    /// Which gateway.
    pub gateway: usize,
    /// Opened for the final sync.
    pub is_final: bool,
    /// `private_message` frames in order.
    pub frames: Vec<Seen>,
    /// How it ended.
    pub close: String,
}

/// What one receiver saw.
#[derive(Debug, Default)]
pub struct ReceiverLog {
    /// The pair.
    pub pair: usize,
    /// One entry per connection, in order.
    pub views: Vec<ConnView>,
    /// Failed connection attempts, by reason.
    pub connect_failures: BTreeMap<String, u64>,
    /// `error` frames by code.
    pub errors: BTreeMap<String, u64>,
    /// `sync` requests sent.
    pub syncs: u64,
    /// The final sync settled (false: gave up at the deadline).
    pub settled: bool,
}

/// How long a final connection must be quiet to count as settled.
const SETTLE: Duration = Duration::from_secs(3);
/// Most syncs a receiver sends in all (the final connection stops asking then).
const MAX_FINAL_SYNCS: u64 = 1000;

/// Runs one receiver: (re)connects, syncs, records; after `final_sync` does
/// one more connection and sync and returns once it is quiet.
pub async fn run_receiver(sh: Arc<Shared>, pair: Pair, token: String, mut rng: Rng) -> ReceiverLog {
    let mut log = ReceiverLog { pair: pair.index, ..ReceiverLog::default() };
    let mut last_seen: Option<Uuid> = None;
    let mut gw = pair.receiver_gw;
    let n = sh.gateways.len();
    while !sh.receivers_abort.load(Ordering::SeqCst) {
        let is_final = sh.final_sync.load(Ordering::SeqCst);
        let mut ws = match connect(&sh.gateways[gw], pair.receiver, &token).await {
            Ok(ws) => ws,
            Err(e) => {
                *log.connect_failures.entry(e).or_default() += 1;
                gw = (gw + 1) % n;
                backoff(&mut rng).await;
                continue;
            }
        };
        if !log.views.is_empty() {
            sh.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        let mut view = ConnView { gateway: gw, is_final, ..ConnView::default() };
        let reason =
            receiver_connection(&sh, &mut ws, &mut view, &mut last_seen, &mut log, &mut rng).await;
        let settled = reason == "settled";
        view.close = reason;
        log.views.push(view);
        if settled {
            log.settled = true;
            break;
        }
        gw = (gw + 1) % n;
        backoff(&mut rng).await;
    }
    log
}

fn sync_frame(after: Option<Uuid>) -> Value {
    json!({"type": "sync", "after": after.unwrap_or(Uuid::nil())})
}

async fn receiver_connection(
    sh: &Shared,
    ws: &mut Ws,
    view: &mut ConnView,
    last_seen: &mut Option<Uuid>,
    log: &mut ReceiverLog,
    rng: &mut Rng,
) -> String {
    log.syncs += 1;
    if !send_frames(ws, vec![sync_frame(*last_seen)]).await {
        return "send failed".into();
    }
    let mut last_activity = Instant::now();
    let mut since_sync = 0usize;
    let mut sync_retry: Option<Instant> = None;
    let mut next_ping = Instant::now() + Duration::from_secs(5);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else { continue };
                    match v["type"].as_str() {
                        Some("private_message") => {
                            let m = &v["message"];
                            let Some(id) = m["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()) else {
                                *log.errors.entry("private_message without id".into()).or_default() += 1;
                                continue;
                            };
                            let seq = m["seq"].as_i64().or_else(|| m["seq"].as_str().and_then(|s| s.parse().ok()));
                            view.frames.push(Seen {
                                id,
                                seq,
                                sender: m["sender_id"].as_str().and_then(|s| Uuid::parse_str(s).ok()),
                                content: m["content"].as_str().unwrap_or_default().to_owned(),
                                at: sh.started.elapsed(),
                            });
                            *last_seen = Some(id);
                            since_sync += 1;
                            last_activity = Instant::now();
                        }
                        Some("error") => {
                            let code = v["code"].as_str().unwrap_or("(no code)").to_owned();
                            *log.errors.entry(code).or_default() += 1;
                            // A sync that failed is asked again.
                            sync_retry = Some(Instant::now() + Duration::from_millis(rng.range(200, 500)));
                        }
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(f))) => return close_label(f.as_ref()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return format!("error: {}", short_error(&e.to_string())),
                None => return "eof".into(),
            },
            _ = tick.tick() => {
                let now = Instant::now();
                if sh.receivers_abort.load(Ordering::SeqCst) {
                    let _ = ws.close(None).await;
                    return "abort".into();
                }
                if !view.is_final && sh.final_sync.load(Ordering::SeqCst) {
                    let _ = ws.close(None).await;
                    return "closed for the final sync".into();
                }
                let mut frames = Vec::new();
                // The final connection: once quiet, a sync that brought something
                // is followed by another from the newest id, until one brings nothing.
                let mut settled = false;
                if view.is_final
                    && sync_retry.is_none()
                    && now.duration_since(last_activity) > SETTLE
                {
                    if since_sync == 0 || log.syncs >= MAX_FINAL_SYNCS {
                        settled = true;
                    } else {
                        sync_retry = Some(now);
                    }
                }
                // A sync that failed is asked again from the last id seen.
                if sync_retry.is_some_and(|t| t <= now) {
                    sync_retry = None;
                    since_sync = 0;
                    log.syncs += 1;
                    last_activity = now;
                    frames.push(sync_frame(*last_seen));
                }
                if now >= next_ping {
                    next_ping = now + Duration::from_secs(5);
                    frames.push(json!({"type": "ping"}));
                }
                if !frames.is_empty() && !send_frames(ws, frames).await {
                    return "send failed".into();
                }
                if settled {
                    let _ = ws.close(None).await;
                    return "settled".into();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_contents_round_trip() {
        assert_eq!(parse_client_msg_id(&client_msg_id(3, 42)), Some((3, 42)));
        assert_eq!(parse_content(&content(7, 3, 42)), Some((7, 3, 42)));
        assert_eq!(parse_content("faults seed=7 pair=3 idx=42 extra"), None);
        assert_eq!(parse_content("hello"), None);
    }
}
