//! Simulator under load: N concurrent clients (default 100) mixing reads,
//! writes, `event.from` waiters and `Async.` tasks against the real binary
//! with `--state`, for D seconds (default 60); then the same with a
//! `kill -9` halfway, a restart on the state and the rest of the load.
//! Prints calls/s, latency percentiles per call, failures, event counts,
//! the simulator's peak RSS, restart time and records recovered, and the
//! verdict of the consistency checks (see `tests/load/driver.rs`); nothing
//! is asserted about time. Exits non-zero when a check fails.
//!
//! Run with `scripts/bench-load` or
//! `cargo bench -p xapi-sim --bench load -- [--clients N] [--duration S] [--kill | --plain] [--kill-at S]`.
//! Drives `$XAPI_SIM`, else the release `xapi-sim` cargo built for the bench.

// Benchmarks own the terminal and read their switches.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

#[path = "../tests/load/driver.rs"]
mod driver;

use std::path::PathBuf;
use std::time::Duration;

struct Args {
    clients: usize,
    duration: Duration,
    plain: bool,
    kill: bool,
    kill_at: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { clients: 100, duration: Duration::from_secs(60), plain: true, kill: true, kill_at: None };
    let mut args = std::env::args().skip(1);
    let seconds = |v: Option<String>, name: &str| -> Result<Duration, String> {
        let v = v.ok_or_else(|| format!("{name} needs a value"))?;
        match v.parse::<f64>() {
            Ok(s) if s > 0.0 && s.is_finite() => Ok(Duration::from_secs_f64(s)),
            _ => Err(format!("{name}: not a positive number of seconds: {v}")),
        }
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => {}
            "--clients" => {
                let v = args.next().ok_or("--clients needs a value")?;
                a.clients = v.parse().ok().filter(|n| *n >= 2).ok_or(format!("--clients: not a number >= 2: {v}"))?;
            }
            "--duration" => a.duration = seconds(args.next(), "--duration")?,
            "--kill-at" => a.kill_at = Some(seconds(args.next(), "--kill-at")?),
            "--kill" => a.plain = false,
            "--plain" => a.kill = false,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !a.plain && !a.kill {
        return Err("--kill and --plain exclude each other".into());
    }
    Ok(a)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not, and
    // a benchmark has no business running there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("load bench: skipped (run it with `cargo bench -p xapi-sim --bench load`)");
        return;
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("load bench: {e}");
            std::process::exit(2);
        }
    };
    let bin = std::env::var_os("XAPI_SIM").map(PathBuf::from).unwrap_or(PathBuf::from(env!("CARGO_BIN_EXE_xapi-sim")));
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("xapi-sim under load");
    println!("  binary: {}", bin.display());
    println!("  cores: {cores} (clients and simulator share them)");
    let mut runs = Vec::new();
    if args.plain {
        runs.push(None);
    }
    if args.kill {
        runs.push(Some(args.kill_at.unwrap_or(args.duration / 2)));
    }
    let mut failed = false;
    for kill_at in runs {
        let dir = std::env::temp_dir().join(format!("xapi-sim-load-{}", std::process::id()));
        let plan = driver::Plan {
            bin: bin.clone(),
            dir: dir.clone(),
            clients: args.clients,
            duration: args.duration,
            kill_at,
        };
        println!();
        println!("{}", if kill_at.is_some() { "== load, kill -9, restart, load ==" } else { "== load ==" });
        let report = driver::run(&plan, &mut |l| eprintln!("  ({l})"));
        for line in &report.lines {
            println!("{line}");
        }
        if report.problems.is_empty() {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            failed = true;
            println!("problems (state and simulator log kept in {}):", dir.display());
            for p in &report.problems {
                println!("  {p}");
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
