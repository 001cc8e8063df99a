//! The fault harness: `faults [--messages N] [--seed S] [--kills N]
//! [--pairs P] [--window W] [--gap SECS] [--rate MSG_PER_SEC] [--short] [--quiet]`.
//! Starts its own PostgreSQL, Redis and NATS and the service binaries next
//! to this executable, runs a chat workload while SIGKILLing one component
//! at a time, prints the report and exits 0 on pass, 1 on fail, 2 on error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{process::ExitCode, time::Duration};

use e2e_tests::faults::{Config, run};

const USAGE: &str = "usage: faults [--messages N] [--seed S] [--kills N] [--pairs P] [--window W] \
[--gap SECS] [--rate MSG_PER_SEC (0 = unlimited)] [--short] [--quiet]";

fn parse(args: &[String]) -> Result<Config, String> {
    let mut cfg = Config::default();
    if args.iter().any(|a| a == "--short") {
        cfg = Config::short(1);
    }
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<String, String> {
            it.next().cloned().ok_or_else(|| format!("{name} needs a value"))
        };
        let num = |name: &str, v: String| -> Result<u64, String> {
            v.parse::<u64>().map_err(|_| format!("{name}: not a number: {v}"))
        };
        match flag.as_str() {
            "--messages" => cfg.messages = num(flag, value(flag)?)?,
            "--seed" => cfg.seed = num(flag, value(flag)?)?,
            "--kills" => cfg.kills = num(flag, value(flag)?)? as usize,
            "--pairs" => cfg.pairs = (num(flag, value(flag)?)? as usize).max(1),
            "--window" => cfg.window = (num(flag, value(flag)?)? as usize).max(1),
            "--gap" => cfg.gap = Duration::from_secs(num(flag, value(flag)?)?),
            "--rate" => cfg.rate = Some(num(flag, value(flag)?)? as f64),
            "--short" => {}
            "--quiet" => cfg.verbose = false,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(cfg)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "faults: seed {}, {} messages, {} kill(s) of each of {} components, {} pairs, window {}",
        cfg.seed,
        cfg.messages,
        cfg.kills,
        cfg.components.len(),
        cfg.pairs,
        cfg.window
    );
    // Ctrl-C drops the run (and with it every process and temporary directory).
    let outcome = tokio::select! {
        r = run(&cfg) => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: stopping everything");
            return ExitCode::from(130);
        }
    };
    match outcome {
        Ok(report) => {
            println!("{report}");
            if report.pass { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => {
            eprintln!("faults: {e:#}");
            ExitCode::from(2)
        }
    }
}
