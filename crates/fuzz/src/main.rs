//! `xe-fuzz`: runs the fuzz targets and prints, for each, the inputs run,
//! inputs per second, findings and the slowest input. Exits 1 when anything
//! was found.

// The fuzzer owns its terminal.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use xe_fuzz::{runner, targets};

/// Seeded mutation fuzzing of xe's decoders, grammar, `~/.xe` and the simulator's request path.
#[derive(Parser, Debug)]
#[command(name = "xe-fuzz")]
struct Args {
    /// Inputs per target.
    #[arg(long, default_value_t = 100_000)]
    inputs: u64,
    /// Run only these targets (repeatable).
    #[arg(long = "target", value_name = "NAME")]
    targets: Vec<String>,
    /// Seed of the run: the same seed runs the same inputs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Fewer inputs for one target: NAME=N (repeatable), e.g. for a slow target in a short pass.
    #[arg(long = "inputs-for", value_name = "NAME=N")]
    inputs_for: Vec<String>,
    /// Where findings are written, as <DIR>/<target>/<hash>.bin and .txt.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/findings"))]
    findings: PathBuf,
    /// More seeds: every file in DIR (repeatable), e.g. recorded answers.
    #[arg(long = "corpus", value_name = "DIR")]
    corpus: Vec<PathBuf>,
    /// A decoder input slower than this (ms) is a finding [default: 1000, 10000 in a debug build].
    #[arg(long)]
    slow_ms: Option<u64>,
    /// Run one saved input through --target and print what it finds.
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// With --replay: write a smaller input that finds the same thing to FILE.
    #[arg(long, value_name = "FILE", requires = "replay")]
    minimize: Option<PathBuf>,
    /// List the targets.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list {
        for name in targets::NAMES {
            println!("{name}");
        }
        return ExitCode::SUCCESS;
    }
    for name in &args.targets {
        if targets::target(name).is_none() {
            eprintln!("xe-fuzz: unknown target {name:?} (--list shows them)");
            return ExitCode::from(2);
        }
    }
    let names: Vec<&str> = if args.targets.is_empty() {
        targets::NAMES.to_vec()
    } else {
        args.targets.iter().map(String::as_str).collect()
    };
    xe_fuzz::quiet_panics();
    if let Some(file) = &args.replay {
        return replay(&names, file, args.minimize.as_ref());
    }
    let mut extra = Vec::new();
    for dir in &args.corpus {
        match std::fs::read_dir(dir) {
            Ok(entries) => extra.extend(entries.flatten().filter_map(|e| std::fs::read(e.path()).ok())),
            Err(e) => {
                eprintln!("xe-fuzz: cannot read {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        }
    }
    let mut per_target = Vec::new();
    for spec in &args.inputs_for {
        match spec.split_once('=').and_then(|(n, v)| Some((n.to_string(), v.parse::<u64>().ok()?))) {
            Some(pair) => per_target.push(pair),
            None => {
                eprintln!("xe-fuzz: --inputs-for takes NAME=N, not {spec:?}");
                return ExitCode::from(2);
            }
        }
    }
    let slow = Duration::from_millis(args.slow_ms.unwrap_or(if cfg!(debug_assertions) { 10_000 } else { 1000 }));
    println!(
        "xe-fuzz: seed {}, {}, slow input > {} ms; findings in {}",
        args.seed,
        if cfg!(debug_assertions) {
            "debug build (jsonrpc-stream: one streaming reader per input)"
        } else {
            "release build"
        },
        slow.as_millis(),
        args.findings.display()
    );
    println!("{:<16} {:>8} {:>10} {:>9} {:>7}  slowest input", "target", "inputs", "inputs/s", "findings", "corpus");
    let mut total = 0;
    let started = std::time::Instant::now();
    for name in names {
        let Some(mut target) = targets::target(name) else { continue };
        let inputs = per_target.iter().find(|(n, _)| n == name).map_or(args.inputs, |(_, n)| *n);
        let opts = runner::Options {
            inputs,
            seed: args.seed,
            findings: Some(args.findings.clone()),
            extra: extra.clone(),
            slow,
        };
        let r = runner::run(target.as_mut(), &opts);
        let rate = r.inputs as f64 / r.elapsed.as_secs_f64().max(1e-9);
        let note = if inputs == args.inputs {
            String::new()
        } else {
            format!("  (fewer inputs: --inputs-for {name}={inputs})")
        };
        println!(
            "{:<16} {:>8} {:>10.0} {:>9} {:>7}  {:.1} ms ({} bytes){note}",
            r.target,
            r.inputs,
            rate,
            r.findings.len(),
            r.corpus,
            r.slowest.as_secs_f64() * 1000.0,
            r.slowest_len
        );
        for f in &r.findings {
            let file = f.file.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "(not saved)".into());
            println!("  FINDING {}: {} [{} input(s)] -> {file}", r.target, f.summary, f.count);
        }
        total += r.findings.len();
    }
    println!("xe-fuzz: {total} finding(s) in {:.1} s", started.elapsed().as_secs_f64());
    if total == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn replay(names: &[&str], file: &PathBuf, minimize: Option<&PathBuf>) -> ExitCode {
    let [name] = names else {
        eprintln!("xe-fuzz: --replay needs one --target");
        return ExitCode::from(2);
    };
    let input = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("xe-fuzz: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let Some(mut target) = targets::target(name) else { return ExitCode::from(2) };
    target.thorough();
    if let Some(out) = minimize {
        let small = runner::minimize(target.as_mut(), &input);
        if let Err(e) = std::fs::write(out, &small) {
            eprintln!("xe-fuzz: cannot write {}: {e}", out.display());
            return ExitCode::from(2);
        }
        println!("{name}: {} bytes -> {} bytes in {}", input.len(), small.len(), out.display());
    }
    match runner::replay(target.as_mut(), &input) {
        None => {
            println!("{name}: {}: no finding", file.display());
            ExitCode::SUCCESS
        }
        Some(f) => {
            println!("{name}: {}: {f}", file.display());
            ExitCode::FAILURE
        }
    }
}
