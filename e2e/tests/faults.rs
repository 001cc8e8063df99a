//! The short fault run as a test: its own PostgreSQL, Redis and NATS, two
//! gateways and two replicas of every backend, ~3,000 messages while each
//! component is SIGKILLed once; nothing may be lost, duplicated, reordered,
//! unexpected or hung. `bash deploy/faults.sh` is the full run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use e2e_tests::faults::{Config, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn short_fault_run_loses_duplicates_reorders_and_hangs_nothing() {
    let report = run(&Config::short(1)).await.expect("the harness itself failed");
    assert!(report.pass, "the system misbehaved under faults:\n{report}");
    println!("{report}");
}
