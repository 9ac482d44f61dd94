//! Simulator benchmark: simple RPC throughput (`VM.get_record`) over JSON-RPC
//! and XML-RPC, the time of `VM.get_all_records` on a 10,000-VM pool, the
//! startup time and the simulator's memory.
//!
//! It spawns the real release binary (`$XAPI_SIM`, else
//! `target/release/xapi-sim`) and drives it with a std-only load generator:
//! raw `TcpStream`s, HTTP/1.1 keep-alive, one connection per client thread.
//! Figures are printed next to the targets; nothing is asserted about time.
//!
//! Run with `scripts/bench-sim` or `cargo bench -p xapi-sim --bench sim`.

// Tests and benchmarks own the terminal and read their switches (XE_BLESS...).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const VMS: usize = 10_000;
const RUN_FOR: Duration = Duration::from_secs(3);
const CLIENTS: &[usize] = &[4, 16];
const WARMUP_CALLS: usize = 200;
const BIG_REPS: usize = 5;
const TARGET_RPS: f64 = 10_000.0;
const TARGET_ALL_RECORDS_MS: f64 = 300.0;
const TARGET_RSS_MB: f64 = 500.0;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not, and
    // a benchmark has no business running there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("sim bench: skipped (run it with `cargo bench -p xapi-sim --bench sim`)");
        return;
    }
    let bin = sim_binary();
    assert!(
        bin.is_file(),
        "{} not found: build it with `cargo build --release -p xapi-sim` (or run scripts/bench-sim), or set XAPI_SIM",
        bin.display()
    );
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("xapi-sim benchmark");
    println!("  binary: {}", bin.display());
    println!("  cores: {cores} (load generator and simulator share them)");

    let started = Instant::now();
    let sim = Sim::spawn(&bin);
    let startup = started.elapsed();
    let addr = sim.addr;
    println!("  simulator: pid {} at http://{addr}/ with --vms {VMS}", sim.pid());
    println!();
    println!("startup (spawn -> ready line), {VMS} extra VMs: {}", ms(startup));
    print_rss("RSS after startup", sim.pid());

    let mut conn = Conn::open(addr);
    let session = Proto::Json.call_string(
        &mut conn,
        "session.login_with_password",
        &["root", "xenroot", "1.0", "xapi-sim-bench"],
    );
    let all = Proto::Json.call_raw(&mut conn, "VM.get_all", &[&session]);
    let refs = opaque_refs(&all);
    assert!(refs.len() >= VMS, "VM.get_all returned {} refs, expected at least {VMS}", refs.len());
    // The extra VMs are seeded last; pick one of them rather than a template.
    let vm = refs.last().cloned().expect("a VM");
    println!("pool: {} VMs (VM.get_all); VM.get_record target {vm}", refs.len());
    drop(conn);

    println!();
    println!(
        "simple RPC: VM.get_record(session, vm), {}s per run, one keep-alive connection per client",
        RUN_FOR.as_secs()
    );
    for proto in [Proto::Json, Proto::Xml] {
        let body = proto.body("VM.get_record", &[&session, &vm]);
        let request = Arc::new(request(addr, proto.path(), proto.content_type(), &body));
        // Check the answer once, in full, before timing it.
        let mut c = Conn::open(addr);
        let first = c.exchange(&request).to_vec();
        proto.check(&first);
        assert!(contains(&first, vm.as_bytes()) || contains(&first, b"uuid"), "VM.get_record answer lacks a record");
        for &clients in CLIENTS {
            let r = load(addr, proto, &request, clients, RUN_FOR);
            let rps = r.calls as f64 / r.elapsed.as_secs_f64();
            println!(
                "  VM.get_record {:<8} {clients:>2} clients: {:>7} RPC/s (target >= {}: {})  p50 {}  p99 {}  \
                 ({} calls, {} B/answer)",
                proto.name(),
                thousands(rps.round() as u64),
                thousands(TARGET_RPS as u64),
                verdict(rps >= TARGET_RPS),
                us(r.p50),
                us(r.p99),
                thousands(r.calls),
                first.len(),
            );
        }
    }
    // A call with a side effect: a database write, an event, and a line in
    // the audit log (calls whose name holds `.get` are not audited).
    println!("audited write: VM.set_name_description(session, vm, text), JSON-RPC");
    let body = Proto::Json.body("VM.set_name_description", &[&session, &vm, "bench"]);
    let write = Arc::new(request(addr, Proto::Json.path(), Proto::Json.content_type(), &body));
    Proto::Json.check(Conn::open(addr).exchange(&write));
    for &clients in CLIENTS {
        let r = load(addr, Proto::Json, &write, clients, RUN_FOR);
        let rps = r.calls as f64 / r.elapsed.as_secs_f64();
        println!(
            "  VM.set_name_description {clients:>2} clients: {:>7} RPC/s  p50 {}  p99 {}  ({} calls)",
            thousands(rps.round() as u64),
            us(r.p50),
            us(r.p99),
            thousands(r.calls),
        );
    }
    print_rss("RSS after the RPC runs", sim.pid());

    println!();
    println!(
        "VM.get_all_records on {} VMs: {BIG_REPS} calls on one connection, timed at the client over loopback",
        thousands(refs.len() as u64)
    );
    println!("  (wall = request sent -> last byte read: the server's decode, run and encode, plus the transfer;");
    println!("   first byte = the server's work before it sends anything; max is usually the first, cold call)");
    for proto in [Proto::Json, Proto::Xml] {
        let body = proto.body("VM.get_all_records", &[&session]);
        let request = request(addr, proto.path(), proto.content_type(), &body);
        let mut c = Conn::open(addr);
        let mut walls = Vec::new();
        let mut firsts = Vec::new();
        let mut size = 0;
        for _ in 0..BIG_REPS {
            let t = Instant::now();
            c.send(&request);
            let ttfb = c.receive(t);
            walls.push(t.elapsed());
            firsts.push(ttfb);
            proto.check(&c.body);
            size = c.body.len();
        }
        walls.sort();
        firsts.sort();
        let median = walls[walls.len() / 2];
        println!(
            "  VM.get_all_records {:<8}: median {}  min {}  max {} (target < {} ms: {})  first byte median {}  min {}  \
             answer {:.1} MB ({} B)",
            proto.name(),
            ms(median),
            ms(walls[0]),
            ms(walls[walls.len() - 1]),
            TARGET_ALL_RECORDS_MS,
            verdict(median.as_secs_f64() * 1e3 < TARGET_ALL_RECORDS_MS),
            ms(firsts[firsts.len() / 2]),
            ms(firsts[0]),
            size as f64 / 1e6,
            thousands(size as u64),
        );
    }
    print_rss("RSS after get_all_records", sim.pid());
    drop(sim);
}

/// `$XAPI_SIM`, else `target/release/xapi-sim` under the workspace root.
fn sim_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("XAPI_SIM") {
        return PathBuf::from(p);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.ancestors().nth(2).expect("workspace root above crates/xapi-sim").to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let target = if target.is_absolute() { target } else { root.join(target) };
    target.join("release").join("xapi-sim")
}

/// The simulator process; killed when dropped, also while unwinding.
struct Sim {
    child: Child,
    addr: SocketAddr,
}

impl Sim {
    fn spawn(bin: &PathBuf) -> Sim {
        let mut child = Command::new(bin)
            .args(["--vms", &VMS.to_string(), "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        // Guard before anything can panic.
        let mut sim = Sim { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)) };
        let mut lines = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            let n = lines.read_line(&mut line).expect("reading the simulator's stdout");
            assert!(n > 0, "xapi-sim exited before printing its ready line");
            if let Some(rest) = line.strip_prefix("xapi-sim ready at http://") {
                let hostport = rest.split('/').next().unwrap_or("");
                sim.addr = hostport.parse().unwrap_or_else(|e| panic!("bad address in ready line {line:?}: {e}"));
                break;
            }
        }
        // Keep draining stdout so the simulator never blocks on a full pipe.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut lines, &mut std::io::sink());
        });
        sim
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` and `VmHWM` of a process, in kB.
fn rss_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn print_rss(what: &str, pid: u32) {
    let (rss, hwm) = rss_kb(pid);
    println!(
        "{what}: VmRSS {:.1} MB  VmHWM (peak) {:.1} MB (target < {TARGET_RSS_MB} MB: {})",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        verdict((hwm as f64 / 1024.0) < TARGET_RSS_MB)
    );
}

#[derive(Clone, Copy)]
enum Proto {
    Json,
    Xml,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Json => "JSON-RPC",
            Proto::Xml => "XML-RPC",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Proto::Json => "/jsonrpc",
            Proto::Xml => "/",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Proto::Json => "application/json",
            Proto::Xml => "text/xml",
        }
    }

    /// The request body. Parameters here need no escaping (refs, plain words).
    fn body(self, method: &str, params: &[&str]) -> String {
        match self {
            Proto::Json => {
                let ps: Vec<String> = params.iter().map(|s| format!("\"{s}\"")).collect();
                format!("{{\"jsonrpc\":\"2.0\",\"method\":\"{method}\",\"params\":[{}],\"id\":1}}", ps.join(","))
            }
            Proto::Xml => {
                let ps: String =
                    params.iter().map(|s| format!("<param><value><string>{s}</string></value></param>")).collect();
                format!(
                    "<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName><params>{ps}</params></methodCall>"
                )
            }
        }
    }

    /// Panics unless the answer is a success.
    fn check(self, answer: &[u8]) {
        let ok = match self {
            Proto::Json => answer.starts_with(b"{\"jsonrpc\":\"2.0\",\"result\":"),
            Proto::Xml => contains(&answer[..answer.len().min(200)], b"<name>Status</name><value>Success</value>"),
        };
        assert!(ok, "{} call failed: {}", self.name(), String::from_utf8_lossy(&answer[..answer.len().min(500)]));
    }

    fn call_raw(self, conn: &mut Conn, method: &str, params: &[&str]) -> Vec<u8> {
        let req = request(conn.addr, self.path(), self.content_type(), &self.body(method, params));
        let answer = conn.exchange(&req).to_vec();
        self.check(&answer);
        answer
    }

    /// A call answering a ref or a string; returns it.
    fn call_string(self, conn: &mut Conn, method: &str, params: &[&str]) -> String {
        let answer = self.call_raw(conn, method, params);
        let text = String::from_utf8_lossy(&answer);
        let value = match self {
            Proto::Json => text.split("\"result\":\"").nth(1).and_then(|r| r.split('"').next()),
            Proto::Xml => text.split("<name>Value</name><value>").nth(1).and_then(|r| r.split('<').next()),
        };
        value.unwrap_or_else(|| panic!("{method}: no string in {text}")).to_string()
    }
}

fn opaque_refs(answer: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(answer);
    text.split("OpaqueRef:")
        .skip(1)
        .map(|r| format!("OpaqueRef:{}", r.split(['"', '<']).next().unwrap_or("")))
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A whole HTTP/1.1 request with a `Content-Length` body.
fn request(addr: SocketAddr, path: &str, content_type: &str, body: &str) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: xapi-sim-bench\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body.as_bytes());
    r
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
    line: String,
    /// The last response's body; reused so the client allocates nothing per call.
    body: Vec<u8>,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Conn { addr, reader: BufReader::with_capacity(64 * 1024, stream), line: String::new(), body: Vec::new() }
    }

    fn send(&mut self, request: &[u8]) {
        self.reader.get_mut().write_all(request).expect("sending a request");
    }

    /// Reads one response into `self.body`; returns the time from `since` to
    /// its status line (the first byte).
    fn receive(&mut self, since: Instant) -> Duration {
        self.line.clear();
        self.reader.read_line(&mut self.line).expect("reading the status line");
        let ttfb = since.elapsed();
        let status = self.line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut length = None;
        let mut chunked = false;
        loop {
            self.line.clear();
            let n = self.reader.read_line(&mut self.line).expect("reading a header");
            assert!(n > 0, "connection closed inside the headers");
            let l = self.line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((name, value)) = l.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = Some(value.parse::<usize>().expect("a numeric Content-Length"));
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                }
            }
        }
        self.body.clear();
        if chunked {
            self.read_chunked();
        } else {
            let n = length.expect("a response without Content-Length or chunking");
            self.read_n(n);
        }
        let body = &self.body;
        assert!(status == "200", "HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(500)]));
        ttfb
    }

    /// Appends exactly `n` bytes to `self.body`.
    fn read_n(&mut self, n: usize) {
        self.body.reserve(n);
        let got = (&mut self.reader).take(n as u64).read_to_end(&mut self.body).expect("reading the body");
        assert!(got == n, "connection closed after {got} of {n} body bytes");
    }

    fn read_chunked(&mut self) {
        loop {
            self.line.clear();
            self.reader.read_line(&mut self.line).expect("reading a chunk size");
            let size = self.line.trim_end().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size.trim(), 16).expect("a hexadecimal chunk size");
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    self.line.clear();
                    let n = self.reader.read_line(&mut self.line).expect("reading a trailer");
                    if n == 0 || self.line.trim_end().is_empty() {
                        return;
                    }
                }
            }
            self.read_n(size);
            let mut crlf = [0; 2];
            self.reader.read_exact(&mut crlf).expect("reading a chunk's CRLF");
        }
    }

    fn exchange(&mut self, request: &[u8]) -> &[u8] {
        let t = Instant::now();
        self.send(request);
        self.receive(t);
        &self.body
    }
}

struct LoadResult {
    calls: u64,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

/// `clients` threads, each on its own connection, send `request` in a loop for `run_for`.
fn load(addr: SocketAddr, proto: Proto, request: &Arc<Vec<u8>>, clients: usize, run_for: Duration) -> LoadResult {
    let barrier = Arc::new(Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let barrier = barrier.clone();
            let request = request.clone();
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr);
                for _ in 0..WARMUP_CALLS / clients.max(1) + 1 {
                    proto.check(conn.exchange(&request));
                }
                let mut lat = Vec::with_capacity(1 << 16);
                barrier.wait();
                let start = Instant::now();
                let deadline = start + run_for;
                loop {
                    let t = Instant::now();
                    if t >= deadline {
                        break;
                    }
                    conn.send(&request);
                    conn.receive(t);
                    lat.push(t.elapsed());
                    proto.check(&conn.body);
                }
                (lat, start.elapsed())
            })
        })
        .collect();
    barrier.wait();
    let mut all = Vec::new();
    let mut elapsed = Duration::ZERO;
    for t in threads {
        let (lat, e) = t.join().expect("a client thread panicked");
        all.extend(lat);
        elapsed = elapsed.max(e);
    }
    all.sort_unstable();
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied();
    LoadResult {
        calls: all.len() as u64,
        elapsed,
        p50: pct(0.50).unwrap_or_default(),
        p99: pct(0.99).unwrap_or_default(),
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISSED"
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
