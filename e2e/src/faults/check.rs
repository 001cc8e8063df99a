//! The checker: compares what senders were told (acks), what receivers saw
//! (per connection, in arrival order) and what the database holds.
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fmt,
    time::Duration,
};

use uuid::Uuid;

use super::{
    cluster::Component,
    workload::{Pair, ReceiverLog, SenderLog, parse_client_msg_id, parse_content},
};

/// One row of `chat.message`.
#[derive(Clone, Debug)]
pub struct DbRow {
    /// `message_id`.
    pub id: Uuid,
    /// `sender_id`.
    pub sender: Uuid,
    /// `receiver_id`.
    pub receiver: Uuid,
    /// `client_msg_id`.
    pub client_msg_id: Option<String>,
    /// `receiver_seq`, when the column exists.
    pub seq: Option<i64>,
}

/// A `chat.message` row as selected.
type RawRow = (Uuid, Uuid, Uuid, Option<String>, Option<i64>);

/// Reads every message row; returns them and whether `receiver_seq` exists.
pub async fn read_db(pool: &sqlx::PgPool) -> anyhow::Result<(Vec<DbRow>, bool)> {
    let has_seq: bool = sqlx::query_scalar(
        "select exists (select 1 from information_schema.columns \
         where table_schema = 'chat' and table_name = 'message' and column_name = 'receiver_seq')",
    )
    .fetch_one(pool)
    .await?;
    let rows: Vec<RawRow> = if has_seq {
        sqlx::query_as(
            "select message_id, sender_id, receiver_id, client_msg_id, receiver_seq::bigint \
             from chat.message order by receiver_id, receiver_seq, message_id",
        )
        .fetch_all(pool)
        .await?
    } else {
        sqlx::query_as(
            "select message_id, sender_id, receiver_id, client_msg_id, null::bigint \
             from chat.message order by receiver_id, message_id",
        )
        .fetch_all(pool)
        .await?
    };
    Ok((
        rows.into_iter()
            .map(|(id, sender, receiver, client_msg_id, seq)| DbRow {
                id,
                sender,
                receiver,
                client_msg_id,
                seq,
            })
            .collect(),
        has_seq,
    ))
}

/// One fault injected.
#[derive(Clone, Debug)]
pub struct FaultEvent {
    /// Since the run started.
    pub at: Duration,
    /// What was killed.
    pub component: Component,
    /// Which replica (services).
    pub replica: usize,
    /// How long it stayed down (kill → restarted and answering).
    pub down_for: Duration,
    /// From its restart until every service answered `/readyz` 200.
    pub all_ready_after: Duration,
    /// Services still not ready after the wait.
    pub not_ready: Vec<String>,
    /// A restart that failed.
    pub error: Option<String>,
}

/// Everything the checker needs.
pub struct Inputs<'a> {
    /// The run's seed.
    pub seed: u64,
    /// Messages to acknowledge.
    pub target: u64,
    /// The pairs.
    pub pairs: &'a [Pair],
    /// What senders did.
    pub senders: &'a [SenderLog],
    /// What receivers saw.
    pub receivers: &'a [ReceiverLog],
    /// `chat.message`.
    pub db: &'a [DbRow],
    /// Whether `receiver_seq` exists (the order), else `message_id`.
    pub db_has_seq: bool,
    /// Faults injected.
    pub faults: &'a [FaultEvent],
    /// Wall time of the run.
    pub duration: Duration,
    /// Where the logs are.
    pub log_dir: String,
}

/// The verdict and the figures.
#[derive(Debug, Default)]
pub struct Report {
    /// The run's seed.
    pub seed: u64,
    /// All five counts zero and at least `target` acknowledged.
    pub pass: bool,
    /// Acknowledged but missing (from the receiver's views or the database).
    pub lost: u64,
    /// … missing from every view of its receiver.
    pub lost_from_views: u64,
    /// … missing from the database.
    pub lost_from_db: u64,
    /// Duplicates of any kind.
    pub duplicated: u64,
    /// An id written twice on one connection (extra copies).
    pub dup_on_connection: u64,
    /// A `client_msg_id` acknowledged with more than one id (extra ids).
    pub dup_acks: u64,
    /// More than one row for one (sender, `client_msg_id`) (extra rows).
    pub dup_rows: u64,
    /// Messages that arrived after a later one (database order) on the same connection.
    pub reordered: u64,
    /// Connections with at least one reordering.
    pub reordered_connections: u64,
    /// Reordered messages by the fault injected in the 5 s before they arrived.
    pub reordered_after: BTreeMap<String, u64>,
    /// Ids written twice on a connection by the fault injected in the 5 s before.
    pub dup_on_connection_after: BTreeMap<String, u64>,
    /// Unexpected messages of any kind.
    pub unexpected: u64,
    /// In a view but never sent (content or sender not ours).
    pub unexpected_in_views: u64,
    /// In a view with an id that is neither in the database nor acknowledged.
    pub delivered_not_stored: u64,
    /// In the database but never sent.
    pub unexpected_in_db: u64,
    /// Sends unanswered > 10 s on an open connection.
    pub hangs: u64,
    /// Messages created.
    pub sent: u64,
    /// Distinct messages acknowledged.
    pub acked: u64,
    /// Messages to acknowledge.
    pub target: u64,
    /// Sent but never acknowledged.
    pub unacked: u64,
    /// Refused with a non-retryable error.
    pub rejected: u64,
    /// Resends (any reason).
    pub resends: u64,
    /// Of which after 5 s without an answer.
    pub timeouts: u64,
    /// Sender reconnects.
    pub sender_reconnects: u64,
    /// Receiver reconnects.
    pub receiver_reconnects: u64,
    /// Rows in `chat.message`.
    pub db_rows: u64,
    /// `private_message` frames received in all.
    pub frames_received: u64,
    /// Frames whose `seq` differs from the row's `receiver_seq`.
    pub seq_mismatches: u64,
    /// Frames with a `seq`.
    pub frames_with_seq: u64,
    /// Receivers whose final sync did not settle.
    pub unsettled_receivers: u64,
    /// The order the database is read in.
    pub order_by: &'static str,
    /// Kills per component.
    pub kills: BTreeMap<String, u64>,
    /// The faults.
    pub faults: Vec<FaultEvent>,
    /// Error codes senders got, by code.
    pub sender_errors: BTreeMap<String, u64>,
    /// How sender connections ended.
    pub sender_closes: BTreeMap<String, u64>,
    /// How receiver connections ended.
    pub receiver_closes: BTreeMap<String, u64>,
    /// Failed connection attempts by reason.
    pub connect_failures: BTreeMap<String, u64>,
    /// A few examples per category.
    pub examples: BTreeMap<&'static str, Vec<String>>,
    /// Wall time.
    pub duration: Duration,
    /// Where the logs are.
    pub log_dir: String,
}

impl Report {
    fn example(&mut self, kind: &'static str, text: String) {
        let v = self.examples.entry(kind).or_default();
        if v.len() < 5 {
            v.push(text);
        }
    }
}

/// The fault injected at most 5 s before `at` (the latest one), or "no fault".
fn preceding_fault(faults: &[FaultEvent], at: Duration) -> String {
    faults
        .iter()
        .rev()
        .find(|f| f.at <= at && at - f.at <= Duration::from_secs(5))
        .map_or_else(|| "no fault".to_owned(), |f| f.component.to_string())
}

fn merge(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

/// Runs every check.
pub fn check(inp: &Inputs<'_>) -> Report {
    let mut r = Report {
        seed: inp.seed,
        target: inp.target,
        duration: inp.duration,
        log_dir: inp.log_dir.clone(),
        faults: inp.faults.to_vec(),
        order_by: if inp.db_has_seq { "receiver_seq" } else { "message_id" },
        db_rows: inp.db.len() as u64,
        ..Report::default()
    };
    for f in inp.faults {
        *r.kills.entry(f.component.to_string()).or_default() += 1;
    }
    let pair_of_sender: HashMap<Uuid, usize> =
        inp.pairs.iter().map(|p| (p.sender, p.index)).collect();
    let created: HashMap<usize, u64> = inp.senders.iter().map(|s| (s.pair, s.created)).collect();

    // Sender side.
    let mut acked: Vec<(usize, String, Uuid)> = Vec::new();
    for s in inp.senders {
        r.sent += s.created;
        r.unacked += s.unacked.len() as u64;
        r.rejected += s.rejected.len() as u64;
        r.resends += s.resends;
        r.timeouts += s.timeouts;
        r.sender_reconnects += s.connections.saturating_sub(1);
        r.hangs += s.hangs.len() as u64;
        merge(&mut r.sender_errors, &s.errors);
        merge(&mut r.sender_closes, &s.closes);
        merge(&mut r.connect_failures, &s.connect_failures);
        for h in &s.hangs {
            r.example("hang", h.clone());
        }
        for (c, code) in &s.rejected {
            r.example("rejected", format!("pair {} {c}: {code}", s.pair));
        }
        for (cmid, ids) in &s.acks {
            if let Some(&first) = ids.first() {
                r.acked += 1;
                acked.push((s.pair, cmid.clone(), first));
            }
            if ids.len() > 1 {
                r.dup_acks += ids.len() as u64 - 1;
                r.example("duplicated", format!("pair {} {cmid} acknowledged as {ids:?}", s.pair));
            }
        }
    }
    let acked_ids: HashSet<Uuid> = acked.iter().map(|a| a.2).collect();

    // Database side.
    let db_by_id: HashMap<Uuid, &DbRow> = inp.db.iter().map(|row| (row.id, row)).collect();
    let mut rows_per_cmid: HashMap<(Uuid, Option<&str>), u64> = HashMap::new();
    for row in inp.db {
        if row.client_msg_id.is_some() {
            *rows_per_cmid.entry((row.sender, row.client_msg_id.as_deref())).or_default() += 1;
        }
        let ours =
            pair_of_sender.get(&row.sender).is_some_and(|&p| {
                inp.pairs[p].receiver == row.receiver
                    && row.client_msg_id.as_deref().and_then(parse_client_msg_id).is_some_and(
                        |(cp, idx)| cp == p && idx < created.get(&p).copied().unwrap_or(0),
                    )
            });
        if !ours {
            r.unexpected_in_db += 1;
            r.example(
                "unexpected",
                format!(
                    "row {} from {} cmid {:?} was never sent",
                    row.id, row.sender, row.client_msg_id
                ),
            );
        }
    }
    for ((sender, cmid), n) in &rows_per_cmid {
        if *n > 1 {
            r.dup_rows += n - 1;
            r.example("duplicated", format!("{n} rows for sender {sender} cmid {cmid:?}"));
        }
    }
    // Database order per receiver: position in the receiver's stream.
    let mut position: HashMap<Uuid, usize> = HashMap::new();
    {
        let mut per_receiver: HashMap<Uuid, Vec<&DbRow>> = HashMap::new();
        for row in inp.db {
            per_receiver.entry(row.receiver).or_default().push(row);
        }
        for rows in per_receiver.values_mut() {
            rows.sort_by_key(|row| {
                if inp.db_has_seq {
                    (row.seq.is_none(), row.seq, row.id)
                } else {
                    (false, None, row.id)
                }
            });
            for (i, row) in rows.iter().enumerate() {
                position.insert(row.id, i);
            }
        }
    }

    // Receiver side.
    let mut union: HashMap<usize, HashSet<Uuid>> = HashMap::new();
    for rl in inp.receivers {
        let pair = &inp.pairs[rl.pair];
        if !rl.settled {
            r.unsettled_receivers += 1;
        }
        merge(&mut r.connect_failures, &rl.connect_failures);
        r.receiver_reconnects += (rl.views.len() as u64).saturating_sub(1);
        let seen_all = union.entry(rl.pair).or_default();
        let mut judged: HashSet<Uuid> = HashSet::new();
        for (ci, view) in rl.views.iter().enumerate() {
            *r.receiver_closes.entry(view.close.clone()).or_default() += 1;
            r.frames_received += view.frames.len() as u64;
            let mut on_conn: HashSet<Uuid> = HashSet::new();
            let mut max_pos: Option<(usize, Uuid)> = None;
            let mut reordered_here = false;
            for (fi, f) in view.frames.iter().enumerate() {
                seen_all.insert(f.id);
                if !on_conn.insert(f.id) {
                    r.dup_on_connection += 1;
                    *r.dup_on_connection_after
                        .entry(preceding_fault(inp.faults, f.at))
                        .or_default() += 1;
                    r.example(
                        "duplicated",
                        format!(
                            "pair {} connection {ci} (gateway {}): {} ({}) written again at frame {fi}, t+{:.1}s",
                            rl.pair,
                            view.gateway,
                            f.id,
                            f.content,
                            f.at.as_secs_f64()
                        ),
                    );
                    continue;
                }
                // Was it ever sent, to this receiver, by its sender?
                if judged.insert(f.id) {
                    let sent = parse_content(&f.content).is_some_and(|(seed, p, idx)| {
                        seed == inp.seed
                            && p == rl.pair
                            && idx < created.get(&p).copied().unwrap_or(0)
                    }) && f.sender.is_none_or(|s| s == pair.sender);
                    if !sent {
                        r.unexpected_in_views += 1;
                        r.example(
                            "unexpected",
                            format!(
                                "pair {} got {} {:?} that was never sent",
                                rl.pair, f.id, f.content
                            ),
                        );
                    } else if !db_by_id.contains_key(&f.id) && !acked_ids.contains(&f.id) {
                        r.delivered_not_stored += 1;
                        r.example(
                            "unexpected",
                            format!(
                                "pair {} got {} ({}) that is not in the database",
                                rl.pair, f.id, f.content
                            ),
                        );
                    }
                }
                if let Some(seq) = f.seq {
                    r.frames_with_seq += 1;
                    if inp.db_has_seq && db_by_id.get(&f.id).is_some_and(|row| row.seq != Some(seq))
                    {
                        r.seq_mismatches += 1;
                        r.example(
                            "seq",
                            format!(
                                "pair {} {}: frame seq {seq}, row {:?}",
                                rl.pair,
                                f.id,
                                db_by_id.get(&f.id).and_then(|row| row.seq)
                            ),
                        );
                    }
                }
                let Some(&pos) = position.get(&f.id) else { continue };
                match max_pos {
                    Some((m, later)) if pos < m => {
                        r.reordered += 1;
                        *r.reordered_after.entry(preceding_fault(inp.faults, f.at)).or_default() +=
                            1;
                        reordered_here = true;
                        r.example(
                            "reordered",
                            format!(
                                "pair {} connection {ci} (gateway {}): {} (position {pos}) arrived after {later} (position {m}) at frame {fi}, t+{:.1}s",
                                rl.pair, view.gateway, f.id, f.at.as_secs_f64()
                            ),
                        );
                    }
                    Some((m, _)) if pos <= m => {}
                    _ => max_pos = Some((pos, f.id)),
                }
            }
            if reordered_here {
                r.reordered_connections += 1;
            }
        }
    }

    // Acknowledged messages must be stored and delivered.
    for (pair, cmid, id) in &acked {
        let in_views = union.get(pair).is_some_and(|s| s.contains(id));
        let in_db = db_by_id.contains_key(id);
        if !in_views {
            r.lost_from_views += 1;
        }
        if !in_db {
            r.lost_from_db += 1;
        }
        if !in_views || !in_db {
            r.lost += 1;
            r.example(
                "lost",
                format!("pair {pair} {cmid} acknowledged as {id}: in views {in_views}, in database {in_db}"),
            );
        }
    }
    r.duplicated = r.dup_on_connection + r.dup_acks + r.dup_rows;
    r.unexpected = r.unexpected_in_views + r.delivered_not_stored + r.unexpected_in_db;
    r.pass = r.lost == 0
        && r.duplicated == 0
        && r.reordered == 0
        && r.unexpected == 0
        && r.hangs == 0
        && r.acked >= r.target;
    r
}

fn list(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "==== faults report, seed {}: {}",
            self.seed,
            if self.pass { "PASS" } else { "FAIL" }
        )?;
        writeln!(
            f,
            "  lost        {:>7}  (acknowledged, then missing from every view of its receiver: {}, from the database: {})",
            self.lost, self.lost_from_views, self.lost_from_db
        )?;
        writeln!(
            f,
            "  duplicated  {:>7}  (id twice on one connection: {}, client_msg_id acknowledged with 2 ids: {}, 2 rows for one client_msg_id: {})",
            self.duplicated, self.dup_on_connection, self.dup_acks, self.dup_rows
        )?;
        if !self.dup_on_connection_after.is_empty() {
            writeln!(
                f,
                "              id twice on a connection, by the fault in the 5 s before: {}",
                list(&self.dup_on_connection_after)
            )?;
        }
        writeln!(
            f,
            "  reordered   {:>7}  (arrived after a message that comes later in the database order, by {}; on {} connections)",
            self.reordered, self.order_by, self.reordered_connections
        )?;
        if !self.reordered_after.is_empty() {
            writeln!(
                f,
                "              reordered, by the fault in the 5 s before: {}",
                list(&self.reordered_after)
            )?;
        }
        writeln!(
            f,
            "  unexpected  {:>7}  (in views, never sent: {}; delivered, not stored: {}; in the database, never sent: {})",
            self.unexpected,
            self.unexpected_in_views,
            self.delivered_not_stored,
            self.unexpected_in_db
        )?;
        writeln!(
            f,
            "  hangs       {:>7}  (sends without any answer for > 10 s on an open connection)",
            self.hangs
        )?;
        writeln!(
            f,
            "  sent {}, acked {} (target {}), unacked {}, rejected {}, resends {} (of which after 5 s without an answer: {})",
            self.sent,
            self.acked,
            self.target,
            self.unacked,
            self.rejected,
            self.resends,
            self.timeouts
        )?;
        writeln!(
            f,
            "  reconnects {} (senders {}, receivers {} incl. the final one each), frames received {}, database rows {}, frames with seq {} (mismatching the row: {})",
            self.sender_reconnects + self.receiver_reconnects,
            self.sender_reconnects,
            self.receiver_reconnects,
            self.frames_received,
            self.db_rows,
            self.frames_with_seq,
            self.seq_mismatches
        )?;
        let total: u64 = self.kills.values().sum();
        writeln!(f, "  kills {total}: {}", list(&self.kills))?;
        writeln!(f, "  duration {:.1} s", self.duration.as_secs_f64())?;
        if self.unsettled_receivers > 0 {
            writeln!(
                f,
                "  receivers whose final sync did not settle: {}",
                self.unsettled_receivers
            )?;
        }
        writeln!(f, "  sender errors: {}", list(&self.sender_errors))?;
        writeln!(f, "  sender connections ended: {}", list(&self.sender_closes))?;
        writeln!(f, "  receiver connections ended: {}", list(&self.receiver_closes))?;
        writeln!(f, "  failed connects: {}", list(&self.connect_failures))?;
        writeln!(f, "  faults:")?;
        for e in &self.faults {
            write!(
                f,
                "    t+{:>6.1}s  {}#{}  down {:.1} s, every service ready {:.1} s later",
                e.at.as_secs_f64(),
                e.component,
                e.replica,
                e.down_for.as_secs_f64(),
                e.all_ready_after.as_secs_f64()
            )?;
            if !e.not_ready.is_empty() {
                write!(f, "; NOT READY: {}", e.not_ready.join(", "))?;
            }
            if let Some(err) = &e.error {
                write!(f, "; RESTART FAILED: {err}")?;
            }
            writeln!(f)?;
        }
        for (kind, v) in &self.examples {
            writeln!(f, "  examples ({kind}):")?;
            for e in v {
                writeln!(f, "    {e}")?;
            }
        }
        writeln!(f, "  logs: {}", self.log_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::workload::{ConnView, Seen, client_msg_id, content};

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn pair() -> Pair {
        Pair { index: 0, sender: id(1000), receiver: id(2000), sender_gw: 0, receiver_gw: 1 }
    }

    fn row(n: u128, idx: u64) -> DbRow {
        DbRow {
            id: id(n),
            sender: id(1000),
            receiver: id(2000),
            client_msg_id: Some(client_msg_id(0, idx)),
            seq: None,
        }
    }

    fn seen(n: u128, idx: u64) -> Seen {
        Seen {
            id: id(n),
            seq: None,
            sender: Some(id(1000)),
            content: content(9, 0, idx),
            at: Duration::ZERO,
        }
    }

    fn run(senders: &[SenderLog], receivers: &[ReceiverLog], db: &[DbRow]) -> Report {
        check(&Inputs {
            seed: 9,
            target: 3,
            pairs: &[pair()],
            senders,
            receivers,
            db,
            db_has_seq: false,
            faults: &[],
            duration: Duration::ZERO,
            log_dir: String::new(),
        })
    }

    #[test]
    fn resends_and_redelivery_on_other_connections_are_not_faults() {
        let sender = SenderLog {
            pair: 0,
            created: 3,
            // The resent p0-1 was acknowledged twice with the same id.
            acks: (0..3).map(|i| (client_msg_id(0, i), vec![id(i as u128 + 1)])).collect(),
            resends: 4,
            ..SenderLog::default()
        };
        let receiver = ReceiverLog {
            pair: 0,
            views: vec![
                ConnView { frames: vec![seen(1, 0), seen(2, 1)], ..ConnView::default() },
                // A new connection may see them again (sync after a reconnect).
                ConnView { frames: vec![seen(2, 1), seen(3, 2)], ..ConnView::default() },
            ],
            settled: true,
            ..ReceiverLog::default()
        };
        let r = run(&[sender], &[receiver], &[row(1, 0), row(2, 1), row(3, 2)]);
        assert!(r.pass, "{r}");
        assert_eq!((r.lost, r.duplicated, r.reordered, r.unexpected, r.hangs), (0, 0, 0, 0, 0));
        assert_eq!((r.sent, r.acked, r.resends), (3, 3, 4));
    }

    #[test]
    fn every_kind_of_fault_is_counted() {
        let mut acks: HashMap<String, Vec<Uuid>> =
            (0..4).map(|i| (client_msg_id(0, i), vec![id(i as u128 + 1)])).collect();
        // p0-2 acknowledged with two different ids.
        acks.insert(client_msg_id(0, 2), vec![id(3), id(50)]);
        let sender = SenderLog {
            pair: 0,
            created: 5,
            acks,
            hangs: vec!["p0-4 unanswered".into()],
            ..SenderLog::default()
        };
        let foreign = Seen {
            id: id(77),
            seq: None,
            sender: Some(id(1000)),
            content: "hello".into(),
            at: Duration::ZERO,
        };
        let receiver = ReceiverLog {
            pair: 0,
            views: vec![
                // id 2 before id 1 (reordered), then id 2 again (duplicate on the connection).
                ConnView {
                    frames: vec![seen(2, 1), seen(1, 0), seen(2, 1)],
                    ..ConnView::default()
                },
                // id 100 is not stored; "hello" was never sent; id 4 (p0-3) never arrives: lost.
                ConnView { frames: vec![seen(3, 2), seen(100, 4), foreign], ..ConnView::default() },
            ],
            settled: true,
            ..ReceiverLog::default()
        };
        let db = [row(1, 0), row(2, 1), row(3, 2), row(4, 3), row(5, 1), row(6, 99)];
        let r = run(&[sender], &[receiver], &db);
        assert!(!r.pass);
        assert_eq!((r.lost, r.lost_from_views, r.lost_from_db), (1, 1, 0), "{r}");
        assert_eq!((r.dup_on_connection, r.dup_acks, r.dup_rows), (1, 1, 1), "{r}");
        assert_eq!(r.duplicated, 3);
        assert_eq!(r.reordered, 1, "{r}");
        assert_eq!(
            (r.unexpected_in_views, r.delivered_not_stored, r.unexpected_in_db),
            (1, 1, 1),
            "{r}"
        );
        assert_eq!(r.hangs, 1);
    }

    #[test]
    fn receiver_seq_orders_when_present() {
        let sender = SenderLog {
            pair: 0,
            created: 3,
            acks: (0..3).map(|i| (client_msg_id(0, i), vec![id(i as u128 + 1)])).collect(),
            ..SenderLog::default()
        };
        // Committed (receiver_seq) in the order 2, 1, 3, and delivered so: not reordered.
        let mut db = vec![row(1, 0), row(2, 1), row(3, 2)];
        db[0].seq = Some(2);
        db[1].seq = Some(1);
        db[2].seq = Some(3);
        let receiver = ReceiverLog {
            pair: 0,
            views: vec![ConnView {
                frames: vec![seen(2, 1), seen(1, 0), seen(3, 2)],
                ..ConnView::default()
            }],
            settled: true,
            ..ReceiverLog::default()
        };
        let r = check(&Inputs {
            seed: 9,
            target: 3,
            pairs: &[pair()],
            senders: &[sender],
            receivers: &[receiver],
            db: &db,
            db_has_seq: true,
            faults: &[],
            duration: Duration::ZERO,
            log_dir: String::new(),
        });
        assert_eq!(r.reordered, 0, "{r}");
        assert!(r.pass, "{r}");
    }
}
