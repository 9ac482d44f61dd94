//! The load driver behind `benches/load.rs` (figures) and `tests/load.rs`
//! (correctness in CI): many concurrent clients against the real `xapi-sim`
//! binary started with `--state`, optionally killed with SIGKILL mid-load
//! and restarted on the same state.
//!
//! Each client is a thread with its own [`Connection`] and [`Session`]. Most
//! mix reads, writes and `Async.` tasks on objects of their own (two VMs
//! copied for them, the VMs they clone or copy from those, and keys of their
//! own on one shared VM), and keep a
//! ledger of every change the simulator acknowledged; the others loop on
//! `event.from(["vm"])` and keep the last snapshot of every VM they saw.
//!
//! Checks, reported as problems (the verdict fails on any):
//! - any call failing other than the few invalid calls the mix makes on
//!   purpose, or failing because of the kill;
//! - every acknowledged change present (other_config keys added, keys
//!   removed, descriptions, power states, clones and copies whole with disks
//!   of their own, destroyed VMs and VDIs gone), and nothing present that was
//!   never asked for; a call cut by the kill may have happened or not, and
//!   settles the ledger either way;
//! - no VM named `load-*` outside the ledgers, no disks left over by clones
//!   (except by clones the kill interrupted), no `current_operations` left
//!   behind by an operation, after the load and after a restart;
//! - every reference in the state files, as the kill left them, names an
//!   existing object;
//! - the RPCs the clients sent equal what `/metrics/rpc-count` counted;
//! - each event waiter's last view of every VM's `load-*` keys equals the
//!   database, and it saw destroyed VMs go;
//! - no client stuck: all finish within [`JOIN_DEADLINE`] of the stop, and
//!   the calls completed never stall for [`STALL`] (a stuck one is reported
//!   with the call it is in).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use xenapi::client::{Connection, Error, Options, Session, Tls};
use xenapi::Value;

/// How long clients may take to finish their call after the stop.
pub const JOIN_DEADLINE: Duration = Duration::from_secs(20);
/// No call completing for this long, with calls in flight, is a deadlock.
pub const STALL: Duration = Duration::from_secs(10);
/// The demo VM every client's VMs are copied from: halted, one disk, a CD, a VIF.
const SOURCE_VM: &str = "test-halted";
/// The VM every client adds keys to, concurrently.
const SHARED_VM: &str = "load-shared";
/// Keys a client keeps on its own VM and on the shared one before removing the oldest.
const KEEP_KEYS: usize = 8;
const KEEP_SHARED_KEYS: usize = 3;
/// One client in this many waits on events instead of mixing calls.
const WAITER_EVERY: usize = 10;
/// Clones a client makes of its VM; then it copies. Each clone adds a level
/// to the VHD chain of the source's disk, which the simulator, like the SM
/// drivers, refuses at 30 levels, and it does not coalesce chains.
const CLONE_BUDGET: u64 = 20;

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The `xapi-sim` binary.
    pub bin: PathBuf,
    /// Where the state file, the ready file and the simulator's log go.
    pub dir: PathBuf,
    pub clients: usize,
    /// The whole load, both sides of a kill included.
    pub duration: Duration,
    /// SIGKILL the simulator this far into the load, then restart it on the
    /// same state and load it again for the rest of `duration`.
    pub kill_at: Option<Duration>,
}

/// What a run measured and found.
#[derive(Debug, Default)]
pub struct Report {
    /// Printable figures, one line each.
    pub lines: Vec<String>,
    /// Everything that went wrong; empty means the run passed.
    pub problems: Vec<String>,
    /// Changes the simulator acknowledged (and the checks found present).
    pub acknowledged_writes: u64,
    /// Acknowledged changes checked after a restart.
    pub checked_after_restart: u64,
    /// Calls cut by the kill, settled after the restart.
    pub cut_by_kill: u64,
    pub calls: u64,
    /// The simulator's peak resident memory (VmHWM), the larger of both processes around a kill.
    pub peak_rss_kb: u64,
}

impl Report {
    fn line(&mut self, text: String) {
        self.lines.push(text);
    }
}

// ---------------------------------------------------------------------------
// The simulator process.

/// A running `xapi-sim`; killed (SIGKILL) when dropped.
pub struct SimProcess {
    child: Child,
    pub port: u16,
    /// Spawn to ready file.
    pub startup: Duration,
}

impl SimProcess {
    /// Starts the simulator on `state` with instant operations and waits for its ready file.
    pub fn start(bin: &Path, dir: &Path, state: &Path) -> Result<SimProcess, String> {
        let ready = dir.join("ready");
        let _ = std::fs::remove_file(&ready);
        let log_path = dir.join("xapi-sim.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("{}: {e}", log_path.display()))?;
        let started = Instant::now();
        let child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--time-scale", "0"])
            .arg("--state")
            .arg(state)
            .arg("--ready-file")
            .arg(&ready)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut sim = SimProcess { child, port: 0, startup: Duration::ZERO };
        let deadline = started + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&ready).unwrap_or_default();
            if let Some(port) = text.lines().find_map(|l| l.strip_prefix("port=")).and_then(|p| p.parse().ok()) {
                sim.port = port;
                sim.startup = started.elapsed();
                return Ok(sim);
            }
            if sim.child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                return Err(format!("xapi-sim did not start; see {}", log_path.display()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `(VmRSS, VmHWM)` in kB.
    pub fn rss_kb(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// CPU time the process has used (user + system), from `/proc/<pid>/stat`.
    pub fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the command name, which ends with the last ')': utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let ticks: u64 = rest.split_whitespace().skip(11).take(2).filter_map(|f| f.parse::<u64>().ok()).sum();
        // USER_HZ is 100 on every Linux architecture we run on.
        Duration::from_millis(ticks * 10)
    }

    /// SIGKILL, then reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The median time of an `fdatasync` after a small append in `dir`: every
/// change the simulator acknowledges waits for one, under its write lock.
fn fdatasync_median(dir: &Path) -> Option<Duration> {
    use std::io::Write;
    let path = dir.join("fdatasync-probe");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).ok()?;
    let mut times = Vec::new();
    for _ in 0..50 {
        f.write_all(&[b'x'; 300]).ok()?;
        let t = Instant::now();
        f.sync_data().ok()?;
        times.push(t.elapsed());
    }
    let _ = std::fs::remove_file(&path);
    times.sort();
    Some(times[times.len() / 2])
}

fn connect(url: &str) -> Result<Connection, Error> {
    let mut opts = Options::new(Tls::Insecure);
    // A call that takes this long is a hang; the stall watch reports it first.
    opts.read_timeout = Some(Duration::from_secs(120));
    opts.user_agent = "xapi-sim-load".into();
    Connection::new(url, opts)
}

fn login(conn: &Connection, originator: &str) -> Result<Session, Error> {
    Session::login(conn.clone(), "root", "xenroot", originator)
}

/// RPCs the simulator served since it started.
fn served(conn: &Connection) -> Result<u64, String> {
    let mut resp = conn.http_get("/metrics/rpc-count").map_err(|e| e.to_string())?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut resp, &mut text).map_err(|e| e.to_string())?;
    text.trim().parse().map_err(|e| format!("/metrics/rpc-count: {e}: {text:?}"))
}

// ---------------------------------------------------------------------------
// Values.

const NULL: &str = "OpaqueRef:NULL";

fn sv(text: &str) -> Value {
    Value::str(text)
}

fn text<'a>(rec: &'a Value, field: &str) -> &'a str {
    rec.get(field).and_then(Value::as_str).unwrap_or("")
}

fn refs(rec: &Value, field: &str) -> Vec<String> {
    rec.get(field).and_then(Value::as_array).unwrap_or(&[]).iter().filter_map(Value::as_str).map(String::from).collect()
}

fn map_keys(rec: &Value, field: &str) -> Vec<String> {
    rec.get(field).and_then(Value::as_struct).unwrap_or(&[]).iter().map(|(k, _)| k.clone()).collect()
}

/// The numbers `n` of the `load-<client>-<n>` keys of a record's other_config.
fn client_keys(rec: &Value, client: usize) -> BTreeSet<u64> {
    let prefix = format!("load-{client}-");
    map_keys(rec, "other_config").iter().filter_map(|k| k.strip_prefix(&prefix)?.parse().ok()).collect()
}

/// Every `load-*` key of a record's other_config: what event waiters compare.
fn load_keys(rec: &Value) -> BTreeSet<String> {
    map_keys(rec, "other_config").into_iter().filter(|k| k.starts_with("load-")).collect()
}

fn is_handle_invalid(e: &Error) -> bool {
    e.api_code() == Some("HANDLE_INVALID")
}

fn first_ref(v: &Value) -> Option<String> {
    v.as_array().and_then(|a| a.first()).and_then(Value::as_str).map(String::from)
}

// ---------------------------------------------------------------------------
// Clients.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Mixer,
    Waiter,
}

/// A change whose outcome is unknown: its call was cut by the kill (or
/// failed unexpectedly). The checks settle it from what the database holds.
#[derive(Debug, Clone)]
enum Pending {
    AddKey(u64),
    RemoveKey(u64),
    SharedAdd(u64),
    SharedRemove(u64),
    Describe(String),
    Power(bool),
    Make(String, How),
    DestroyVm(CloneRec),
    DestroyVdi(String),
}

/// How a client makes a VM from its own: all four give a VM with its own disks.
#[derive(Debug, Clone, Copy)]
enum How {
    Clone,
    AsyncClone,
    Copy,
    AsyncCopy,
}

#[derive(Debug, Clone)]
struct CloneRec {
    vm: String,
    name: String,
    /// The clone's disks, once read.
    vdis: Option<Vec<String>>,
}

/// What the simulator acknowledged to one client.
#[derive(Debug, Clone, Default)]
struct Ledger {
    /// Power-cycled by `Async.` tasks; gets `load-<c>-<n>` keys.
    vm_a: String,
    /// Halted; cloned; gets descriptions.
    vm_b: String,
    /// vm_b's disks, which no clone may share.
    b_vdis: Vec<String>,
    keys: BTreeSet<u64>,
    shared: BTreeSet<u64>,
    description: String,
    running: bool,
    clones: Vec<CloneRec>,
    gone_vms: Vec<String>,
    gone_vdis: Vec<String>,
    /// Disks of destroyed clones, still to destroy.
    doomed: Vec<String>,
    next: u64,
    /// VMs made so far, clones counted apart.
    made: u64,
    cloned: u64,
    pending: Vec<Pending>,
    acked: u64,
}

/// Latencies by call kind, in microseconds.
#[derive(Debug, Default)]
struct Stats {
    latency: BTreeMap<&'static str, Vec<u32>>,
    failures: Vec<String>,
    expected_errors: u64,
    /// Cut by the kill.
    cut: u64,
}

/// An event waiter's view: the `load-*` keys of every VM in the last
/// snapshot seen, `None` once it saw the VM go.
#[derive(Debug, Default)]
struct View {
    vms: HashMap<String, Option<BTreeSet<String>>>,
    batches: u64,
    events: u64,
    by_op: BTreeMap<String, u64>,
}

struct Client {
    id: usize,
    role: Role,
    rng: u64,
    ledger: Ledger,
    stats: Stats,
    view: View,
}

/// State shared by the clients of one phase and the driver.
struct Ctx {
    stop: AtomicBool,
    killed: AtomicBool,
    shared_vm: String,
    /// The key the driver adds to the shared VM once the mixers are done:
    /// a waiter that saw it has seen everything before it.
    marker: String,
    /// What each client is calling, since when.
    current: Vec<Mutex<Option<(&'static str, Instant)>>>,
    /// Calls completed.
    progress: AtomicU64,
}

impl Ctx {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.killed()
    }

    fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Client {
    fn new(id: usize, role: Role) -> Client {
        Client {
            id,
            role,
            rng: 0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            ledger: Ledger::default(),
            stats: Stats::default(),
            view: View::default(),
        }
    }

    fn rand(&mut self, n: u64) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }

    /// Clone, copy, each directly or through a task, in turn; copies once the clones are spent.
    fn how(&mut self) -> How {
        let l = &mut self.ledger;
        l.made += 1;
        let clone = l.made % 2 == 0 && l.cloned < CLONE_BUDGET;
        if clone {
            l.cloned += 1;
        }
        match (clone, l.made % 4 < 2) {
            (true, true) => How::Clone,
            (true, false) => How::AsyncClone,
            (false, true) => How::Copy,
            (false, false) => How::AsyncCopy,
        }
    }

    fn next_n(&mut self) -> u64 {
        self.ledger.next += 1;
        self.ledger.next
    }

    /// Makes one timed call; `None` when it failed (recorded unless the kill explains it).
    fn call(&mut self, ctx: &Ctx, s: &mut Session, kind: &'static str, method: &str, args: &[Value]) -> Option<Value> {
        self.timed(ctx, kind, |s| s.call(method, args), s)
    }

    fn timed(
        &mut self,
        ctx: &Ctx,
        kind: &'static str,
        f: impl FnOnce(&mut Session) -> Result<Value, Error>,
        s: &mut Session,
    ) -> Option<Value> {
        *lock(&ctx.current[self.id]) = Some((kind, Instant::now()));
        let t = Instant::now();
        let r = f(s);
        let us = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
        *lock(&ctx.current[self.id]) = None;
        ctx.progress.fetch_add(1, Ordering::Relaxed);
        match r {
            Ok(v) => {
                self.stats.latency.entry(kind).or_default().push(us);
                Some(v)
            }
            Err(_) if ctx.killed() => {
                self.stats.cut += 1;
                None
            }
            Err(e) => {
                self.stats.failures.push(format!("client {}: {kind}: {e}", self.id));
                None
            }
        }
    }

    /// An `Async.` call and its task, timed as one.
    fn task(&mut self, ctx: &Ctx, s: &mut Session, kind: &'static str, method: &str, args: &[Value]) -> Option<Value> {
        self.timed(
            ctx,
            kind,
            |s| {
                let task = s.call(method, args)?;
                let task = task.as_str().unwrap_or("").to_string();
                s.wait_task(&task, &mut |_| {})
            },
            s,
        )
    }

    /// A call that must fail with `code`.
    fn invalid(&mut self, ctx: &Ctx, s: &mut Session, kind: &'static str, method: &str, args: &[Value], code: &str) {
        *lock(&ctx.current[self.id]) = Some((kind, Instant::now()));
        let t = Instant::now();
        let r = s.call(method, args);
        let us = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
        *lock(&ctx.current[self.id]) = None;
        ctx.progress.fetch_add(1, Ordering::Relaxed);
        match r {
            Err(e) if e.api_code() == Some(code) => {
                self.stats.expected_errors += 1;
                self.stats.latency.entry(kind).or_default().push(us);
            }
            _ if ctx.killed() => self.stats.cut += 1,
            Ok(v) => {
                self.stats.failures.push(format!("client {}: {kind}: expected {code}, got success {v:?}", self.id))
            }
            Err(e) => self.stats.failures.push(format!("client {}: {kind}: expected {code}, got {e}", self.id)),
        }
    }

    /// A change: acknowledged, it goes into the ledger; cut or failed, it is pending.
    fn write(&mut self, ctx: &Ctx, s: &mut Session, p: Pending) {
        let l = &self.ledger;
        let (kind, method, args): (&'static str, &str, Vec<Value>) = match &p {
            Pending::AddKey(n) => (
                "VM.add_to_other_config",
                "VM.add_to_other_config",
                vec![sv(&l.vm_a), sv(&format!("load-{}-{n}", self.id)), sv(&n.to_string())],
            ),
            Pending::RemoveKey(n) => (
                "VM.remove_from_other_config",
                "VM.remove_from_other_config",
                vec![sv(&l.vm_a), sv(&format!("load-{}-{n}", self.id))],
            ),
            Pending::SharedAdd(n) => (
                "VM.add_to_other_config (shared VM)",
                "VM.add_to_other_config",
                vec![sv(&ctx.shared_vm), sv(&format!("load-{}-{n}", self.id)), sv(&n.to_string())],
            ),
            Pending::SharedRemove(n) => (
                "VM.remove_from_other_config (shared VM)",
                "VM.remove_from_other_config",
                vec![sv(&ctx.shared_vm), sv(&format!("load-{}-{n}", self.id))],
            ),
            Pending::Describe(d) => ("VM.set_name_description", "VM.set_name_description", vec![sv(&l.vm_b), sv(d)]),
            Pending::Power(true) => (
                "Async.VM.start + wait_task",
                "Async.VM.start",
                vec![sv(&l.vm_a), Value::Bool(false), Value::Bool(false)],
            ),
            Pending::Power(false) => {
                ("Async.VM.clean_shutdown + wait_task", "Async.VM.clean_shutdown", vec![sv(&l.vm_a)])
            }
            Pending::Make(name, How::Clone) => ("VM.clone", "VM.clone", vec![sv(&l.vm_b), sv(name)]),
            Pending::Make(name, How::AsyncClone) => {
                ("Async.VM.clone + wait_task", "Async.VM.clone", vec![sv(&l.vm_b), sv(name)])
            }
            Pending::Make(name, How::Copy) => ("VM.copy", "VM.copy", vec![sv(&l.vm_b), sv(name), sv(NULL)]),
            Pending::Make(name, How::AsyncCopy) => {
                ("Async.VM.copy + wait_task", "Async.VM.copy", vec![sv(&l.vm_b), sv(name), sv(NULL)])
            }
            Pending::DestroyVm(c) if l.next % 2 == 0 => ("VM.destroy", "VM.destroy", vec![sv(&c.vm)]),
            Pending::DestroyVm(c) => ("Async.VM.destroy + wait_task", "Async.VM.destroy", vec![sv(&c.vm)]),
            Pending::DestroyVdi(v) => ("VDI.destroy", "VDI.destroy", vec![sv(v)]),
        };
        let out = if method.starts_with("Async.") {
            self.task(ctx, s, kind, method, &args)
        } else {
            self.call(ctx, s, kind, method, &args)
        };
        let Some(out) = out else {
            // Not retried: the checks settle it from the database.
            if let Pending::DestroyVdi(v) = &p {
                self.ledger.doomed.retain(|x| x != v);
            }
            self.ledger.pending.push(p);
            return;
        };
        let l = &mut self.ledger;
        l.acked += 1;
        match p {
            Pending::AddKey(n) => {
                l.keys.insert(n);
            }
            Pending::RemoveKey(n) => {
                l.keys.remove(&n);
            }
            Pending::SharedAdd(n) => {
                l.shared.insert(n);
            }
            Pending::SharedRemove(n) => {
                l.shared.remove(&n);
            }
            Pending::Describe(d) => l.description = d,
            Pending::Power(on) => l.running = on,
            Pending::Make(name, _) => {
                let vm = out.as_str().unwrap_or("").to_string();
                l.clones.push(CloneRec { vm, name, vdis: None });
                self.read_clone_disks(ctx, s);
            }
            Pending::DestroyVm(c) => {
                l.clones.retain(|x| x.vm != c.vm);
                l.gone_vms.push(c.vm);
                l.doomed.extend(c.vdis.unwrap_or_default());
            }
            Pending::DestroyVdi(v) => {
                l.doomed.retain(|x| *x != v);
                l.gone_vdis.push(v);
            }
        }
    }

    /// Reads the disks of clones whose disks are not known yet.
    fn read_clone_disks(&mut self, ctx: &Ctx, s: &mut Session) {
        let unknown: Vec<String> =
            self.ledger.clones.iter().filter(|c| c.vdis.is_none()).map(|c| c.vm.clone()).collect();
        for vm in unknown {
            let Some(rec) = self.call(ctx, s, "VM.get_record", "VM.get_record", &[sv(&vm)]) else { return };
            let mut vdis = Vec::new();
            for vbd in refs(&rec, "VBDs") {
                let Some(b) = self.call(ctx, s, "VBD.get_record", "VBD.get_record", &[sv(&vbd)]) else { return };
                if text(&b, "type") == "Disk" {
                    vdis.push(text(&b, "VDI").to_string());
                }
            }
            if let Some(c) = self.ledger.clones.iter_mut().find(|c| c.vm == vm) {
                c.vdis = Some(vdis);
            }
        }
    }

    fn run(&mut self, ctx: &Ctx, s: &mut Session) {
        match self.role {
            Role::Mixer => self.mix(ctx, s),
            Role::Waiter => self.wait_events(ctx, s),
        }
    }

    /// The mix, per 1000 iterations: 2 VM.get_all_records, 180 VM.get_record,
    /// 100 host.get_all, 100 SR.get_all_records_where, 240 keys on the own VM,
    /// 100 keys on the shared VM, 80 descriptions, 60 power changes through
    /// tasks, 60 clones or destroys (half through tasks), 78 invalid calls.
    fn mix(&mut self, ctx: &Ctx, s: &mut Session) {
        while !ctx.stopping() {
            if let Some(v) = self.ledger.doomed.first().cloned() {
                self.write(ctx, s, Pending::DestroyVdi(v));
                continue;
            }
            if self.ledger.clones.iter().any(|c| c.vdis.is_none()) {
                self.read_clone_disks(ctx, s);
                continue;
            }
            let vm_a = self.ledger.vm_a.clone();
            match self.rand(1000) {
                0..2 => {
                    self.call(ctx, s, "VM.get_all_records", "VM.get_all_records", &[]);
                }
                2..182 => {
                    self.call(ctx, s, "VM.get_record", "VM.get_record", &[sv(&vm_a)]);
                }
                182..282 => {
                    self.call(ctx, s, "host.get_all", "host.get_all", &[]);
                }
                282..382 => {
                    let e = sv(r#"field "type" = "nfs" or field "shared" = "true""#);
                    self.call(ctx, s, "SR.get_all_records_where", "SR.get_all_records_where", &[e]);
                }
                382..622 => {
                    let p = match self.ledger.keys.first() {
                        Some(&n) if self.ledger.keys.len() >= KEEP_KEYS => Pending::RemoveKey(n),
                        _ => Pending::AddKey(self.next_n()),
                    };
                    self.write(ctx, s, p);
                }
                622..722 => {
                    let p = match self.ledger.shared.first() {
                        Some(&n) if self.ledger.shared.len() >= KEEP_SHARED_KEYS => Pending::SharedRemove(n),
                        _ => Pending::SharedAdd(self.next_n()),
                    };
                    self.write(ctx, s, p);
                }
                722..802 => {
                    let n = self.next_n();
                    let d = format!("load {} {n}", self.id);
                    self.write(ctx, s, Pending::Describe(d));
                }
                802..862 => {
                    let on = !self.ledger.running;
                    self.write(ctx, s, Pending::Power(on));
                }
                862..922 => {
                    let n = self.next_n();
                    let p = match self.ledger.clones.first() {
                        Some(c) => Pending::DestroyVm(c.clone()),
                        None => Pending::Make(format!("load-{}-made-{n}", self.id), self.how()),
                    };
                    self.write(ctx, s, p);
                }
                922..961 => {
                    let bogus = format!("OpaqueRef:load-missing-{}", self.id);
                    self.invalid(ctx, s, "invalid: VM.get_record", "VM.get_record", &[sv(&bogus)], "HANDLE_INVALID");
                }
                _ => {
                    // vm_b is always halted.
                    let args = [sv(&self.ledger.vm_b)];
                    self.invalid(
                        ctx,
                        s,
                        "invalid: VM.clean_shutdown",
                        "VM.clean_shutdown",
                        &args,
                        "VM_BAD_POWER_STATE",
                    );
                }
            }
        }
    }

    /// Loops on `event.from(["vm"])` until the stop, and then until it has
    /// seen the driver's marker (so it has seen every change before it).
    fn wait_events(&mut self, ctx: &Ctx, s: &mut Session) {
        let mut token = String::new();
        loop {
            if ctx.killed() {
                return;
            }
            if ctx.stop.load(Ordering::SeqCst) {
                let seen = self.view.vms.get(&ctx.shared_vm).and_then(Option::as_ref);
                if seen.is_some_and(|keys| keys.contains(&ctx.marker)) {
                    return;
                }
            }
            let args = [Value::Array(vec![sv("vm")]), sv(&token), Value::Float(30.0)];
            let Some(batch) = self.timed(
                ctx,
                "event.from (blocks until a change)",
                |s| s.call_with_timeout("event.from", &args, Duration::from_secs(60)),
                s,
            ) else {
                if ctx.killed() {
                    return;
                }
                // Failed: recorded; start over from a fresh snapshot.
                token.clear();
                continue;
            };
            token = text(&batch, "token").to_string();
            self.view.batches += 1;
            for ev in batch.get("events").and_then(Value::as_array).unwrap_or(&[]) {
                self.view.events += 1;
                let op = text(ev, "operation").to_string();
                let r = text(ev, "ref").to_string();
                let keys = match (op.as_str(), ev.get("snapshot")) {
                    ("del", _) => None,
                    (_, Some(snap)) => Some(load_keys(snap)),
                    (_, None) => None,
                };
                *self.view.by_op.entry(op).or_default() += 1;
                self.view.vms.insert(r, keys);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Phases.

/// What a phase's threads hand back.
struct Finished {
    clients: Vec<Client>,
    /// RPCs the clients sent.
    rpcs: u64,
    /// Calls the clients made (an `Async.` call and its task count as one).
    calls: u64,
    elapsed: Duration,
    /// CPU time the simulator used during the load.
    sim_cpu: Duration,
}

/// One stretch of load.
#[derive(Debug, Clone, Copy)]
struct Phase {
    no: usize,
    length: Duration,
    /// Ended by SIGKILL rather than a stop.
    kill: bool,
}

/// A client's thread: its id, role, and what it hands back (itself and the RPCs it sent).
type Thread = (usize, Role, JoinHandle<(Client, u64)>);

/// Runs `clients` against `sim` for the phase's length, then stops them
/// gracefully (writing the marker) or by killing `sim`.
fn phase(
    sim: &mut SimProcess,
    driver: &mut Session,
    clients: Vec<Client>,
    phase: Phase,
    report: &mut Report,
) -> Finished {
    let Phase { no: phase_no, length, kill } = phase;
    let url = sim.url();
    let n = clients.len();
    let ctx = Arc::new(Ctx {
        stop: AtomicBool::new(false),
        killed: AtomicBool::new(false),
        shared_vm: shared_vm_of(driver),
        marker: format!("load-end-{phase_no}"),
        current: (0..clients.iter().map(|c| c.id + 1).max().unwrap_or(0)).map(|_| Mutex::new(None)).collect(),
        progress: AtomicU64::new(0),
    });
    let barrier = Arc::new(Barrier::new(n + 1));
    let mut handles: Vec<Thread> = Vec::new();
    for mut c in clients {
        let (ctx, barrier, url) = (ctx.clone(), barrier.clone(), url.to_string());
        let (id, role) = (c.id, c.role);
        let h = std::thread::Builder::new()
            .name(format!("load-{id}"))
            .stack_size(256 << 10)
            .spawn(move || {
                let conn = connect(&url);
                let session = conn.as_ref().map_err(Clone::clone).and_then(|c| login(c, &format!("load-{id}")));
                barrier.wait();
                match session {
                    Ok(mut session) => c.run(&ctx, &mut session),
                    Err(e) if !ctx.killed() => c.stats.failures.push(format!("client {id}: login: {e}")),
                    Err(_) => {}
                }
                (c, conn.map(|c| c.rpc_count()).unwrap_or(0))
            })
            .expect("spawning a client thread");
        handles.push((id, role, h));
    }
    barrier.wait();
    let started = Instant::now();
    let cpu_before = sim.cpu();
    // Watch for stalls: calls in flight but none completing.
    let mut last = (0, Instant::now());
    let mut stalled = false;
    while started.elapsed() < length {
        std::thread::sleep(Duration::from_millis(50));
        let done = ctx.progress.load(Ordering::Relaxed);
        if done != last.0 {
            last = (done, Instant::now());
        } else if !stalled && last.1.elapsed() > STALL {
            stalled = true;
            report.problems.push(format!(
                "deadlock: no call completed for {} s; in flight: {}",
                STALL.as_secs(),
                in_flight(&ctx, false)
            ));
        }
    }
    let elapsed = started.elapsed();
    let calls = ctx.progress.load(Ordering::Relaxed);
    let sim_cpu = sim.cpu().saturating_sub(cpu_before);
    if kill {
        ctx.killed.store(true, Ordering::SeqCst);
        report.peak_rss_kb = report.peak_rss_kb.max(sim.rss_kb().1);
        report.line(format!(
            "kill -9 at {:.1} s with {} clients mid-call (event.from waits included)",
            elapsed.as_secs_f64(),
            count_in_flight(&ctx)
        ));
        sim.kill9();
    } else {
        ctx.stop.store(true, Ordering::SeqCst);
        let mixers: Vec<usize> = handles.iter().filter(|(_, r, _)| *r == Role::Mixer).map(|(id, _, _)| *id).collect();
        let all: Vec<usize> = handles.iter().map(|(id, _, _)| *id).collect();
        let joined = join_deadline(&handles, &mixers, &ctx, report) && {
            // Every mixer is done: a waiter that sees the marker has seen it all.
            let marker = [sv(&ctx.shared_vm), sv(&ctx.marker), sv("1")];
            if let Err(e) = driver.call("VM.add_to_other_config", &marker) {
                report.problems.push(format!("writing the end marker: {e}"));
            }
            join_deadline(&handles, &all, &ctx, report)
        };
        report.peak_rss_kb = report.peak_rss_kb.max(sim.rss_kb().1);
        if !joined {
            // Unblock the stuck ones so they can be joined.
            ctx.killed.store(true, Ordering::SeqCst);
            sim.kill9();
        }
    }
    let mut out = Finished { clients: Vec::new(), rpcs: 0, calls, elapsed, sim_cpu };
    for (_, _, h) in handles {
        let (c, rpcs) = h.join().expect("a client thread panicked");
        out.rpcs += rpcs;
        out.clients.push(c);
    }
    out
}

fn in_flight(ctx: &Ctx, waiters_too: bool) -> String {
    let mut parts = Vec::new();
    for (id, cur) in ctx.current.iter().enumerate() {
        if let Some((kind, since)) = *lock(cur) {
            if waiters_too || !kind.starts_with("event.from") {
                parts.push(format!("client {id} in {kind} for {:.1} s", since.elapsed().as_secs_f64()));
            }
        }
    }
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join("; ")
    }
}

fn count_in_flight(ctx: &Ctx) -> usize {
    ctx.current.iter().filter(|c| lock(c).is_some()).count()
}

/// Waits until the clients `ids` have finished; reports the stuck ones as deadlocked.
fn join_deadline(handles: &[Thread], ids: &[usize], ctx: &Ctx, report: &mut Report) -> bool {
    let deadline = Instant::now() + JOIN_DEADLINE;
    loop {
        let stuck: Vec<usize> =
            handles.iter().filter(|(id, _, h)| ids.contains(id) && !h.is_finished()).map(|(id, _, _)| *id).collect();
        if stuck.is_empty() {
            return true;
        }
        if Instant::now() > deadline {
            let what: Vec<String> = stuck
                .iter()
                .map(|id| match *lock(&ctx.current[*id]) {
                    Some((kind, since)) => {
                        format!("client {id} in {kind} for {:.1} s", since.elapsed().as_secs_f64())
                    }
                    None => format!("client {id} between calls"),
                })
                .collect();
            report.problems.push(format!(
                "deadlock: {} clients still running {} s after the stop: {}",
                stuck.len(),
                JOIN_DEADLINE.as_secs(),
                what.join("; ")
            ));
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn shared_vm_of(driver: &mut Session) -> String {
    driver.call("VM.get_by_name_label", &[sv(SHARED_VM)]).ok().as_ref().and_then(first_ref).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Setup and checks.

/// Clones the shared VM and each mixer's two VMs, one after another (clones
/// of one source VM do not run concurrently).
fn setup(driver: &mut Session, clients: &mut [Client]) -> Result<(), String> {
    let ctx = |what: &str, e: Error| format!("setup: {what}: {e}");
    let source = driver.call("VM.get_by_name_label", &[sv(SOURCE_VM)]).map_err(|e| ctx("VM.get_by_name_label", e))?;
    let source = first_ref(&source).ok_or_else(|| format!("setup: no VM named {SOURCE_VM}"))?;
    // Copies, not clones: each gets a disk of its own, with no VHD chain.
    let clone = |driver: &mut Session, name: &str| -> Result<String, String> {
        let r = driver.call("VM.copy", &[sv(&source), sv(name), sv(NULL)]).map_err(|e| ctx("VM.copy", e))?;
        Ok(r.as_str().unwrap_or("").to_string())
    };
    clone(driver, SHARED_VM)?;
    for c in clients.iter_mut().filter(|c| c.role == Role::Mixer) {
        let l = &mut c.ledger;
        l.vm_a = clone(driver, &format!("load-{}-a", c.id))?;
        l.vm_b = clone(driver, &format!("load-{}-b", c.id))?;
        let rec = driver.call("VM.get_record", &[sv(&l.vm_b)]).map_err(|e| ctx("VM.get_record", e))?;
        l.description = text(&rec, "name_description").to_string();
        for vbd in refs(&rec, "VBDs") {
            let b = driver.call("VBD.get_record", &[sv(&vbd)]).map_err(|e| ctx("VBD.get_record", e))?;
            if text(&b, "type") == "Disk" {
                l.b_vdis.push(text(&b, "VDI").to_string());
            }
        }
    }
    Ok(())
}

/// Reads a record, `None` when the object does not exist.
fn record(driver: &mut Session, class: &str, r: &str, problems: &mut Vec<String>) -> Option<Value> {
    match driver.call(&format!("{class}.get_record"), &[sv(r)]) {
        Ok(v) => Some(v),
        Err(e) if is_handle_invalid(&e) => None,
        Err(e) => {
            problems.push(format!("check: {class}.get_record {r}: {e}"));
            None
        }
    }
}

/// Checks a clone is whole: its VBDs and VIFs exist and point back, its disks
/// exist, list the VBD and are its own (not its source's); as many devices as
/// its source.
fn check_clone(driver: &mut Session, l: &Ledger, c: &CloneRec, problems: &mut Vec<String>) {
    let Some(rec) = record(driver, "VM", &c.vm, problems) else {
        problems.push(format!("lost acknowledged clone {} ({})", c.name, c.vm));
        return;
    };
    let Some(src) = record(driver, "VM", &l.vm_b, problems) else { return };
    let mut half = Vec::new();
    if text(&rec, "name_label") != c.name {
        half.push(format!("named {:?}", text(&rec, "name_label")));
    }
    let vbds = refs(&rec, "VBDs");
    if vbds.len() != refs(&src, "VBDs").len() || refs(&rec, "VIFs").len() != refs(&src, "VIFs").len() {
        half.push(format!("{} VBDs and {} VIFs", vbds.len(), refs(&rec, "VIFs").len()));
    }
    let mut disks = Vec::new();
    for vbd in &vbds {
        let Some(b) = record(driver, "VBD", vbd, problems) else {
            half.push(format!("VBD {vbd} missing"));
            continue;
        };
        if text(&b, "VM") != c.vm {
            half.push(format!("VBD {vbd} belongs to {}", text(&b, "VM")));
        }
        if text(&b, "type") != "Disk" {
            continue;
        }
        let vdi = text(&b, "VDI").to_string();
        match record(driver, "VDI", &vdi, problems) {
            None => half.push(format!("VDI {vdi} missing")),
            Some(d) if !refs(&d, "VBDs").contains(vbd) => half.push(format!("VDI {vdi} does not list VBD {vbd}")),
            Some(_) if l.b_vdis.contains(&vdi) => half.push(format!("shares its source's VDI {vdi}")),
            Some(_) => disks.push(vdi),
        }
    }
    for vif in refs(&rec, "VIFs") {
        match record(driver, "VIF", &vif, problems) {
            Some(v) if text(&v, "VM") == c.vm => {}
            Some(v) => half.push(format!("VIF {vif} belongs to {}", text(&v, "VM"))),
            None => half.push(format!("VIF {vif} missing")),
        }
    }
    if let Some(known) = &c.vdis {
        if *known != disks {
            half.push(format!("disks {disks:?}, acknowledged as {known:?}"));
        }
    }
    if !half.is_empty() {
        problems.push(format!("half-applied clone {} ({}): {}", c.name, c.vm, half.join(", ")));
    }
}

/// Checks (and, for pending changes, settles) one client's ledger against
/// the database. Returns the number of acknowledged facts checked.
fn check_client(driver: &mut Session, c: &mut Client, shared: &Value, problems: &mut Vec<String>) -> u64 {
    let id = c.id;
    let l = &mut c.ledger;
    let mut checked = 0;
    let Some(a) = record(driver, "VM", &l.vm_a, problems) else {
        problems.push(format!("client {id}: its VM {} is gone", l.vm_a));
        return 0;
    };
    let Some(b) = record(driver, "VM", &l.vm_b, problems) else {
        problems.push(format!("client {id}: its VM {} is gone", l.vm_b));
        return 0;
    };
    // Settle what was cut: the database says whether it happened.
    let mut cut_keys = BTreeSet::new();
    let mut cut_shared = BTreeSet::new();
    let mut cut_description = None;
    let mut cut_power = false;
    let mut cut_clones = Vec::new();
    for p in std::mem::take(&mut l.pending) {
        match p {
            Pending::AddKey(n) | Pending::RemoveKey(n) => {
                cut_keys.insert(n);
            }
            Pending::SharedAdd(n) | Pending::SharedRemove(n) => {
                cut_shared.insert(n);
            }
            Pending::Describe(d) => cut_description = Some(d),
            Pending::Power(_) => cut_power = true,
            Pending::Make(name, _) => cut_clones.push(name),
            Pending::DestroyVm(rec) => {
                if record(driver, "VM", &rec.vm, problems).is_none() {
                    l.clones.retain(|x| x.vm != rec.vm);
                    l.gone_vms.push(rec.vm);
                    l.doomed.extend(rec.vdis.unwrap_or_default());
                }
            }
            Pending::DestroyVdi(v) => {
                if record(driver, "VDI", &v, problems).is_none() {
                    l.doomed.retain(|x| *x != v);
                    l.gone_vdis.push(v);
                }
            }
        }
    }
    let mut compare = |what: &str, acked: &mut BTreeSet<u64>, actual: BTreeSet<u64>, cut: &BTreeSet<u64>| {
        for n in acked.difference(&actual) {
            if !cut.contains(n) {
                problems.push(format!("lost acknowledged write: client {id}: key load-{id}-{n} missing from {what}"));
            }
        }
        for n in actual.difference(acked) {
            if !cut.contains(n) {
                problems.push(format!("client {id}: key load-{id}-{n} on {what} was never acknowledged"));
            }
        }
        checked += acked.len() as u64;
        *acked = actual;
    };
    compare("its VM", &mut l.keys, client_keys(&a, id), &cut_keys);
    compare("the shared VM", &mut l.shared, client_keys(shared, id), &cut_shared);
    let description = text(&b, "name_description").to_string();
    if description != l.description && Some(&description) != cut_description.as_ref() {
        problems.push(format!(
            "lost acknowledged write: client {id}: description {description:?}, acknowledged {:?}",
            l.description
        ));
    }
    l.description = description;
    let running = match text(&a, "power_state") {
        "Running" => true,
        "Halted" => false,
        other => {
            problems.push(format!("client {id}: its VM is {other}"));
            l.running
        }
    };
    if running != l.running && !cut_power {
        problems.push(format!(
            "lost acknowledged write: client {id}: VM {} running={running}, acknowledged running={}",
            l.vm_a, l.running
        ));
    }
    l.running = running;
    checked += 2;
    for name in cut_clones {
        let found = driver.call("VM.get_by_name_label", &[sv(&name)]).map(|v| v.as_array().unwrap_or(&[]).to_vec());
        match found.as_deref() {
            Ok([]) => {}
            Ok([vm]) => l.clones.push(CloneRec { vm: vm.as_str().unwrap_or("").into(), name, vdis: None }),
            Ok(more) => problems.push(format!("client {id}: {} VMs named {name}", more.len())),
            Err(e) => problems.push(format!("check: VM.get_by_name_label {name}: {e}")),
        }
    }
    for clone in l.clones.clone() {
        check_clone(driver, l, &clone, problems);
        checked += 1;
    }
    // Disks of clones that were cut before theirs were read: read them now.
    for clone in l.clones.iter_mut().filter(|c| c.vdis.is_none()) {
        if let Some(rec) = record(driver, "VM", &clone.vm, problems) {
            let mut vdis = Vec::new();
            for vbd in refs(&rec, "VBDs") {
                if let Some(vb) = record(driver, "VBD", &vbd, problems).filter(|v| text(v, "type") == "Disk") {
                    vdis.push(text(&vb, "VDI").to_string());
                }
            }
            clone.vdis = Some(vdis);
        }
    }
    for vm in &l.gone_vms {
        if record(driver, "VM", vm, problems).is_some() {
            problems.push(format!("lost acknowledged write: client {id}: destroyed VM {vm} exists"));
        }
        checked += 1;
    }
    for vdi in &l.gone_vdis {
        if record(driver, "VDI", vdi, problems).is_some() {
            problems.push(format!("lost acknowledged write: client {id}: destroyed VDI {vdi} exists"));
        }
        checked += 1;
    }
    checked
}

/// Checks every client's ledger and the pool-wide rules; `after_kill` allows
/// disks left by clones the kill interrupted. Returns the facts checked.
fn check_all(driver: &mut Session, clients: &mut [Client], after_kill: bool, report: &mut Report) -> u64 {
    let mut problems = Vec::new();
    let shared_ref = shared_vm_of(driver);
    let Some(shared) = record(driver, "VM", &shared_ref, &mut problems) else {
        report.problems.push(format!("the shared VM {SHARED_VM} is gone"));
        return 0;
    };
    let mut checked = 0;
    for c in clients.iter_mut().filter(|c| c.role == Role::Mixer) {
        checked += check_client(driver, c, &shared, &mut problems);
    }
    // Nothing in the pool outside the ledgers, and no operation left behind.
    let known: BTreeSet<String> = clients
        .iter()
        .flat_map(|c| {
            let l = &c.ledger;
            [l.vm_a.clone(), l.vm_b.clone()].into_iter().chain(l.clones.iter().map(|x| x.vm.clone()))
        })
        .chain([shared_ref.clone()])
        .collect();
    let mut owned_vdis: BTreeSet<String> = BTreeSet::new();
    for c in clients.iter() {
        owned_vdis.extend(c.ledger.doomed.iter().cloned());
        owned_vdis.extend(c.ledger.clones.iter().flat_map(|x| x.vdis.clone().unwrap_or_default()));
    }
    match driver.call("VM.get_all_records", &[]) {
        Ok(all) => {
            for (r, rec) in all.as_struct().unwrap_or(&[]) {
                let name = text(rec, "name_label");
                if name.starts_with("load-") && !known.contains(r) {
                    problems.push(format!("VM {name} ({r}) exists but no client was acknowledged it"));
                }
            }
        }
        Err(e) => problems.push(format!("check: VM.get_all_records: {e}")),
    }
    for class in ["VM", "VDI", "SR", "VBD", "VIF", "host", "pool"] {
        match driver.call(&format!("{class}.get_all_records"), &[]) {
            Ok(all) => {
                for (r, rec) in all.as_struct().unwrap_or(&[]) {
                    let ops = map_keys(rec, "current_operations");
                    if !ops.is_empty() {
                        problems.push(format!(
                            "{class} {} ({r}) has current_operations {ops:?} with nothing running",
                            text(rec, "name_label")
                        ));
                    }
                }
            }
            Err(e) => problems.push(format!("check: {class}.get_all_records: {e}")),
        }
    }
    // Disks of clones that never finished: the source's disk label, attached nowhere.
    let source_labels: BTreeSet<String> = {
        let mut labels = BTreeSet::new();
        if let Some(c) = clients.iter().find(|c| c.role == Role::Mixer) {
            for v in &c.ledger.b_vdis {
                if let Some(d) = record(driver, "VDI", v, &mut problems) {
                    labels.insert(text(&d, "name_label").to_string());
                }
            }
        }
        labels
    };
    let mut orphans = 0;
    match driver.call("VDI.get_all_records", &[]) {
        Ok(all) => {
            for (r, rec) in all.as_struct().unwrap_or(&[]) {
                if source_labels.contains(text(rec, "name_label"))
                    && refs(rec, "VBDs").is_empty()
                    && !owned_vdis.contains(r)
                {
                    orphans += 1;
                }
            }
        }
        Err(e) => problems.push(format!("check: VDI.get_all_records: {e}")),
    }
    if orphans > 0 {
        if after_kill {
            report.line(format!("disks left by clones the kill interrupted: {orphans} (allowed: xapi leaks them too)"));
        } else {
            problems.push(format!("{orphans} disks of clones attached to no VM"));
        }
    }
    report.problems.extend(problems);
    checked
}

/// Each waiter's last view of every VM against the database.
fn check_waiters(driver: &mut Session, clients: &[Client], report: &mut Report) {
    let all = match driver.call("VM.get_all_records", &[]) {
        Ok(v) => v,
        Err(e) => {
            report.problems.push(format!("check: VM.get_all_records: {e}"));
            return;
        }
    };
    let db: HashMap<&str, BTreeSet<String>> =
        all.as_struct().unwrap_or(&[]).iter().map(|(r, rec)| (r.as_str(), load_keys(rec))).collect();
    let gone: BTreeSet<&str> = clients.iter().flat_map(|c| c.ledger.gone_vms.iter().map(String::as_str)).collect();
    for w in clients.iter().filter(|c| c.role == Role::Waiter) {
        let mut wrong = Vec::new();
        for (r, keys) in &db {
            match w.view.vms.get(*r) {
                Some(Some(seen)) if seen == keys => {}
                Some(Some(seen)) => {
                    let missed: Vec<&String> = keys.symmetric_difference(seen).collect();
                    wrong.push(format!("VM {r}: keys {missed:?} differ"));
                }
                Some(None) => wrong.push(format!("VM {r} seen deleted but exists")),
                None => wrong.push(format!("VM {r} never seen")),
            }
        }
        for r in &gone {
            if matches!(w.view.vms.get(*r), Some(Some(_))) {
                wrong.push(format!("destroyed VM {r} not seen deleted"));
            }
        }
        if !wrong.is_empty() {
            let n = wrong.len();
            wrong.truncate(5);
            report.problems.push(format!(
                "event waiter {}: {n} VMs differ from its events: {}",
                w.id,
                wrong.join("; ")
            ));
        }
    }
}

/// Checks the state files as a kill left them: every reference names an
/// existing object. Returns the number of objects.
fn check_state_files(state: &Path, report: &mut Report) -> usize {
    use xapi_sim::db::Db;
    use xenapi::model::Type;
    let mut db = Db::new(1);
    match xapi_sim::persist::Wal::load(state, &mut db) {
        Ok(true) => {}
        Ok(false) => {
            report.problems.push(format!("{}: nothing to load after the kill", state.display()));
            return 0;
        }
        Err(e) => {
            report.problems.push(format!("{}: {e}", state.display()));
            return 0;
        }
    }
    let mut objects = 0;
    let mut dangling = Vec::new();
    for c in 0..db.schema.classes.len() {
        let class = db.class(c);
        for (r, o) in db.iter(c) {
            objects += 1;
            for (pos, f) in class.fields.iter().enumerate() {
                let (target, targets): (&str, Vec<&str>) = match (&f.ty, &o.fields[pos]) {
                    (Type::Ref(class), Value::String(t)) => (class, vec![t.as_str()]),
                    (Type::Set(inner), Value::Array(items)) => match &**inner {
                        Type::Ref(class) => (class, items.iter().filter_map(Value::as_str).collect()),
                        _ => continue,
                    },
                    _ => continue,
                };
                // Sessions and tasks are not kept in the state.
                if db.class_index(target).is_none_or(|t| db.is_transient(t)) {
                    continue;
                }
                for t in targets {
                    if t != xenapi::NULL_REF && !t.is_empty() && db.get(t).is_none() {
                        dangling.push(format!("{}.{} of {r} names missing {t}", class.name(), f.name()));
                    }
                }
            }
        }
    }
    if !dangling.is_empty() {
        let n = dangling.len();
        dangling.truncate(5);
        report.problems.push(format!("state after the kill: {n} dangling references: {}", dangling.join("; ")));
    }
    objects
}

// ---------------------------------------------------------------------------
// The run.

/// Runs the plan: setup, load (killed and restarted with `kill_at`), checks.
/// `log` hears progress as it happens; the figures are in the report.
pub fn run(plan: &Plan, log: &mut dyn FnMut(&str)) -> Report {
    let mut report = Report::default();
    if let Err(e) = run_inner(plan, log, &mut report) {
        report.problems.push(e);
    }
    let verdict = if report.problems.is_empty() {
        "PASS".to_string()
    } else {
        format!("FAIL ({} problems)", report.problems.len())
    };
    report.line(format!("verdict: {verdict}"));
    report
}

fn run_inner(plan: &Plan, log: &mut dyn FnMut(&str), report: &mut Report) -> Result<(), String> {
    std::fs::create_dir_all(&plan.dir).map_err(|e| format!("{}: {e}", plan.dir.display()))?;
    let state = plan.dir.join("state.json");
    for f in ["state.json", "state.json.journal", "xapi-sim.log"] {
        let _ = std::fs::remove_file(plan.dir.join(f));
    }
    let waiters = if plan.clients >= 2 { (plan.clients / WAITER_EVERY).max(1) } else { 0 };
    let mut clients: Vec<Client> =
        (0..plan.clients).map(|id| Client::new(id, if id < waiters { Role::Waiter } else { Role::Mixer })).collect();
    let phases: Vec<(Duration, bool)> = match plan.kill_at {
        Some(t) => vec![(t.min(plan.duration), true), (plan.duration.saturating_sub(t), false)],
        None => vec![(plan.duration, false)],
    };
    report.line(format!(
        "clients: {} ({} mixing calls, {waiters} waiting on event.from), each its own connection and session",
        plan.clients,
        plan.clients - waiters
    ));
    report.line(format!(
        "load: {} s{}",
        plan.duration.as_secs_f64(),
        plan.kill_at.map(|t| format!(", kill -9 at {} s, restart, load again", t.as_secs_f64())).unwrap_or_default()
    ));
    if let Some(d) = fdatasync_median(&plan.dir) {
        report.line(format!(
            "disk: fdatasync after a small append, median {} (each acknowledged change waits for one)",
            ms(d)
        ));
    }
    let mut sim = SimProcess::start(&plan.bin, &plan.dir, &state)?;
    report.line(format!("simulator: {} --state {} --time-scale 0", plan.bin.display(), state.display()));
    report.line(format!("startup (spawn -> ready file), new pool: {}", ms(sim.startup)));
    let mut conn = connect(&sim.url()).map_err(|e| e.to_string())?;
    let mut driver = login(&conn, "load-driver").map_err(|e| format!("login: {e}"))?;
    let t = Instant::now();
    setup(&mut driver, &mut clients)?;
    let vms = 1 + 2 * (plan.clients - waiters);
    report.line(format!("setup: {vms} VMs copied for the clients in {}", ms(t.elapsed())));
    log(&format!("setup done: {vms} VMs; load for {} s", plan.duration.as_secs_f64()));

    let mut totals = (0u64, Duration::ZERO);
    let mut rpcs_this_sim = 0u64;
    let mut restarts = 0;
    for (no, (length, kill)) in phases.iter().copied().enumerate() {
        for c in clients.iter_mut() {
            c.view.vms.clear();
        }
        let done = phase(&mut sim, &mut driver, clients, Phase { no: no + 1, length, kill }, report);
        clients = done.clients;
        let calls: u64 = done.calls;
        totals.0 += calls;
        totals.1 += done.elapsed;
        rpcs_this_sim += done.rpcs;
        let secs = done.elapsed.as_secs_f64().max(1e-9);
        report.line(format!(
            "{}: {} calls in {:.1} s: {:.0} calls/s; {} RPCs sent ({:.0} RPC/s); simulator CPU {:.1} s ({:.0}% of a core)",
            match (phases.len(), kill) {
                (1, _) => "load".to_string(),
                (_, true) => format!("phase {} (until kill -9)", no + 1),
                (_, false) => format!("phase {} (after the restart)", no + 1),
            },
            calls,
            done.elapsed.as_secs_f64(),
            calls as f64 / secs,
            done.rpcs,
            done.rpcs as f64 / secs,
            done.sim_cpu.as_secs_f64(),
            100.0 * done.sim_cpu.as_secs_f64() / secs,
        ));
        log(&format!("phase {} done: {calls} calls", no + 1));
        if !kill {
            continue;
        }
        // The kill: the state as it was left, then a restart on it.
        let objects = check_state_files(&state, report);
        sim = SimProcess::start(&plan.bin, &plan.dir, &state)?;
        restarts += 1;
        report.line(format!(
            "restart (spawn -> ready file) on the killed state: {}, {objects} records recovered",
            ms(sim.startup)
        ));
        conn = connect(&sim.url()).map_err(|e| e.to_string())?;
        driver = login(&conn, "load-driver").map_err(|e| format!("login after the restart: {e}"))?;
        rpcs_this_sim = 0;
        let cut: u64 = clients.iter().map(|c| c.ledger.pending.len() as u64).sum();
        let acked: u64 = clients.iter().map(|c| c.ledger.acked).sum();
        let checked = check_all(&mut driver, &mut clients, true, report);
        report.checked_after_restart += checked;
        report.cut_by_kill += cut;
        report.line(format!(
            "after the restart: {acked} changes acknowledged before the kill; {checked} acknowledged facts checked \
             present; {cut} changes cut by the kill, settled either way"
        ));
        log(&format!("restarted and checked: {checked} facts"));
    }

    // The end: counts, waiters, every acknowledged change.
    let sent = rpcs_this_sim + conn.rpc_count();
    match served(&conn) {
        Ok(n) if n == sent => {
            report.line(format!("RPCs: clients and driver sent {sent}, the simulator served {n}: consistent"))
        }
        Ok(n) => report.problems.push(format!("RPCs: clients and driver sent {sent}, the simulator served {n}")),
        Err(e) => report.problems.push(format!("reading /metrics/rpc-count: {e}")),
    }
    check_waiters(&mut driver, &clients, report);
    let checked = check_all(&mut driver, &mut clients, plan.kill_at.is_some(), report);
    report.peak_rss_kb = report.peak_rss_kb.max(sim.rss_kb().1);
    drop(sim);

    report.calls = totals.0;
    report.acknowledged_writes = clients.iter().map(|c| c.ledger.acked).sum();
    report.line(format!(
        "total: {} calls in {:.1} s of load: {:.0} calls/s; {} changes acknowledged, {checked} facts checked at the end",
        totals.0,
        totals.1.as_secs_f64(),
        totals.0 as f64 / totals.1.as_secs_f64().max(1e-9),
        report.acknowledged_writes
    ));
    latency_table(&clients, report);
    let failures: Vec<String> = clients.iter().flat_map(|c| c.stats.failures.iter().cloned()).collect();
    let expected: u64 = clients.iter().map(|c| c.stats.expected_errors).sum();
    let cut: u64 = clients.iter().map(|c| c.stats.cut).sum();
    report.line(format!(
        "failures: {}; invalid calls refused as expected: {expected}; calls cut by the kill: {cut}",
        failures.len()
    ));
    let mut shown = failures.clone();
    shown.truncate(20);
    report.problems.extend(shown);
    if failures.len() > 20 {
        report.problems.push(format!("... and {} more failures", failures.len() - 20));
    }
    let mut by_op: BTreeMap<String, u64> = BTreeMap::new();
    let (mut batches, mut events) = (0, 0);
    for w in clients.iter().filter(|c| c.role == Role::Waiter) {
        batches += w.view.batches;
        events += w.view.events;
        for (op, n) in &w.view.by_op {
            *by_op.entry(op.clone()).or_default() += n;
        }
    }
    let ops: Vec<String> = by_op.iter().map(|(op, n)| format!("{op} {n}")).collect();
    report.line(format!(
        "event waiters: {waiters}, {batches} event.from answers, {events} VM events ({}), {:.1} events per answer",
        ops.join(", "),
        events as f64 / (batches.max(1)) as f64
    ));
    report.line(format!(
        "simulator peak RSS (VmHWM){}: {:.1} MB",
        if restarts > 0 { ", the larger of both processes" } else { "" },
        report.peak_rss_kb as f64 / 1024.0
    ));
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn latency_table(clients: &[Client], report: &mut Report) {
    let mut all: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
    for c in clients {
        for (kind, v) in &c.stats.latency {
            all.entry(kind).or_default().extend_from_slice(v);
        }
    }
    let width = all.keys().map(|k| k.len()).max().unwrap_or(10);
    report.line(format!(
        "latency per call (successful, or refused as expected), ms:\n  {:<width$} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "call", "count", "p50", "p90", "p99", "max"
    ));
    for (kind, mut v) in all {
        v.sort_unstable();
        let q = |p: f64| f64::from(v[((v.len() as f64 * p) as usize).min(v.len() - 1)]) / 1e3;
        report.line(format!(
            "  {kind:<width$} {:>8} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            v.len(),
            q(0.50),
            q(0.90),
            q(0.99),
            f64::from(v[v.len() - 1]) / 1e3
        ));
    }
}
