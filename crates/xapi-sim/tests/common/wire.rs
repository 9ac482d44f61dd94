//! Helpers for the tests that talk to a running simulator over loopback:
//! a login through the client library, calls by wire name, new disks, and
//! requests in raw HTTP (so status lines and heads can be checked byte for
//! byte, as xe and the SDK would see them).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use xapi_sim::{Sim, SimOptions};
use xenapi::client::{Connection, Options, Session, Tls};
use xenapi::Value;

/// A simulator on a loopback port with instant operations.
pub fn sim() -> Sim {
    let mut opts = SimOptions::default();
    opts.config.time_scale = 0.0;
    Sim::start(opts).expect("simulator")
}

/// A root session on `sim`, named after the test suite.
pub fn login(sim: &Sim, originator: &str) -> Session {
    let conn = Connection::new(&sim.url(), Options::new(Tls::Insecure)).expect("connection");
    Session::login(conn, "root", "xenroot", originator).expect("login")
}

pub fn s(text: &str) -> Value {
    Value::str(text)
}

/// A call that must succeed.
pub fn call(session: &mut Session, method: &str, args: &[Value]) -> Value {
    session.call(method, args).unwrap_or_else(|e| panic!("{method}: {e}"))
}

pub fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap_or(&[]).iter().map(text).collect()
}

/// The ref of the first SR with this name.
pub fn sr_named(session: &mut Session, name: &str) -> String {
    let srs = call(session, "SR.get_by_name_label", &[s(name)]);
    text(&srs.as_array().expect("a list")[0])
}

/// A new user VDI of `size` bytes on `sr`; its ref.
pub fn new_vdi_on(session: &mut Session, sr: &str, label: &str, size: u64) -> String {
    let record = Value::Struct(vec![
        ("name_label".into(), s(label)),
        ("name_description".into(), s("")),
        ("SR".into(), s(sr)),
        ("virtual_size".into(), Value::Int(size as i64)),
        ("type".into(), s("user")),
        ("sharable".into(), Value::Bool(false)),
        ("read_only".into(), Value::Bool(false)),
        ("other_config".into(), Value::Struct(Vec::new())),
        ("xenstore_data".into(), Value::Struct(Vec::new())),
        ("sm_config".into(), Value::Struct(Vec::new())),
        ("tags".into(), Value::Array(Vec::new())),
    ]);
    text(&call(session, "VDI.create", &[record]))
}

/// Waits for a task to leave `pending` (and `cancelling`); its status.
pub fn wait_task(session: &mut Session, task: &str) -> String {
    for _ in 0..1000 {
        let status = text(&call(session, "task.get_status", &[s(task)]));
        if status != "pending" && status != "cancelling" {
            return status;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("task {task} never finished");
}

/// A finished task: (status, error_info, result).
pub fn outcome(session: &mut Session, task: &str) -> (String, Vec<String>, String) {
    let status = wait_task(session, task);
    let info = strings(&call(session, "task.get_error_info", &[s(task)]));
    (status, info, text(&call(session, "task.get_result", &[s(task)])))
}

/// A raw HTTP answer: status line, lower-cased header lines, body.
pub struct Answer {
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn status(&self) -> u16 {
        self.status_line.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("a status")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Splits raw bytes into an answer; without a blank line all is head.
pub fn parse(raw: &[u8]) -> Answer {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer { status_line, headers, body: raw.get(end + 4..).unwrap_or_default().to_vec() }
}

/// Sends a request and reads the answer to the end of the connection. The
/// body may be cut short by a server that stopped reading.
pub fn request(addr: SocketAddr, head: &str, body: &[u8]) -> Answer {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    tcp.write_all(head.as_bytes()).expect("send head");
    let _ = tcp.write_all(body);
    let mut raw = Vec::new();
    let _ = tcp.read_to_end(&mut raw);
    parse(&raw)
}

/// A POST to a simulator control (`/sim/...`) as `root:xenroot` (HTTP Basic).
pub fn post_as_root(addr: SocketAddr, path: &str) -> Answer {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic cm9vdDp4ZW5yb290\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    request(addr, &head, b"")
}

/// An HTTP/1.0 GET, as xe sends one.
pub fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, &format!("GET {path} HTTP/1.0\r\n\r\n"), b"")
}

/// An HTTP/1.0 PUT with a length, as xe sends a regular file.
pub fn put(addr: SocketAddr, path: &str, body: &[u8]) -> Answer {
    request(addr, &format!("PUT {path} HTTP/1.0\r\nContent-Length: {}\r\n\r\n", body.len()), body)
}
