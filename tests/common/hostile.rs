//! A small hostile (or just broken) XenAPI server for tests: a raw TCP
//! listener on loopback, a thread per connection, reading HTTP/1.1 requests
//! and answering each the way the test's script says: well-formed answers,
//! answers nested 100,000 deep, 1 GiB answers generated as they are sent
//! (never stored), invalid UTF-8, truncated bodies, stalls, error pages,
//! garbage instead of TLS, silence, or the request passed on to a real
//! simulator (a proxy that can inject faults into a real conversation).
//!
//! This is the one place where the tests fake the wire, on purpose: no real
//! server misbehaves on demand.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request, as the script sees it.
pub struct Request {
    /// `/jsonrpc` for JSON-RPC, `/` for XML-RPC.
    pub path: String,
    /// The RPC's method name.
    pub method: String,
    /// The session ref the call carries (its first parameter), if any.
    pub session: Option<String>,
    /// The raw request: head and body.
    raw: Vec<u8>,
}

impl Request {
    pub fn json(&self) -> bool {
        self.path.ends_with("jsonrpc")
    }
}

/// How to answer one request.
pub enum Reply {
    /// `200 OK` with a Content-Length.
    Ok { content_type: &'static str, body: Vec<u8> },
    /// A status other than 200, with a body.
    Status { status: u16, content_type: &'static str, body: Vec<u8> },
    /// Bytes as they are, then the connection is closed.
    Raw(Vec<u8>),
    /// A 200 answer of `total` bytes: `head`, `unit` repeated, `tail`,
    /// generated while it is sent; with a Content-Length, or chunked.
    Huge { content_type: &'static str, head: Vec<u8>, unit: Vec<u8>, tail: Vec<u8>, total: u64, length: bool },
    /// Bytes, then nothing more: the connection stays open, silent.
    Stall(Vec<u8>),
    /// The connection is closed without an answer.
    Drop,
    /// The request goes to the upstream server, and its answer back.
    Forward,
}

/// The longest a stalled or silent connection is held (the test ends first).
const HOLD: Duration = Duration::from_secs(60);

type Script = dyn Fn(&Request) -> Reply + Send + Sync;

/// A running hostile server; stops when dropped.
pub struct Hostile {
    pub port: u16,
    stop: Arc<AtomicBool>,
    methods: Arc<Mutex<Vec<String>>>,
}

impl Hostile {
    /// Answers every request as `script` says.
    pub fn start(script: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Hostile {
        Hostile::serve(None, Arc::new(script), Mode::Http)
    }

    /// A proxy to `upstream`: requests for which `script` says
    /// [`Reply::Forward`] are passed on, the others answered as it says.
    pub fn proxy(upstream: SocketAddr, script: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Hostile {
        Hostile::serve(Some(upstream), Arc::new(script), Mode::Http)
    }

    /// Sends garbage to whoever connects (a "TLS" port that is not).
    pub fn garbage() -> Hostile {
        Hostile::serve(None, Arc::new(|_: &Request| Reply::Drop), Mode::Garbage)
    }

    /// Accepts connections and never answers.
    pub fn silent() -> Hostile {
        Hostile::serve(None, Arc::new(|_: &Request| Reply::Drop), Mode::Silent)
    }

    /// The methods called so far, in order.
    pub fn methods(&self) -> Vec<String> {
        self.methods.lock().unwrap().clone()
    }

    fn serve(upstream: Option<SocketAddr>, script: Arc<Script>, mode: Mode) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind on loopback");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let methods = Arc::new(Mutex::new(Vec::new()));
        let (stop2, methods2) = (stop.clone(), methods.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (script, stop, methods) = (script.clone(), stop2.clone(), methods2.clone());
                std::thread::spawn(move || {
                    let _ = match mode {
                        Mode::Http => connection(conn, upstream, &*script, &stop, &methods),
                        Mode::Garbage => garbage(conn, &stop),
                        Mode::Silent => {
                            hold(&stop);
                            Ok(())
                        }
                    };
                });
            }
        });
        Hostile { port, stop, methods }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Http,
    Garbage,
    Silent,
}

/// Waits until the server stops or [`HOLD`] passes.
fn hold(stop: &AtomicBool) {
    let until = Instant::now() + HOLD;
    while !stop.load(Ordering::SeqCst) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn garbage(mut conn: TcpStream, stop: &AtomicBool) -> std::io::Result<()> {
    let junk: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    conn.write_all(&junk)?;
    hold(stop);
    Ok(())
}

/// An HTTP message as read: the request path (or status line's second word), head, body.
type Message = (String, Vec<u8>, Vec<u8>);

/// Reads one HTTP request: head and body (by its Content-Length). `None` at the end of the connection.
fn read_request(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Message>> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
    let len = header(&text, "content-length").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Some((path, head, body)))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The text between `start` and `end` in `s`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

fn parse(path: String, head: Vec<u8>, body: Vec<u8>) -> Request {
    let text = String::from_utf8_lossy(&body).into_owned();
    let compact: String = text.split_whitespace().collect();
    let method = between(&compact, "\"method\":\"", "\"")
        .or_else(|| between(&compact, "<methodName>", "</methodName>"))
        .unwrap_or("")
        .to_string();
    let session = between(&compact, "\"params\":[\"", "\"")
        .or_else(|| between(&compact, "<param><value>", "</value>"))
        .or_else(|| between(&compact, "<param><value><string>", "</string>"))
        .filter(|s| s.starts_with("OpaqueRef:"))
        .map(str::to_string);
    let mut raw = head;
    raw.extend_from_slice(&body);
    Request { path, method, session, raw }
}

/// Serves one client connection: requests in turn, each answered as the script says.
fn connection(
    conn: TcpStream,
    upstream: Option<SocketAddr>,
    script: &Script,
    stop: &AtomicBool,
    methods: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    // Small answers go out at once, not after a delayed ACK.
    conn.set_nodelay(true)?;
    let mut out = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    let mut up: Option<BufReader<TcpStream>> = None;
    while let Some((path, head, body)) = read_request(&mut r)? {
        let req = parse(path, head, body);
        methods.lock().unwrap().push(req.method.clone());
        match script(&req) {
            Reply::Ok { content_type, body } => respond(&mut out, 200, content_type, &body)?,
            Reply::Status { status, content_type, body } => respond(&mut out, status, content_type, &body)?,
            Reply::Raw(bytes) => {
                out.write_all(&bytes)?;
                let _ = out.shutdown(Shutdown::Both);
                return Ok(());
            }
            Reply::Huge { content_type, head, unit, tail, total, length } => {
                huge(&mut out, content_type, &head, &unit, &tail, total, length)?;
            }
            Reply::Stall(bytes) => {
                out.write_all(&bytes)?;
                out.flush()?;
                hold(stop);
                return Ok(());
            }
            Reply::Drop => {
                let _ = out.shutdown(Shutdown::Both);
                return Ok(());
            }
            Reply::Forward => {
                let addr = upstream.expect("a proxy has an upstream");
                if up.is_none() {
                    let u = TcpStream::connect(addr)?;
                    u.set_nodelay(true)?;
                    up = Some(BufReader::new(u));
                }
                let u = up.as_mut().unwrap();
                u.get_mut().write_all(&req.raw)?;
                let Some((_, mut answer, body)) = read_response(u)? else { return Ok(()) };
                answer.extend_from_slice(&body);
                out.write_all(&answer)?;
            }
        }
    }
    Ok(())
}

/// Reads one HTTP response with a Content-Length (what the simulator sends).
fn read_response(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Message>> {
    read_request(r)
}

fn respond(out: &mut TcpStream, status: u16, content_type: &str, body: &[u8]) -> std::io::Result<()> {
    let reason = if status == 200 { "OK" } else { "Error" };
    let mut answer =
        format!("HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n", body.len())
            .into_bytes();
    answer.extend_from_slice(body);
    out.write_all(&answer)?;
    out.flush()
}

/// Sends a `total`-byte answer, generated in 1 MiB pieces; stops when the client hangs up.
fn huge(
    out: &mut TcpStream,
    content_type: &str,
    head: &[u8],
    unit: &[u8],
    tail: &[u8],
    total: u64,
    length: bool,
) -> std::io::Result<()> {
    let framing = if length { format!("Content-Length: {total}") } else { "Transfer-Encoding: chunked".to_string() };
    out.write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n").as_bytes())?;
    let mut piece = Vec::with_capacity(1 << 20);
    while piece.len() + unit.len() <= 1 << 20 {
        piece.extend_from_slice(unit);
    }
    let send = |out: &mut TcpStream, bytes: &[u8]| -> std::io::Result<()> {
        if length {
            out.write_all(bytes)
        } else {
            out.write_all(format!("{:x}\r\n", bytes.len()).as_bytes())?;
            out.write_all(bytes)?;
            out.write_all(b"\r\n")
        }
    };
    send(out, head)?;
    let mut left = total - (head.len() + tail.len()) as u64;
    while left > 0 {
        let n = left.min(piece.len() as u64) as usize;
        let n = n - n % unit.len().max(1);
        if n == 0 {
            // Fewer bytes left than one unit: pad with the unit's first byte.
            send(out, &vec![unit[0]; left as usize])?;
            break;
        }
        send(out, &piece[..n])?;
        left -= n as u64;
    }
    send(out, tail)?;
    if !length {
        out.write_all(b"0\r\n\r\n")?;
    }
    out.flush()
}

/// A JSON-RPC success whose result is the JSON text `result`.
pub fn json_ok(result: &str) -> Reply {
    Reply::Ok {
        content_type: "application/json",
        body: format!(r#"{{"jsonrpc":"2.0","result":{result},"id":1}}"#).into_bytes(),
    }
}

/// A JSON-RPC XenAPI failure.
pub fn json_error(code: &str, params: &[&str]) -> Reply {
    let data: Vec<String> = params.iter().map(|p| format!("\"{p}\"")).collect();
    Reply::Ok {
        content_type: "application/json",
        body: format!(
            r#"{{"jsonrpc":"2.0","error":{{"code":1,"message":"{code}","data":[{}]}},"id":1}}"#,
            data.join(",")
        )
        .into_bytes(),
    }
}

/// An XML-RPC success whose value is the XML text `value` (a `<value>` element).
pub fn xml_ok(value: &str) -> Reply {
    Reply::Ok {
        content_type: "text/xml",
        body: format!(
            "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct>\
             <member><name>Status</name><value>Success</value></member>\
             <member><name>Value</name>{value}</member></struct></value></param></params></methodResponse>"
        )
        .into_bytes(),
    }
}

/// The session the hostile server hands out.
pub const SESSION: &str = "OpaqueRef:hostile-session";

/// Answers login and logout properly, in the request's format; `None` for other calls.
pub fn session_calls(req: &Request) -> Option<Reply> {
    match (req.method.as_str(), req.json()) {
        ("session.login_with_password", true) => Some(json_ok(&format!("\"{SESSION}\""))),
        ("session.login_with_password", false) => Some(xml_ok(&format!("<value>{SESSION}</value>"))),
        ("session.logout", true) => Some(json_ok("\"\"")),
        ("session.logout", false) => Some(xml_ok("<value></value>")),
        _ => None,
    }
}

/// An HTML error page, as proxies and web servers send.
pub fn html(status: u16) -> Reply {
    let body =
        b"<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Bad gateway</h1></body></html>".to_vec();
    if status == 200 {
        Reply::Ok { content_type: "text/html; charset=utf-8", body }
    } else {
        Reply::Status { status, content_type: "text/html; charset=utf-8", body }
    }
}
