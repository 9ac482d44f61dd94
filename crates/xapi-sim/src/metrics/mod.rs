//! Simulated performance metrics, as xcp-rrdd keeps them: the data sources
//! of every host, live VM (dom0 included) and attached SR, with xapi's
//! names, descriptions, units, bounds and enabled-by-default flags, and a
//! pure model of their values. A value is a function of (object, data
//! source, time): a baseline seeded by the object's uuid, a daily sine and
//! deterministic noise, shaped by the object's state (a paused VM uses no
//! CPU; a VM being exported reads its disks). Nothing is sampled or stored:
//! [`rrd`] computes xapi's archives (5 s, 1 min, 1 h, 1 day) on demand, so a
//! simulator that just started already has a year of history.
//!
//! What is kept is only what users change: data sources switched on with
//! `record_data_source` or dropped with `forget_data_source_archives`
//! ([`Metrics`]), and the clock, which `--metrics-clock` pins for
//! reproducible output.

pub mod rrd;

use crate::db::Db;
use parking_lot::Mutex;
use std::collections::HashMap;

/// The simulator's metrics state: the clock and the user's changes to which
/// data sources are recorded.
#[derive(Debug, Default)]
pub struct Metrics {
    clock: Option<i64>,
    /// By object uuid: data source name -> recorded (true) or forgotten (false).
    changed: Mutex<HashMap<String, HashMap<String, bool>>>,
}

impl Metrics {
    /// `clock`: a fixed time (Unix seconds) for every reading, or `None` for the system clock.
    pub fn new(clock: Option<i64>) -> Metrics {
        Metrics { clock, changed: Mutex::new(HashMap::new()) }
    }

    /// Now, in Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
        })
    }

    /// The time of the latest 5-second sample (xcp-rrdd's `last_updated`).
    pub fn last_update(&self) -> i64 {
        self.now().div_euclid(STEP) * STEP
    }

    /// Whether `source` of object `uuid` is recorded in its RRD.
    pub fn enabled(&self, uuid: &str, source: &Source) -> bool {
        self.changed.lock().get(uuid).and_then(|m| m.get(&source.name).copied()).unwrap_or(source.default)
    }

    /// Records (`true`) or forgets (`false`) a data source of object `uuid`.
    pub fn set(&self, uuid: &str, name: &str, on: bool) {
        self.changed.lock().entry(uuid.to_string()).or_default().insert(name.to_string(), on);
    }

    /// The enabled sources among `all`.
    pub fn recorded(&self, uuid: &str, all: Vec<Source>) -> Vec<Source> {
        let changed = self.changed.lock();
        let mine = changed.get(uuid);
        all.into_iter().filter(|s| mine.and_then(|m| m.get(&s.name).copied()).unwrap_or(s.default)).collect()
    }
}

/// xcp-rrdd's sampling step, seconds.
pub const STEP: i64 = 5;

/// What owns an RRD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Host,
    Vm,
    Sr,
}

impl Owner {
    /// The owner's word in `rrd_updates` legends.
    pub fn word(self) -> &'static str {
        match self {
            Owner::Host => "host",
            Owner::Vm => "vm",
            Owner::Sr => "sr",
        }
    }
}

/// How a data source's value moves.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// The mean value.
    pub base: f64,
    /// Amplitude of the daily sine, as a fraction of `base`.
    pub daily: f64,
    /// Amplitude of the noise, as a fraction of `base`.
    pub noise: f64,
    /// Whether values are whole numbers (counters of bytes, KiB...).
    pub whole: bool,
    pub seed: u64,
    /// From this time on, `base` is raised by the second amount (a VM
    /// being exported reads its disk).
    pub boost: Option<(i64, f64)>,
}

impl Model {
    /// A value that does not move (memory sizes, counts).
    pub fn constant(v: f64) -> Model {
        Model { base: v, daily: 0.0, noise: 0.0, whole: false, seed: 0, boost: None }
    }

    /// The sample that ends at `t` (a multiple of [`STEP`]).
    pub fn at(&self, t: i64) -> f64 {
        let mut base = self.base;
        if let Some((from, extra)) = self.boost {
            if t >= from {
                base += extra;
            }
        }
        if self.daily == 0.0 && self.noise == 0.0 {
            return base;
        }
        let phase = (self.seed % 86_400) as f64;
        let day = ((t as f64 + phase) / 86_400.0 * std::f64::consts::TAU).sin();
        let n = unit(self.seed ^ (t.div_euclid(STEP) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let v = (base * (1.0 + self.daily * day + self.noise * n)).max(0.0);
        if self.whole {
            v.round()
        } else {
            v
        }
    }
}

/// splitmix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic value in [-1, 1).
fn unit(seed: u64) -> f64 {
    (mix(seed) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// A stable seed for a name (FNV-1a).
pub fn seed_of(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    mix(h)
}

/// A fraction in [lo, hi) drawn from `seed`.
fn between(seed: u64, lo: f64, hi: f64) -> f64 {
    lo + (unit(seed) + 1.0) / 2.0 * (hi - lo)
}

/// One data source: xapi's `data_source` record plus its RRD type and model.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub description: String,
    pub units: &'static str,
    /// `GAUGE`, `DERIVE` or `ABSOLUTE`.
    pub ty: &'static str,
    pub min: f64,
    pub max: f64,
    /// Recorded unless the user says otherwise (xapi's `standard`).
    pub default: bool,
    pub model: Model,
}

impl Source {
    fn new(name: String, description: String, units: &'static str, ty: &'static str, model: Model) -> Source {
        Source { name, description, units, ty, min: 0.0, max: f64::INFINITY, default: true, model }
    }

    fn max(mut self, max: f64) -> Source {
        self.max = max;
        self
    }

    fn off(mut self) -> Source {
        self.default = false;
        self
    }
}

/// A moving model for data source `name` of object `uuid`.
fn moving(uuid: &str, name: &str, base: f64, daily: f64, noise: f64) -> Model {
    Model { base, daily, noise, whole: false, seed: seed_of(&[uuid, name]), boost: None }
}

fn whole(mut m: Model) -> Model {
    m.whole = true;
    m
}

/// The block-device statistics of rrdp-iostat, for a VBD (`vbd_<dev>_`, `VDI`)
/// or an SR seen from a host (`_<first 8 of uuid>`, `SR`).
fn io_sources(
    uuid: &str,
    name: &dyn Fn(&str) -> String,
    what: &str,
    load: f64,
    boost: Option<(i64, f64)>,
) -> Vec<Source> {
    let m = |key: &str, base: f64, daily: f64, noise: f64| moving(uuid, &name(key), base, daily, noise);
    let mut read = whole(m("read", 2_000_000.0 * load, 0.5, 0.6));
    if let Some((from, extra)) = boost {
        read.boost = Some((from, extra));
    }
    let write = whole(m("write", 900_000.0 * load, 0.5, 0.6));
    let mib = 1_048_576.0;
    let mut tput_read = m("io_throughput_read", read.base / mib, 0.5, 0.6);
    tput_read.boost = boost.map(|(f, e)| (f, e / mib));
    let tput_write = m("io_throughput_write", write.base / mib, 0.5, 0.6);
    let mut tput_total = m("io_throughput_total", (read.base + write.base) / mib, 0.5, 0.6);
    tput_total.boost = boost.map(|(f, e)| (f, e / mib));
    let mut iops_read = whole(m("iops_read", read.base / 16_384.0, 0.5, 0.6));
    iops_read.boost = boost.map(|(f, e)| (f, e / 65_536.0));
    let iops_write = whole(m("iops_write", write.base / 16_384.0, 0.5, 0.6));
    let iops_total = whole(m("iops_total", (read.base + write.base) / 16_384.0, 0.5, 0.6));
    vec![
        Source::new(name("read"), format!("Reads from device {what}, in B/s"), "B/s", "DERIVE", read),
        Source::new(name("write"), format!("Writes from device {what}, in B/s"), "B/s", "DERIVE", write),
        Source::new(
            name("read_latency"),
            format!("Read latency from device {what}, in microseconds"),
            "μs",
            "GAUGE",
            whole(m("read_latency", 350.0, 0.2, 0.4)),
        ),
        Source::new(
            name("write_latency"),
            format!("Write latency from device {what}, in microseconds"),
            "μs",
            "GAUGE",
            whole(m("write_latency", 600.0, 0.2, 0.4)),
        ),
        Source::new(
            name("io_throughput_read"),
            format!("Data read from the {what}, in MiB/s"),
            "MiB/s",
            "ABSOLUTE",
            tput_read,
        ),
        Source::new(
            name("io_throughput_write"),
            format!("Data written to the {what}, in MiB/s"),
            "MiB/s",
            "ABSOLUTE",
            tput_write,
        ),
        Source::new(name("io_throughput_total"), format!("All {what} I/O, in MiB/s"), "MiB/s", "ABSOLUTE", tput_total),
        Source::new(name("iops_read"), "Read requests per second".into(), "requests/s", "ABSOLUTE", iops_read),
        Source::new(name("iops_write"), "Write requests per second".into(), "requests/s", "ABSOLUTE", iops_write),
        Source::new(name("iops_total"), "I/O Requests per second".into(), "requests/s", "ABSOLUTE", iops_total),
        Source::new(
            name("iowait"),
            "Total I/O wait time (all requests) per second".into(),
            "s/s",
            "ABSOLUTE",
            m("iowait", 0.01 * load, 0.3, 0.5),
        ),
        Source::new(
            name("inflight"),
            "Number of I/O requests currently in flight".into(),
            "requests",
            "GAUGE",
            whole(m("inflight", 2.0 * load, 0.3, 0.9)),
        ),
        Source::new(name("latency"), "Average I/O latency".into(), "μs", "GAUGE", m("latency", 450.0, 0.2, 0.4)),
        Source::new(
            name("avgqu_sz"),
            "Average I/O queue size".into(),
            "requests",
            "GAUGE",
            m("avgqu_sz", 1.5 * load, 0.3, 0.5),
        ),
    ]
}

fn is_live_vm(db: &Db, vm: &str) -> bool {
    matches!(db.field_str(vm, "power_state"), "Running" | "Paused")
}

/// The host whose RRDs hold `object`'s: a live VM's host, an SR's first
/// host with it attached; `None` when it has no RRD.
pub fn rrd_host(db: &Db, object: &str) -> Option<String> {
    if db.is(object, "host") {
        return Some(object.to_string());
    }
    if db.is(object, "VM") {
        let host = db.string(object, "resident_on");
        return (is_live_vm(db, object) && db.is(&host, "host")).then_some(host);
    }
    if db.is(object, "SR") {
        if matches!(db.field_str(object, "type"), "iso" | "udev") {
            return None;
        }
        return db
            .strings(object, "PBDs")
            .into_iter()
            .find(|p| db.bool(p, "currently_attached"))
            .map(|p| db.string(&p, "host"))
            .filter(|h| db.is(h, "host"));
    }
    None
}

/// Every data source `object` (a host, VM or SR reference) has, in the order
/// of its RRD; `None` when it has no RRD (a halted VM, a detached SR).
/// `now` places the start of what the VM is doing (an export reads its disks).
pub fn sources(db: &Db, object: &str, now: i64) -> Option<Vec<Source>> {
    rrd_host(db, object)?;
    if db.is(object, "host") {
        Some(host_sources(db, object, now))
    } else if db.is(object, "VM") {
        Some(vm_sources(db, object))
    } else {
        Some(sr_sources(db, object, now))
    }
}

/// The live VMs resident on `host`, dom0 first, in database order.
pub fn resident_vms(db: &Db, host: &str) -> Vec<String> {
    let mut vms: Vec<String> = db.strings(host, "resident_VMs").into_iter().filter(|v| is_live_vm(db, v)).collect();
    vms.sort_by_key(|v| !db.bool(v, "is_control_domain"));
    vms
}

/// The SRs attached on `host` that have RRDs there.
pub fn host_srs(db: &Db, host: &str) -> Vec<String> {
    db.strings(host, "PBDs")
        .into_iter()
        .filter(|p| db.bool(p, "currently_attached"))
        .map(|p| db.string(&p, "SR"))
        .filter(|sr| rrd_host(db, sr).as_deref() == Some(host))
        .collect()
}

/// An export in progress reads the VM's disks flat out: 80 MB/s more read
/// from each SR holding one of them, from the start of the task doing it
/// (the last minute when its start is unknown).
fn export_reads(db: &Db, sr: &str, now: i64) -> Option<(i64, f64)> {
    let mut from: Option<i64> = None;
    for vdi in db.strings(sr, "VDIs") {
        for vbd in db.strings(&vdi, "VBDs") {
            let vm = db.string(&vbd, "VM");
            let Some(ops) = db.field(&vm, "current_operations").and_then(xenapi::Value::as_struct) else {
                continue;
            };
            for (task, op) in ops {
                if op.as_str() == Some("export") {
                    let created = db.field(task, "created").and_then(|v| match v {
                        xenapi::Value::DateTime(s) | xenapi::Value::String(s) => xenapi::datetime::parse(s),
                        _ => None,
                    });
                    let start = created.filter(|c| *c <= now).unwrap_or(now - 60).div_euclid(STEP) * STEP;
                    from = Some(from.map_or(start, |f: i64| f.min(start)));
                }
            }
        }
    }
    from.map(|f| (f, 80_000_000.0))
}

/// A VM's CPU load, its baseline (0.02..0.45 of a vCPU).
fn vm_load(uuid: &str) -> f64 {
    between(seed_of(&[uuid, "load"]), 0.02, 0.45)
}

fn host_sources(db: &Db, host: &str, now: i64) -> Vec<Source> {
    let uuid = db.string(host, "uuid");
    let uuid = uuid.as_str();
    let metrics = db.string(host, "metrics");
    let cpus = db.strings(host, "host_CPUs").len().max(1);
    let vms = resident_vms(db, host);
    let vcpus: i64 = vms.iter().map(|v| db.int(&db.string(v, "metrics"), "VCPUs_number").max(1)).sum();
    let demand: f64 = vms
        .iter()
        .filter(|v| db.field_str(v, "power_state") == "Running")
        .map(|v| vm_load(&db.string(v, "uuid")))
        .sum();
    let busy = (0.03 + demand / cpus as f64).min(0.95);
    let mut out = Vec::new();
    out.push(
        Source::new(
            "cpu_avg".into(),
            "Average physical cpu usage".into(),
            "(fraction)",
            "DERIVE",
            moving(uuid, "cpu_avg", busy, 0.3, 0.15),
        )
        .max(1.0),
    );
    for i in 0..cpus {
        let name = format!("cpu{i}");
        let m = moving(uuid, &name, busy, 0.3, 0.4);
        out.push(Source::new(name, format!("CPU{i} usage"), "(fraction)", "DERIVE", m).max(1.0));
    }
    let mut load = Source::new(
        "loadavg".into(),
        "Domain0 loadavg".into(),
        "(fraction)",
        "GAUGE",
        moving(uuid, "loadavg", 0.2 + busy, 0.3, 0.3),
    );
    load.min = f64::NEG_INFINITY;
    out.push(load);
    out.push(Source::new(
        "running_vcpus".into(),
        "The total number of running vCPUs per host".into(),
        "count",
        "GAUGE",
        Model::constant(vcpus as f64),
    ));
    out.push(Source::new(
        "running_domains".into(),
        "The total number of running domains per host".into(),
        "count",
        "GAUGE",
        Model::constant(vms.len() as f64),
    ));
    let total = (db.int(&metrics, "memory_total") / 1024) as f64;
    let free = (db.int(&metrics, "memory_free") / 1024) as f64;
    out.push(Source::new(
        "memory_total_kib".into(),
        "Total amount of memory in the host".into(),
        "KiB",
        "GAUGE",
        Model::constant(total),
    ));
    out.push(Source::new(
        "memory_free_kib".into(),
        "Total amount of free memory".into(),
        "KiB",
        "GAUGE",
        Model::constant(free),
    ));
    let mut reclaimed = Source::new(
        "memory_reclaimed".into(),
        "Host memory reclaimed by squeezed".into(),
        "B",
        "GAUGE",
        Model::constant(0.0),
    );
    reclaimed.min = f64::NEG_INFINITY;
    out.push(reclaimed);
    let (mut rx_all, mut tx_all) = (0.0, 0.0);
    for pif in db.strings(host, "PIFs") {
        if db.int(&pif, "VLAN") >= 0 {
            continue;
        }
        let dev = db.string(&pif, "device");
        let attached = db.bool(&pif, "currently_attached");
        let scale = if attached { 1.0 } else { 0.0 };
        let rx = moving(uuid, &format!("pif_{dev}_rx"), scale * (50_000.0 + 400_000.0 * busy), 0.5, 0.5);
        let tx = moving(uuid, &format!("pif_{dev}_tx"), scale * (30_000.0 + 250_000.0 * busy), 0.5, 0.5);
        rx_all += rx.base;
        tx_all += tx.base;
        out.push(Source::new(
            format!("pif_{dev}_rx"),
            format!("Bytes per second received on physical interface {dev}"),
            "B/s",
            "DERIVE",
            whole(rx),
        ));
        out.push(Source::new(
            format!("pif_{dev}_tx"),
            format!("Bytes per second sent on physical interface {dev}"),
            "B/s",
            "DERIVE",
            whole(tx),
        ));
        out.push(
            Source::new(
                format!("pif_{dev}_rx_errors"),
                format!("Receive errors per second on physical interface {dev}"),
                "err/s",
                "DERIVE",
                Model::constant(0.0),
            )
            .off(),
        );
        out.push(
            Source::new(
                format!("pif_{dev}_tx_errors"),
                format!("Transmit errors per second on physical interface {dev}"),
                "err/s",
                "DERIVE",
                Model::constant(0.0),
            )
            .off(),
        );
    }
    out.push(Source::new(
        "pif_aggr_rx".into(),
        "Bytes per second received on all physical interfaces".into(),
        "B/s",
        "DERIVE",
        whole(moving(uuid, "pif_aggr_rx", rx_all, 0.5, 0.3)),
    ));
    out.push(Source::new(
        "pif_aggr_tx".into(),
        "Bytes per second sent on all physical interfaces".into(),
        "B/s",
        "DERIVE",
        whole(moving(uuid, "pif_aggr_tx", tx_all, 0.5, 0.3)),
    ));
    for sr in host_srs(db, host) {
        let sr_uuid = db.string(&sr, "uuid");
        let short = sr_uuid.get(..8).unwrap_or(&sr_uuid).to_string();
        let name = move |key: &str| format!("{key}_{short}");
        out.extend(io_sources(uuid, &name, "SR", 0.5 + busy, export_reads(db, &sr, now)));
    }
    out.push(Source::new(
        "xapi_memory_usage_kib".into(),
        "Total memory allocated used by xapi daemon".into(),
        "KiB",
        "GAUGE",
        whole(moving(uuid, "xapi_memory_usage_kib", 180_000.0, 0.05, 0.05)),
    ));
    out.push(Source::new(
        "xapi_free_memory_kib".into(),
        "Free memory available to the xapi daemon".into(),
        "KiB",
        "GAUGE",
        whole(moving(uuid, "xapi_free_memory_kib", 40_000.0, 0.1, 0.1)),
    ));
    out.push(Source::new(
        "xapi_open_fds".into(),
        "Number of open file descriptors held by xapi".into(),
        "file descriptors",
        "GAUGE",
        whole(moving(uuid, "xapi_open_fds", 60.0, 0.1, 0.1)),
    ));
    out.push(Source::new(
        "pool_task_count".into(),
        "Number of tasks".into(),
        "tasks",
        "GAUGE",
        Model::constant(db.all("task").len() as f64),
    ));
    out.push(Source::new(
        "pool_session_count".into(),
        "Number of sessions".into(),
        "sessions",
        "GAUGE",
        Model::constant(db.all("session").len() as f64),
    ));
    out
}

fn vm_sources(db: &Db, vm: &str) -> Vec<Source> {
    let uuid = db.string(vm, "uuid");
    let uuid = uuid.as_str();
    let metrics = db.string(vm, "metrics");
    let running = db.field_str(vm, "power_state") == "Running";
    let dom0 = db.bool(vm, "is_control_domain");
    let vcpus = db.int(&metrics, "VCPUs_number").max(1);
    let load = if running { vm_load(uuid) } else { 0.0 };
    let mut out = Vec::new();
    for i in 0..vcpus {
        let name = format!("cpu{i}");
        let m = moving(uuid, &name, load, 0.4, 0.35);
        out.push(Source::new(name, format!("CPU{i} usage"), "(fraction)", "DERIVE", m).max(1.0));
    }
    let actual = db.int(&metrics, "memory_actual") as f64;
    out.push(Source::new(
        "memory".into(),
        "Memory currently allocated to VM".into(),
        "B",
        "GAUGE",
        Model::constant(actual),
    ));
    out.push(Source::new(
        "memory_target".into(),
        "Target of VM balloon driver".into(),
        "B",
        "GAUGE",
        Model::constant(db.int(vm, "memory_target") as f64),
    ));
    if dom0 {
        out.push(Source::new(
            "memory_internal_free".into(),
            "Dom0 current free memory".into(),
            "KiB",
            "GAUGE",
            whole(moving(uuid, "memory_internal_free", actual / 1024.0 * 0.4, 0.1, 0.05)),
        ));
    } else if db.is(&db.string(vm, "guest_metrics"), "VM_guest_metrics") {
        let used = between(seed_of(&[uuid, "memory_used"]), 0.3, 0.7);
        out.push(Source::new(
            "memory_internal_free".into(),
            "Memory used as reported by the guest agent".into(),
            "KiB",
            "GAUGE",
            whole(moving(uuid, "memory_internal_free", actual / 1024.0 * (1.0 - used), 0.2, 0.05)),
        ));
    }
    let traffic = if running { 20_000.0 + 500_000.0 * load } else { 0.0 };
    for vif in db.strings(vm, "VIFs") {
        if !db.bool(&vif, "currently_attached") {
            continue;
        }
        let dev = db.string(&vif, "device");
        let label = format!("'{dev}'");
        out.push(Source::new(
            format!("vif_{dev}_tx"),
            format!("Bytes per second transmitted on virtual interface number {label}"),
            "B/s",
            "DERIVE",
            whole(moving(uuid, &format!("vif_{dev}_tx"), traffic * 0.6, 0.5, 0.5)),
        ));
        out.push(Source::new(
            format!("vif_{dev}_rx"),
            format!("Bytes per second received on virtual interface number {label}"),
            "B/s",
            "DERIVE",
            whole(moving(uuid, &format!("vif_{dev}_rx"), traffic, 0.5, 0.5)),
        ));
        out.push(
            Source::new(
                format!("vif_{dev}_rx_errors"),
                format!("Receive errors per second on virtual interface number {label}"),
                "err/s",
                "DERIVE",
                Model::constant(0.0),
            )
            .off(),
        );
        out.push(
            Source::new(
                format!("vif_{dev}_tx_errors"),
                format!("Transmit errors per second on virtual interface number {label}"),
                "err/s",
                "DERIVE",
                Model::constant(0.0),
            )
            .off(),
        );
    }
    let io = if running { 0.2 + load } else { 0.0 };
    for vbd in db.strings(vm, "VBDs") {
        let dev = db.string(&vbd, "device");
        if dev.is_empty() || !db.bool(&vbd, "currently_attached") || db.field_str(&vbd, "type") == "CD" {
            continue;
        }
        let name = move |key: &str| format!("vbd_{dev}_{key}");
        out.extend(io_sources(uuid, &name, "VDI", io, None));
    }
    out
}

fn sr_sources(db: &Db, sr: &str, now: i64) -> Vec<Source> {
    let uuid = db.string(sr, "uuid");
    let name = |key: &str| key.to_string();
    io_sources(&uuid, &name, "SR", 0.8, export_reads(db, sr, now))
        .into_iter()
        .filter(|s| !matches!(s.name.as_str(), "iowait" | "inflight" | "latency" | "avgqu_sz" | "read" | "write"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_are_deterministic_and_bounded() {
        let m = moving("u", "cpu0", 0.3, 0.4, 0.35);
        assert_eq!(m.at(1_000_000), m.at(1_000_000));
        assert_ne!(m.at(1_000_000), m.at(1_000_005));
        for t in (0..86_400).step_by(5) {
            let v = m.at(t);
            assert!((0.0..=0.3 * 1.75).contains(&v), "{v}");
        }
        assert_eq!(Model::constant(7.0).at(12345), 7.0);
    }

    #[test]
    fn a_boost_raises_values_from_its_start() {
        let mut m = whole(moving("u", "vbd_xvda_read", 1000.0, 0.0, 0.0));
        m.boost = Some((100, 5000.0));
        assert_eq!(m.at(95), 1000.0);
        assert_eq!(m.at(100), 6000.0);
    }
}
