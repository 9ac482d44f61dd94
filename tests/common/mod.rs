//! Shared helpers for the CLI integration tests.

mod facts_generated;
pub mod golden;
pub mod hostile;
mod scripts;

use xapi_sim::{Sim, SimOptions};

/// Starts the standard demo pool on loopback, over HTTP or HTTPS, with instant operations.
pub fn start_sim(tls: bool) -> Sim {
    start_sim_scaled(tls, 0.0)
}

/// Starts the demo pool with some methods answering MESSAGE_METHOD_UNKNOWN.
pub fn start_sim_disabled(tls: bool, disabled: &[String]) -> Sim {
    start_sim_with(tls, disabled, Vec::new())
}

/// The metrics clock of golden simulators (2026-05-28 20:26:40 UTC).
pub const GOLDEN_METRICS_CLOCK: i64 = 1_780_000_000;

/// Starts the demo pool with some methods disabled and these fault rules in force.
pub fn start_sim_with(tls: bool, disabled: &[String], faults: Vec<xapi_sim::faults::Rule>) -> Sim {
    start_sim_users(tls, disabled, faults, &[], None)
}

/// [`start_sim_with`], also accepting these `(user, password, role)`, with
/// this directory for external authentication.
pub fn start_sim_users(
    tls: bool,
    disabled: &[String],
    faults: Vec<xapi_sim::faults::Rule>,
    users: &[(String, String, String)],
    directory: Option<xapi_sim::directory::Directory>,
) -> Sim {
    let methods: Vec<&str> = disabled.iter().map(String::as_str).collect();
    let mut opts = SimOptions { tls, ..SimOptions::default() }.disable(&methods).faults(faults);
    opts.config.time_scale = 0.0;
    for (user, password, role) in users {
        opts.config.users.push((user.clone(), password.clone()));
        opts.config.roles.push((user.clone(), role.clone()));
    }
    opts.config.directory = directory;
    // Metrics read at a fixed time, so data-source values are the same every run.
    opts.config.metrics_clock = Some(GOLDEN_METRICS_CLOCK);
    Sim::start(opts).expect("simulator starts on loopback")
}

/// Starts the demo pool with simulated durations multiplied by `time_scale`.
pub fn start_sim_scaled(tls: bool, time_scale: f64) -> Sim {
    let mut opts = SimOptions { tls, ..SimOptions::default() };
    opts.config.time_scale = time_scale;
    Sim::start(opts).expect("simulator starts on loopback")
}

/// An `xe` command aimed at a simulator on loopback (plain HTTP, its
/// default credentials), with a neutral home and no standard input.
pub fn xe_at(sim: &Sim) -> impl Fn(&[&str]) -> std::process::Command {
    let extra = format!("server=127.0.0.1,port={},password=xenroot,nossl=true", sim.addr.port());
    move |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_xe"));
        c.args(args)
            .env("XE_EXTRA_ARGS", &extra)
            .env("HOME", std::env::temp_dir())
            .env("RUST_BACKTRACE", "0")
            .stdin(std::process::Stdio::null());
        c
    }
}

/// A fresh scratch directory for one test of a suite.
pub fn scratch(suite: &str, name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("xe-{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `xe` aimed at a simulator over HTTPS (as `localhost`, pinned in `home`)
/// or HTTP, with `home` as its home and no standard input.
pub fn xe_home(sim: &Sim, home: &std::path::Path) -> impl Fn(&[&str]) -> std::process::Command {
    let port = sim.addr.port();
    let extra = if sim.tls {
        format!("server=localhost,port={port},password=xenroot")
    } else {
        format!("server=127.0.0.1,port={port},password=xenroot,nossl=true")
    };
    let home = home.to_path_buf();
    move |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_xe"));
        c.args(args)
            .env("XE_EXTRA_ARGS", &extra)
            .env("HOME", &home)
            .env("XE_KNOWN_HOSTS", home.join("known_hosts"))
            .env("RUST_BACKTRACE", "0")
            .stdin(std::process::Stdio::null());
        c
    }
}

/// Runs a command that must succeed; its trimmed standard output.
pub fn ok(mut c: std::process::Command) -> String {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{c:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}
