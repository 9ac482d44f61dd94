//! A thin blocking XenAPI client: one [`Connection`] per server (HTTP
//! keep-alive, JSON-RPC with a transparent fall-back to XML-RPC, TLS with
//! trust-on-first-use pinning) and a [`Session`] on top of it (login, calls
//! with the session ref prepended, re-login on `SESSION_INVALID`, following
//! `HOST_IS_SLAVE` to the pool master, task waiting).
//!
//! Nothing here prints or exits: failures are [`Error`]s carrying the server
//! and method, and events the user should hear about (a certificate pinned on
//! first use) are queued as notices, see [`Connection::take_notices`].
//!
//! Only this module touches the network; the codecs in [`crate::wire`] stay pure.

mod error;
mod session;
mod tls;
mod transfer;

pub use error::{size as format_size, Error, Result, HOST_IS_SLAVE, SESSION_INVALID, TASK_CANCELLED};
pub use session::{decode_task_result, Session, API_VERSION};
pub use tls::{fingerprint, Tls};
pub use transfer::Transfer;

use crate::wire::jsonrpc::RawRecords;
use crate::wire::{jsonrpc, xmlrpc, Response};
use crate::Value;
use reqwest::blocking::{Body, Client, RequestBuilder};
use reqwest::Url;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tls::{lock, TlsEvents};

/// The most an answer's announced length may reserve up front (a liar cannot
/// make us allocate more before sending it); never more than the value limit.
const MAX_PRESIZE: u64 = 256 << 20;

/// The default of [`Options::max_value`]: 64 MiB.
pub const DEFAULT_MAX_VALUE: usize = 64 << 20;

/// The most of an unwanted answer (an error page, an undecodable body) read
/// to keep the connection for the next call; beyond it the connection is dropped.
const MAX_DRAIN: u64 = 1 << 20;

/// The wire format of RPCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// JSON-RPC 2.0 on `{base}/jsonrpc`; if the first call shows the server
    /// has no JSON-RPC endpoint (HTTP error status or a non-JSON answer), the
    /// connection switches to XML-RPC for good and repeats that call.
    #[default]
    JsonRpc,
    /// XML-RPC on `{base}/` only.
    XmlRpc,
}

/// Connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub tls: Tls,
    pub protocol: Protocol,
    /// Longest wait for the TCP (and TLS) connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Longest wait for a whole RPC, request to last byte of the answer;
    /// `None` waits forever. Default 600 s, because synchronous calls such as
    /// `VM.start` can take minutes. [`Connection::call_with_timeout`] overrides it.
    /// Never applied to [`Connection::http_get`] and [`Connection::http_put`].
    pub read_timeout: Option<Duration>,
    /// The `User-Agent` header. Default `xe-rs/<crate version>`.
    pub user_agent: String,
    /// The most memory one answer may take, in bytes. A JSON-RPC answer is
    /// decoded as it streams in: no string or key may be longer, and the
    /// decoded value (without the record members a projection skips) may not
    /// keep more. An XML-RPC answer is read whole before it is decoded: its
    /// body may not be longer. Past it, the call fails with
    /// [`Error::TooLarge`] without reading the rest. Default 64 MiB.
    pub max_value: usize,
    /// Longest silence on a data transfer ([`Connection::transfer_get`],
    /// [`Connection::transfer_put`]) before it fails; `None` waits forever.
    /// Default 900 s: exports may scan empty disk regions quietly for a while.
    pub idle_timeout: Option<Duration>,
}

impl Options {
    /// Returns the default settings with the given certificate policy.
    pub fn new(tls: Tls) -> Options {
        Options {
            tls,
            protocol: Protocol::JsonRpc,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Some(Duration::from_secs(600)),
            user_agent: concat!("xe-rs/", env!("CARGO_PKG_VERSION")).to_string(),
            max_value: DEFAULT_MAX_VALUE,
            idle_timeout: Some(Duration::from_secs(900)),
        }
    }
}

/// Wire state: still probing for JSON-RPC, JSON-RPC confirmed, or XML-RPC.
const PROBING: u8 = 0;
const JSON: u8 = 1;
const XML: u8 = 2;

/// A client for one server. Cloning is cheap and shares the HTTP connection
/// pool, the counters and the notices.
#[derive(Debug, Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The base URL as normalised, without a trailing slash unless it is the root.
    base: Url,
    json_url: Url,
    host_port: String,
    /// `scheme://host:port`, the server as error messages show it.
    origin: String,
    opts: Options,
    client: Client,
    wire: AtomicU8,
    rpc_count: AtomicU64,
    next_id: AtomicU64,
    events: Arc<TlsEvents>,
    /// Set by [`Connection::close`]: every clone refuses further calls.
    closed: std::sync::atomic::AtomicBool,
}

/// Parses a server address: `https://host[:port][/path]`, `http://...`, or a bare `host[:port]` (HTTPS).
fn parse_base(url: &str) -> Result<Url> {
    let invalid = |reason: &str| Error::InvalidUrl { url: url.to_string(), reason: reason.to_string() };
    let text = if url.contains("://") { url.to_string() } else { format!("https://{url}") };
    let mut u = Url::parse(&text).map_err(|e| invalid(&e.to_string()))?;
    if u.scheme() != "https" && u.scheme() != "http" {
        return Err(invalid("the scheme must be https or http"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host name"));
    }
    u.set_query(None);
    u.set_fragment(None);
    Ok(u)
}

/// `host:port` with the scheme's default port filled in; IPv6 hosts keep their brackets.
fn host_port(u: &Url) -> String {
    format!("{}:{}", u.host_str().unwrap_or(""), u.port_or_known_default().unwrap_or(443))
}

/// The errors behind `e`, outermost first. `io::Error` hides its payload from
/// `source()` (it returns the payload's source), so it is unwrapped with `get_ref`.
fn causes<'a>(e: &'a (dyn std::error::Error + 'static)) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |cur| match cur.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
        Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
        None => cur.source(),
    })
    .take(32)
}

/// Renders an error with its causes, e.g. `error sending request: connection refused`.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    for c in causes(e) {
        let t = c.to_string();
        if !out.contains(&t) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&t);
        }
    }
    out
}

/// Finds a rustls error among the causes.
fn rustls_error(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    causes(e).find_map(|c| c.downcast_ref::<rustls::Error>()).map(ToString::to_string)
}

/// A short reason for a failed connection, from the innermost I/O error.
fn connect_reason(e: &(dyn std::error::Error + 'static)) -> String {
    use std::io::ErrorKind as K;
    let mut last = e;
    for c in causes(e) {
        last = c;
        let short = match c.downcast_ref::<std::io::Error>().map(std::io::Error::kind) {
            Some(K::ConnectionRefused) => "connection refused",
            Some(K::TimedOut) => "connection timed out",
            Some(K::ConnectionReset) => "connection reset by peer",
            Some(K::ConnectionAborted) => "connection aborted",
            Some(K::HostUnreachable) => "no route to host",
            Some(K::NetworkUnreachable) => "network unreachable",
            Some(K::AddrNotAvailable) => "address not available",
            _ => continue,
        };
        return short.to_string();
    }
    let text = last.to_string();
    if causes(e).any(|c| c.to_string().starts_with("dns error")) {
        return format!("cannot resolve the host name: {text}");
    }
    text
}

impl Connection {
    /// Creates a client for `base_url` (`https://host[:port]`, `http://host[:port]`
    /// or a bare `host[:port]`, meaning HTTPS). Nothing is sent until the first call.
    pub fn new(base_url: &str, opts: Options) -> Result<Connection> {
        let base = parse_base(base_url)?;
        Connection::build(base, opts, Arc::new(TlsEvents::default()), 0)
    }

    fn build(base: Url, opts: Options, events: Arc<TlsEvents>, rpc_count: u64) -> Result<Connection> {
        let host_port = host_port(&base);
        let mut json_url = base.clone();
        {
            let path = base.path().trim_end_matches('/');
            json_url.set_path(&format!("{path}/jsonrpc"));
        }
        let origin = format!("{}://{host_port}", base.scheme());
        let tls = tls::client_config(&opts.tls, &host_port, events.clone())?;
        let client = Client::builder()
            .use_preconfigured_tls(tls)
            .user_agent(opts.user_agent.clone())
            .connect_timeout(opts.connect_timeout)
            // Per-request timeouts: RPCs get one, HTTP transfers none.
            .timeout(None)
            // Pool hosts are managed directly, as xe does: no proxies from the environment.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .build()
            .map_err(|e| Error::Local { reason: format!("cannot create the HTTP client: {}", chain(&e)) })?;
        let wire = if opts.protocol == Protocol::XmlRpc { XML } else { PROBING };
        Ok(Connection {
            inner: Arc::new(Inner {
                base,
                json_url,
                host_port,
                origin,
                opts,
                client,
                wire: AtomicU8::new(wire),
                rpc_count: AtomicU64::new(rpc_count),
                next_id: AtomicU64::new(1),
                events,
                closed: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    /// Returns a new connection to `host` with the same scheme, port, path and
    /// options; pending notices and the RPC count move over. Used to follow
    /// `HOST_IS_SLAVE` to the pool master.
    pub fn to_host(&self, host: &str) -> Result<Connection> {
        let mut base = self.inner.base.clone();
        let bracketed;
        let h = if host.contains(':') && !host.starts_with('[') {
            bracketed = format!("[{host}]");
            bracketed.as_str()
        } else {
            host
        };
        base.set_host(Some(h)).map_err(|e| Error::InvalidUrl { url: host.to_string(), reason: e.to_string() })?;
        let events = Arc::new(TlsEvents::default());
        *lock(&events.notices) = self.take_notices();
        Connection::build(base, self.inner.opts.clone(), events, self.rpc_count())
    }

    /// Returns the base URL, e.g. `https://host/`.
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// Returns the server as `host:port`, as used in the known-hosts file.
    pub fn host_port(&self) -> &str {
        &self.inner.host_port
    }

    /// Returns the settings this connection was made with.
    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    /// Returns the wire format in use: JSON-RPC until a fall-back happened or when forced.
    pub fn protocol(&self) -> Protocol {
        if self.inner.wire.load(Ordering::Relaxed) == XML {
            Protocol::XmlRpc
        } else {
            Protocol::JsonRpc
        }
    }

    /// Returns the number of RPC requests sent so far (a fall-back retry counts too).
    pub fn rpc_count(&self) -> u64 {
        self.inner.rpc_count.load(Ordering::Relaxed)
    }

    /// Makes this connection and every clone refuse further calls (they fail
    /// at once, without a request), e.g. so that nothing logs in again after
    /// an interrupted command has logged out.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
    }

    /// Returns an independent connection to the same server with the same
    /// options; closing either does not affect the other.
    pub fn detached(&self) -> Result<Connection> {
        Connection::build(self.inner.base.clone(), self.inner.opts.clone(), self.inner.events.clone(), 0)
    }

    /// Removes and returns the notices queued for the user, e.g. a certificate pinned on first use.
    pub fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.inner.events.notices))
    }

    /// Calls `method` with `params` (the session ref, if any, included) under the default read timeout.
    pub fn call(&self, method: &str, params: &[Value]) -> Result<Value> {
        self.rpc(method, params, self.inner.opts.read_timeout)
    }

    /// Calls `method` waiting at most `timeout` for the answer, e.g. for `event.from`.
    pub fn call_with_timeout(&self, method: &str, params: &[Value], timeout: Duration) -> Result<Value> {
        self.rpc(method, params, Some(timeout))
    }

    /// Calls a method whose result maps refs to records (`<Class>.get_all_records`,
    /// `<Class>.get_all_records_where`) and keeps only the record members `keep`
    /// accepts. Over JSON-RPC the others are skipped while decoding, which saves
    /// most of the time and memory a large pool's records cost. (JSON-RPC
    /// answers are always decoded as they arrive, never held whole.)
    pub fn call_projected(&self, method: &str, params: &[Value], keep: &dyn Fn(&str) -> bool) -> Result<Value> {
        self.rpc_projected(method, params, self.inner.opts.read_timeout, Some(keep))
    }

    /// Like [`Connection::call_projected`], keeping the records as their JSON
    /// text, each decoded when it is used ([`RawRecords`]): for a large pool
    /// a fraction of the memory their values take. A result that is not a map
    /// is an [`Error::Protocol`]. (Over XML-RPC the records are kept decoded.)
    pub fn call_records(&self, method: &str, params: &[Value], keep: &dyn Fn(&str) -> bool) -> Result<RawRecords> {
        self.rpc_records(method, params, self.inner.opts.read_timeout, keep)
    }

    pub(crate) fn rpc(&self, method: &str, params: &[Value], timeout: Option<Duration>) -> Result<Value> {
        self.rpc_projected(method, params, timeout, None)
    }

    pub(crate) fn rpc_projected(
        &self,
        method: &str,
        params: &[Value],
        timeout: Option<Duration>,
        keep: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<Value> {
        match self.rpc_answer(method, params, timeout, Decode::Values(keep))? {
            Answer::Value(v) => Ok(v),
            // Only asked for as text.
            Answer::Records(raw) => Ok(Value::Struct(raw.into_records().collect())),
        }
    }

    pub(crate) fn rpc_records(
        &self,
        method: &str,
        params: &[Value],
        timeout: Option<Duration>,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<RawRecords> {
        match self.rpc_answer(method, params, timeout, Decode::Text(keep))? {
            Answer::Records(raw) => Ok(raw),
            Answer::Value(Value::Struct(records)) => {
                let mut raw = RawRecords::default();
                for (r, rec) in records {
                    raw.push(r, rec);
                }
                Ok(raw)
            }
            // Never an empty success: a server that answers a string here is broken.
            Answer::Value(other) => Err(Error::Protocol {
                url: self.inner.origin.clone(),
                method: method.to_string(),
                reason: format!("expected a map of records, got {}", a_kind(&other)),
            }),
        }
    }

    fn rpc_answer(&self, method: &str, params: &[Value], timeout: Option<Duration>, how: Decode) -> Result<Answer> {
        let inner = &*self.inner;
        if inner.closed.load(Ordering::SeqCst) {
            return Err(Error::Local { reason: format!("the connection was closed before {method}") });
        }
        if inner.wire.load(Ordering::Relaxed) == XML {
            return self.xml_rpc(method, params, timeout, how.keep()).map(Answer::Value);
        }
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let body = jsonrpc::encode_call(method, params, id, jsonrpc::Version::V2);
        let url = &inner.json_url;
        let out = self.json_rpc(url, body, method, timeout, how)?;
        if inner.wire.load(Ordering::Relaxed) == PROBING {
            // An HTTP error or a non-JSON answer to the first call means an older host without /jsonrpc.
            if matches!(out, Err(Error::Protocol { .. } | Error::Http { .. })) {
                return self.fall_back(method, params, timeout, how.keep()).map(Answer::Value);
            }
            inner.wire.store(JSON, Ordering::Relaxed);
        }
        out
    }

    /// Sends a JSON-RPC request and decodes the answer while it arrives: a
    /// large answer is never held whole, and decoding overlaps with
    /// receiving. The outer `Err` is a transport failure (no fall-back to
    /// XML-RPC); the inner one is the call's outcome. As when the answer was
    /// read whole first, the body is always read to its end (so the
    /// connection is reused), and a failure to read it wins over a bad status
    /// or undecodable bytes.
    fn json_rpc(
        &self,
        url: &Url,
        body: String,
        method: &str,
        timeout: Option<Duration>,
        how: Decode,
    ) -> Result<Result<Answer>> {
        let mut resp = self.post_streamed(url, "application/json", body, method, timeout)?;
        let status = resp.status().as_u16();
        let limit = self.inner.opts.max_value;
        let decoded = if status == 200 {
            let read = match how {
                Decode::Values(keep) => jsonrpc::read_response(&mut resp, keep, limit).map(jsonrpc::RawAnswer::Other),
                Decode::Text(keep) => jsonrpc::read_records(&mut resp, keep, limit),
            };
            match read {
                Ok(r) => Ok(r),
                Err(jsonrpc::ReadError::Io(e)) => return Err(self.read_error(e, url, method)),
                // The rest is not read: dropping the answer closes the connection.
                Err(jsonrpc::ReadError::TooLarge) => return Err(self.too_large(url, method, false)),
                Err(jsonrpc::ReadError::Decode(e)) => Err(html_page(&resp).map_or(e, crate::wire::DecodeError)),
            }
        } else {
            Err(crate::wire::DecodeError(String::new()))
        };
        if status != 200 || decoded.is_err() {
            self.drain(&mut resp, url, method)?;
        }
        Ok(match decoded {
            Ok(jsonrpc::RawAnswer::Records(raw)) => Ok(Answer::Records(raw)),
            Ok(jsonrpc::RawAnswer::Other(r)) => outcome(url, method, status, Ok(r)).map(Answer::Value),
            Err(e) => outcome(url, method, status, Err(e)).map(Answer::Value),
        })
    }

    fn fall_back(
        &self,
        method: &str,
        params: &[Value],
        timeout: Option<Duration>,
        keep: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<Value> {
        self.inner.wire.store(XML, Ordering::Relaxed);
        self.xml_rpc(method, params, timeout, keep)
    }

    fn xml_rpc(
        &self,
        method: &str,
        params: &[Value],
        timeout: Option<Duration>,
        keep: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<Value> {
        let body = xmlrpc::encode_call(method, params);
        let url = &self.inner.base;
        let (status, bytes, html) = self.post(url, "text/xml", body, method, timeout)?;
        let mut v = decode(url, method, status, &bytes, xmlrpc::decode_response).map_err(|e| match (e, html) {
            (Error::Protocol { url, method, .. }, Some(reason)) => Error::Protocol { url, method, reason },
            (e, _) => e,
        })?;
        if let Some(keep) = keep {
            jsonrpc::project_records(&mut v, keep);
        }
        Ok(v)
    }

    /// Sends one POST and returns the answer to read. Only transport failures are errors here.
    fn post_streamed(
        &self,
        url: &Url,
        content_type: &str,
        body: String,
        method: &str,
        timeout: Option<Duration>,
    ) -> Result<reqwest::blocking::Response> {
        self.inner.rpc_count.fetch_add(1, Ordering::Relaxed);
        let mut req =
            self.inner.client.post(url.clone()).header(reqwest::header::CONTENT_TYPE, content_type).body(body);
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        self.send(req, url, method)
    }

    /// Sends one POST and reads the whole answer, up to the value limit;
    /// also says whether it is an HTML page. Only transport failures and an
    /// answer over the limit are errors here.
    fn post(
        &self,
        url: &Url,
        content_type: &str,
        body: String,
        method: &str,
        timeout: Option<Duration>,
    ) -> Result<(u16, Vec<u8>, Option<String>)> {
        let mut resp = self.post_streamed(url, content_type, body, method, timeout)?;
        let status = resp.status().as_u16();
        let html = html_page(&resp);
        if status != 200 {
            // Only the status matters.
            self.drain(&mut resp, url, method)?;
            return Ok((status, Vec::new(), html));
        }
        // Read straight into one buffer of the announced size. `bytes().to_vec()`
        // collected the chunks and copied them out twice: double the memory of a
        // large answer, and twice the time (34 MB: ~95 ms against ~40 ms).
        let limit = self.inner.opts.max_value as u64;
        let announced = resp.content_length().unwrap_or(0).min(MAX_PRESIZE).min(limit.saturating_add(1)) as usize;
        let mut bytes = Vec::with_capacity(announced);
        // One byte past the limit tells an answer of exactly the limit from a longer one.
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut resp, limit.saturating_add(1)), &mut bytes)
            .map_err(|e| self.read_error(e, url, method))?;
        if bytes.len() as u64 > limit {
            return Err(self.too_large(url, method, true));
        }
        Ok((status, bytes, html))
    }

    /// Reads and drops what is left of an answer not wanted (an error page,
    /// an undecodable body), so the connection can serve the next call; a
    /// long one is left unread (dropping it closes the connection).
    fn drain(&self, resp: &mut reqwest::blocking::Response, url: &Url, method: &str) -> Result<()> {
        std::io::copy(&mut std::io::Read::take(resp, MAX_DRAIN), &mut std::io::sink())
            .map(drop)
            .map_err(|e| self.read_error(e, url, method))
    }

    fn too_large(&self, url: &Url, method: &str, whole: bool) -> Error {
        Error::TooLarge { url: self.shown(url), method: method.to_string(), limit: self.inner.opts.max_value, whole }
    }

    fn send(&self, req: RequestBuilder, url: &Url, what: &str) -> Result<reqwest::blocking::Response> {
        lock(&self.inner.events.failure).take();
        req.send().map_err(|e| self.transport_error(&e, url, what))
    }

    /// Classifies a failure while reading an answer's body.
    fn read_error(&self, e: std::io::Error, url: &Url, what: &str) -> Error {
        match e.get_ref().and_then(|inner| inner.downcast_ref::<reqwest::Error>()) {
            Some(re) => self.transport_error(re, url, what),
            None if e.kind() == std::io::ErrorKind::TimedOut => {
                Error::Timeout { url: self.shown(url), method: what.to_string() }
            }
            None => Error::Protocol { url: self.shown(url), method: what.to_string(), reason: e.to_string() },
        }
    }

    /// Classifies a reqwest failure.
    fn transport_error(&self, e: &reqwest::Error, url: &Url, what: &str) -> Error {
        if let Some(err) = lock(&self.inner.events.failure).take() {
            return err;
        }
        let base = self.inner.origin.clone();
        if let Some(reason) = rustls_error(e) {
            return Error::Tls { url: base, reason };
        }
        if e.is_timeout() {
            if e.is_connect() {
                return Error::Connect { url: base, reason: "connection timed out".into() };
            }
            return Error::Timeout { url: self.shown(url), method: what.to_string() };
        }
        if e.is_connect() {
            return Error::Connect { url: base, reason: connect_reason(e) };
        }
        if e.is_body() || e.is_decode() {
            return Error::Protocol { url: self.shown(url), method: what.to_string(), reason: chain(e) };
        }
        Error::Connect { url: base, reason: connect_reason(e) }
    }

    /// A URL for error messages: no query string, which may hold a session ref.
    fn shown(&self, url: &Url) -> String {
        format!("{}{}", self.inner.origin, url.path())
    }

    fn endpoint(&self, path_and_query: &str) -> Result<Url> {
        self.inner
            .base
            .join(path_and_query)
            .map_err(|e| Error::InvalidUrl { url: path_and_query.to_string(), reason: e.to_string() })
    }

    fn checked(&self, resp: reqwest::blocking::Response) -> Result<reqwest::blocking::Response> {
        let status = resp.status();
        if status.is_success() {
            Ok(resp)
        } else {
            Err(Error::Http { url: self.shown(resp.url()), status: status.as_u16() })
        }
    }

    /// Sends `GET {base}{path_and_query}` (e.g. `/export?uuid=...&session_id=...`) and
    /// returns the response to stream. Redirects are not followed: a 3xx is an
    /// [`Error::Http`]. No read timeout applies.
    pub fn http_get(&self, path_and_query: &str) -> Result<reqwest::blocking::Response> {
        let url = self.endpoint(path_and_query)?;
        let req = self.inner.client.get(url.clone());
        self.checked(self.send(req, &url, &format!("GET {}", url.path()))?)
    }

    /// Sends `PUT {base}{path_and_query}` with `body`, of `len` bytes when known
    /// (otherwise chunked), and returns the response. No read timeout applies.
    pub fn http_put(
        &self,
        path_and_query: &str,
        body: impl std::io::Read + Send + 'static,
        len: Option<u64>,
    ) -> Result<reqwest::blocking::Response> {
        let url = self.endpoint(path_and_query)?;
        let body = match len {
            Some(n) => Body::sized(body, n),
            None => Body::new(body),
        };
        let req = self.inner.client.put(url.clone()).body(body);
        self.checked(self.send(req, &url, &format!("PUT {}", url.path()))?)
    }
}

/// How an answer is decoded.
#[derive(Clone, Copy)]
enum Decode<'k> {
    /// As values: whole, or only the record members `keep` accepts.
    Values(Option<&'k dyn Fn(&str) -> bool>),
    /// A ref-to-record map's records (their members `keep` accepts) kept as text.
    Text(&'k dyn Fn(&str) -> bool),
}

impl<'k> Decode<'k> {
    fn keep(self) -> Option<&'k dyn Fn(&str) -> bool> {
        match self {
            Decode::Values(keep) => keep,
            Decode::Text(keep) => Some(keep),
        }
    }
}

/// A decoded answer.
enum Answer {
    Value(Value),
    Records(RawRecords),
}

/// "an array", "a string": a value's kind for error messages.
fn a_kind(v: &Value) -> String {
    let kind = v.kind();
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {kind}")
}

/// Why an undecodable answer is an HTML page, when it says it is one
/// (a proxy's or web server's error page), rather than a syntax error.
fn html_page(resp: &reqwest::blocking::Response) -> Option<String> {
    let ct = resp.headers().get(reqwest::header::CONTENT_TYPE)?.to_str().ok()?.to_ascii_lowercase();
    ct.starts_with("text/html").then(|| "the server sent an HTML page (text/html), not an RPC answer".to_string())
}

/// Turns a status and body into the call's outcome.
fn decode(
    url: &Url,
    method: &str,
    status: u16,
    body: &[u8],
    decoder: impl FnOnce(&[u8]) -> Result<Response, crate::wire::DecodeError>,
) -> Result<Value> {
    let decoded = if status == 200 { decoder(body) } else { Err(crate::wire::DecodeError(String::new())) };
    outcome(url, method, status, decoded)
}

/// Turns a status and what its body decoded to into the call's outcome; a bad status wins.
fn outcome(
    url: &Url,
    method: &str,
    status: u16,
    decoded: std::result::Result<Response, crate::wire::DecodeError>,
) -> Result<Value> {
    if status != 200 {
        return Err(Error::Http { url: url.to_string(), status });
    }
    match decoded {
        Ok(Response::Success(v)) => Ok(v),
        Ok(Response::Failure(desc)) => Err(Error::api(desc)),
        Err(e) => Err(Error::Protocol { url: url.to_string(), method: method.to_string(), reason: e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_parsed_with_default_ports() {
        let u = parse_base("host.example").unwrap();
        assert_eq!(u.as_str(), "https://host.example/");
        assert_eq!(host_port(&u), "host.example:443");
        assert_eq!(host_port(&parse_base("http://h").unwrap()), "h:80");
        assert_eq!(host_port(&parse_base("https://[::1]:4443").unwrap()), "[::1]:4443");
        assert!(matches!(parse_base("ftp://h"), Err(Error::InvalidUrl { .. })));
        assert!(matches!(parse_base("https://"), Err(Error::InvalidUrl { .. })));
    }

    #[test]
    fn records_kept_as_text_are_what_projected_calls_give_in_both_formats() {
        let sim = xapi_sim::Sim::start(xapi_sim::SimOptions::default()).expect("simulator");
        let keep = |k: &str| k == "uuid" || k == "power_state" || k == "other_config" || k == "VCPUs_max";
        for protocol in [Protocol::JsonRpc, Protocol::XmlRpc] {
            let conn = Connection::new(&sim.url(), Options { protocol, ..Options::new(Tls::Insecure) }).unwrap();
            let mut s = Session::login(conn, "root", "xenroot", "xenapi-tests").unwrap();
            let values = s.call_projected("VM.get_all_records", &[], &keep).unwrap();
            let want = values.as_struct().unwrap();
            let raw = s.call_records("VM.get_all_records", &[], &keep).unwrap();
            assert_eq!(raw.len(), want.len(), "{protocol:?}");
            let uuid = |k: &str| k == "uuid";
            for (i, (r, rec)) in want.iter().enumerate() {
                assert_eq!(raw.reference(i), r);
                assert_eq!(&raw.record(i, None), rec, "{protocol:?}");
                assert_eq!(
                    raw.record(i, Some(&uuid)),
                    Value::Struct(vec![("uuid".into(), rec.get("uuid").unwrap().clone())])
                );
            }
            assert_eq!(raw.into_records().collect::<Vec<_>>(), want.to_vec(), "{protocol:?}");
            // A result that is not a map is an error, never an empty success; errors stay errors.
            match s.call_records("VM.get_all", &[], &keep) {
                Err(e @ Error::Protocol { .. }) => {
                    assert!(e.to_string().ends_with("to VM.get_all: expected a map of records, got an array"), "{e}")
                }
                other => panic!("{protocol:?}: {other:?}"),
            }
            let missing = s.call_records("VM.get_record", &[Value::str("OpaqueRef:missing")], &keep);
            assert!(matches!(missing, Err(Error::Api { .. })), "{missing:?}");
            s.logout().unwrap();
        }
    }

    #[test]
    fn endpoints_follow_the_base_path() {
        let c = Connection::new("http://h:8080/RPC2", Options::new(Tls::Insecure)).unwrap();
        assert_eq!(c.inner.json_url.as_str(), "http://h:8080/RPC2/jsonrpc");
        assert_eq!(c.base_url(), "http://h:8080/RPC2");
        let c = Connection::new("http://h:8080", Options::new(Tls::Insecure)).unwrap();
        assert_eq!(c.inner.json_url.as_str(), "http://h:8080/jsonrpc");
        let m = c.to_host("10.0.0.2").unwrap();
        assert_eq!(m.base_url(), "http://10.0.0.2:8080/");
        assert_eq!(c.to_host("fe80::1").unwrap().host_port(), "[fe80::1]:8080");
    }
}
