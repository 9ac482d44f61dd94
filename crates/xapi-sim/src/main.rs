//! `xapi-sim`: run a simulated XenServer pool on HTTP or HTTPS.

// The simulator binary owns its terminal (the ready line, fatal errors);
// the library under it never prints.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use xapi_sim::faults::{self, Rule};
use xapi_sim::fixtures::FixtureOptions;
use xapi_sim::server::{self, SimOptions};
use xapi_sim::Config;

// glibc keeps a freed arena per worker thread; big record dumps then pin
// hundreds of MB. mimalloc hands memory back.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A XenAPI-compatible simulated pool: XML-RPC and JSON-RPC over HTTP(S).
#[derive(Parser, Debug)]
#[command(name = "xapi-sim", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Accepted credentials, repeatable; `:ROLE` gives the user one of xapi's
    /// roles (pool-admin, pool-operator, vm-power-admin, vm-admin,
    /// vm-operator, read-only; default pool-admin), enforced on every call.
    #[arg(long = "user", value_name = "NAME:PASSWORD[:ROLE]", value_parser = parse_user, default_value = "root:xenroot")]
    users: Vec<(String, String, Option<String>)>,
    /// A JSON directory of users and groups (see the README) that
    /// `pool.enable_external_auth` with auth type AD joins, so that its
    /// users log in as subjects with their roles.
    #[arg(long, value_name = "FILE")]
    directory: Option<PathBuf>,
    /// Seconds between checks of the performance alarms configured in
    /// `other_config:perfmon` (xapi's perfmon: 300); 0 turns them off.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    perfmon_interval: u64,
    /// Serve HTTPS (a self-signed certificate is generated unless --cert/--key are given).
    #[arg(long)]
    tls: bool,
    /// PEM certificate for --tls.
    #[arg(long, requires = "key", value_name = "FILE")]
    cert: Option<PathBuf>,
    /// PEM private key for --tls.
    #[arg(long, requires = "cert", value_name = "FILE")]
    key: Option<PathBuf>,
    /// Keep the pool in FILE: every acknowledged change is durable; restart restores it.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Start from this xapi database dump (`xe pool-dump-database` on a real
    /// pool, or of a simulator) instead of the demo pool. With --state, only
    /// when the state does not exist yet; it then starts as the loaded pool.
    #[arg(long, value_name = "FILE", conflicts_with = "vms")]
    load: Option<PathBuf>,
    /// Add N extra VMs (with a disk and a VIF each) to a new pool.
    #[arg(long, default_value_t = 0, value_name = "N")]
    vms: usize,
    /// Seed for uuids and refs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Sessions kept per originator before the least recently used is evicted.
    #[arg(long, default_value_t = 500, value_name = "N")]
    session_limit: usize,
    /// Seconds of inactivity after which a session expires.
    #[arg(long, default_value_t = 86_400, value_name = "SECONDS")]
    session_idle: u64,
    /// Seconds a finished task is kept.
    #[arg(long, default_value_t = 3_600, value_name = "SECONDS")]
    task_ttl: u64,
    /// Multiplier for simulated operation durations (0 = instant).
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR")]
    time_scale: f64,
    /// Events kept for event.next before a slow client gets EVENTS_LOST.
    #[arg(long, default_value_t = 20_000, value_name = "N")]
    event_journal: usize,
    /// Answer these methods with MESSAGE_METHOD_UNKNOWN, as a server without
    /// them would (Async. forms too); `*` matches any characters; repeatable.
    #[arg(long, value_name = "METHOD[,METHOD...]", value_delimiter = ',')]
    disable: Vec<String>,
    /// Fault and latency rules: a JSON list of rules such as
    /// `{"method": "VM.start", "error": ["HOST_NOT_ENOUGH_FREE_MEMORY", "4294967296", "1073741824"], "count": 1}`
    /// (see README, "Faults and latency"); `GET`/`PUT /sim/faults` change them while running.
    #[arg(long, value_name = "FILE.json")]
    faults: Option<PathBuf>,
    /// Delay every answer by MS milliseconds (a rule after those of --faults).
    #[arg(long, value_name = "MS")]
    delay: Option<u64>,
    /// With --delay: vary each delay uniformly by up to MS milliseconds either way.
    #[arg(long, requires = "delay", value_name = "MS")]
    jitter: Option<u64>,
    /// Append one JSON line per call to FILE: time, client, method, duration, result or error code, fault.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Read metrics at this fixed time (Unix seconds) instead of the clock,
    /// for reproducible data-source values and rrd_updates.
    #[arg(long, value_name = "EPOCH")]
    metrics_clock: Option<i64>,
    /// Once listening, write `port=N` and `pid=N` lines to FILE (atomically:
    /// it appears whole), for programs that start the simulator and wait.
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
    /// Serve only --listen: a new pool's hosts get documentation addresses
    /// (192.0.2.x) instead of loopback addresses that each answer as that
    /// host (127.0.0.11, .12, ...; the default when --listen is loopback).
    #[arg(long)]
    no_host_listeners: bool,
    /// Serve N pools: pool 1 as usual, pools 2..N each a standalone host
    /// at 127.0.K.11 (on the same port), which can join other pools, be
    /// ejected and joined again; with --state FILE, pool K is kept in FILE.poolK.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=250), conflicts_with = "no_host_listeners")]
    pools: u16,
}

/// `NAME:PASSWORD[:ROLE]`: a trailing `:ROLE` counts when it names one of
/// xapi's roles (a password may itself hold colons).
fn parse_user(s: &str) -> Result<(String, String, Option<String>), String> {
    let Some((user, rest)) = s.split_once(':').filter(|(u, _)| !u.is_empty()) else {
        return Err("expected NAME:PASSWORD[:ROLE]".to_string());
    };
    match rest.rsplit_once(':') {
        Some((password, role)) if xenapi::model::ROLES.contains(&role) => {
            Ok((user.to_string(), password.to_string(), Some(role.to_string())))
        }
        _ => Ok((user.to_string(), rest.to_string(), None)),
    }
}

/// The rules of `--faults`, then the `--delay` rule.
fn fault_rules(args: &Args) -> Result<Vec<Rule>, String> {
    let mut rules = match &args.faults {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            faults::parse_rules(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Vec::new(),
    };
    if let Some(delay) = args.delay {
        let jitter = args.jitter.unwrap_or(0);
        if delay.saturating_add(jitter) > faults::MAX_DELAY_MS {
            return Err(format!("--delay plus --jitter must be at most {} ms", faults::MAX_DELAY_MS));
        }
        rules.push(Rule::delay(delay, jitter));
    }
    Ok(rules)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rules = match fault_rules(&args) {
        Ok(rules) => rules,
        Err(e) => {
            eprintln!("xapi-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let directory = match args.directory.as_deref().map(xapi_sim::directory::Directory::load).transpose() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("xapi-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = SimOptions {
        listen: args.listen,
        config: Config {
            users: args.users.iter().map(|(u, p, _)| (u.clone(), p.clone())).collect(),
            roles: args.users.iter().filter_map(|(u, _, r)| r.clone().map(|r| (u.clone(), r))).collect(),
            session_limit: args.session_limit,
            session_idle: Duration::from_secs(args.session_idle),
            task_ttl: Duration::from_secs(args.task_ttl),
            time_scale: args.time_scale,
            journal_capacity: args.event_journal,
            disabled: args.disable.iter().map(|m| m.trim().to_string()).filter(|m| !m.is_empty()).collect(),
            faults: rules,
            trace: args.trace.clone(),
            directory,
            metrics_clock: args.metrics_clock,
            perfmon_interval: (args.perfmon_interval > 0).then(|| Duration::from_secs(args.perfmon_interval)),
        },
        tls: args.tls,
        cert: args.cert.zip(args.key),
        state: args.state,
        load: args.load,
        fixture: FixtureOptions {
            extra_vms: args.vms,
            loopback_hosts: args.listen.ip().is_loopback() && !args.no_host_listeners,
            standalone: None,
        },
        seed: args.seed,
    };
    let first = (args.users[0].0.clone(), args.users[0].1.clone());
    let pools = usize::from(args.pools);
    match run(opts, &first, args.ready_file.as_deref(), !args.no_host_listeners, pools) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xapi-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the ready file beside its final name, then renames it into place.
fn write_ready_file(path: &std::path::Path, port: u16) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("port={port}\npid={}\n", std::process::id()))?;
    std::fs::rename(&tmp, path)
}

/// `with_hosts`: each host with a loopback address answers on it too.
fn run(
    opts: SimOptions,
    user: &(String, String),
    ready_file: Option<&std::path::Path>,
    with_hosts: bool,
    pools: usize,
) -> std::io::Result<()> {
    server::install_crypto();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let (registry, core, notes) = if pools > 1 {
            let (registry, notes) = xapi_sim::pools::Pools::build(&opts, pools)?;
            let first = registry.cores()[0].clone();
            (Some(registry), first, notes)
        } else {
            let (core, notes) = server::build_core_noting(&opts)?;
            (None, core, notes)
        };
        let source = opts.load.as_deref().or(opts.state.as_deref()).map(|p| p.display().to_string());
        for note in notes {
            eprintln!("xapi-sim: {}: {note}", source.as_deref().unwrap_or("database"));
        }
        let listener = std::net::TcpListener::bind(opts.listen)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", opts.listen)))?;
        let addr = listener.local_addr()?;
        let hosts = match &registry {
            Some(registry) => registry.host_listeners(addr)?,
            None if with_hosts => server::host_listeners(&core, addr)?,
            None => Vec::new(),
        };
        let tls = opts.tls;
        let scheme = if opts.tls { "https" } else { "http" };
        let nossl = if opts.tls { "" } else { ",nossl=true" };
        println!(
            "xapi-sim ready at {scheme}://{addr}/ XE_EXTRA_ARGS=server={},port={}{nossl},username={},password={}",
            addr.ip(),
            addr.port(),
            user.0,
            user.1
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        if let Some(path) = ready_file {
            write_ready_file(path, addr.port())?;
        }
        for (address, _) in &hosts {
            println!("xapi-sim: a pool member or master also answers at {scheme}://{address}:{}/", addr.port());
        }
        let _ = std::io::stdout().flush();
        match registry {
            Some(registry) => registry.serve(listener, hosts, tls, shutdown_signal()).await,
            None => server::serve(core, listener, hosts, tls, shutdown_signal()).await,
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
