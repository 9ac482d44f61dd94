//! HTTP and HTTPS transport: XML-RPC on `/` and `/RPC2`, JSON-RPC on
//! `/jsonrpc`, with xapi's HTTP 500 page for malformed requests, and
//! `GET /metrics/rpc-count` (RPCs served so far, plain text) for benchmarks.
//! Fault rules (`crate::faults`) apply here, around dispatch: a call may
//! wait, fail, lose its session or its connection; `GET`/`PUT /sim/faults`
//! read and replace them. `--trace` lines are written here too.
//! [`Sim`] runs a whole simulator on a background thread for tests.

use crate::core::{Config, Core};
use crate::db::Db;
use crate::disks::Disks;
use crate::faults::{self, Action, Rule};
use crate::fixtures::{self, FixtureOptions};
use crate::persist::{self, Wal};
use crate::trace::{Entry, Outcome};
use crate::xmldb;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use xenapi::wire::{self, jsonrpc, xmlrpc};
use xenapi::Value;

/// xapi refuses RPC bodies larger than this.
pub const MAX_BODY: usize = 300 * 1024;

/// Everything needed to start a simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub listen: SocketAddr,
    pub config: Config,
    pub tls: bool,
    /// PEM certificate and key; generated when absent.
    pub cert: Option<(PathBuf, PathBuf)>,
    pub state: Option<PathBuf>,
    /// An xapi database file (`xe pool-dump-database`) to start from instead of the demo pool.
    pub load: Option<PathBuf>,
    pub fixture: FixtureOptions,
    pub seed: u64,
}

impl Default for SimOptions {
    fn default() -> SimOptions {
        SimOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            config: Config::default(),
            tls: false,
            cert: None,
            state: None,
            load: None,
            fixture: FixtureOptions { loopback_hosts: true, ..FixtureOptions::default() },
            seed: 1,
        }
    }
}

impl SimOptions {
    /// Makes these methods answer MESSAGE_METHOD_UNKNOWN, `Async.` forms
    /// included, as on a server that lacks them (`--disable`): wire names
    /// like `VM.get_all_records_where`, `*` matching any characters.
    /// Adds to what earlier calls disabled.
    pub fn disable(mut self, methods: &[&str]) -> SimOptions {
        self.config.disabled.extend(methods.iter().map(|m| m.to_string()));
        self
    }

    /// Adds fault rules after those already given (see [`faults::parse_rules`]).
    pub fn faults(mut self, rules: Vec<Rule>) -> SimOptions {
        self.config.faults.extend(rules);
        self
    }
}

/// Builds the core: loads `--state` (and the disks beside it) when it
/// exists, otherwise seeds the fixture and its disk contents.
pub fn build_core(opts: &SimOptions) -> std::io::Result<Arc<Core>> {
    build_core_noting(opts).map(|(core, _)| core)
}

/// [`build_core`], also returning what reading a database file noticed
/// (`--load`, or a restore that a restart had not yet applied), one line each.
///
/// `--load` starts a new pool from the file; with `--state` it is refused
/// when the state already exists (the state would be lost), and otherwise
/// the state starts as the loaded pool. A restore staged beside the state
/// (`STATE.restore`, written by `PUT /pool/xmldbdump`) replaces the state
/// at start, as xapi's restored database does after its restart.
pub fn build_core_noting(opts: &SimOptions) -> std::io::Result<(Arc<Core>, Vec<String>)> {
    let mut notes = Vec::new();
    let staged = opts.state.as_deref().map(persist::restore_path).filter(|p| p.exists());
    // Whether the pool is the fixture's, seeded now: its demo disks get their payloads.
    let mut fresh = false;
    let db = match (&opts.load, &opts.state) {
        (Some(file), Some(state)) if persist::exists(state) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "--load {}: the state {} already exists (start with --state alone to keep it, or remove it)",
                    file.display(),
                    state.display()
                ),
            ))
        }
        (Some(file), _) => load_database(file, opts.seed, &mut notes)?,
        (None, Some(state)) => match &staged {
            Some(restore) => load_database(restore, opts.seed, &mut notes)?,
            None => {
                let mut db = Db::new(opts.seed);
                if !Wal::load(state, &mut db)? {
                    fixtures::seed(&mut db, &opts.fixture);
                    db.reindex_changes();
                    fresh = true;
                } else if crate::rules::restart::resync(&mut db) {
                    db.reindex_changes();
                }
                db
            }
        },
        (None, None) => {
            let mut db = Db::new(opts.seed);
            fixtures::seed(&mut db, &opts.fixture);
            db.reindex_changes();
            fresh = true;
            db
        }
    };
    let wal = opts.state.as_deref().map(|path| Wal::open(path, &db)).transpose()?;
    if let Some(restore) = staged {
        // The state now holds the restored pool.
        std::fs::remove_file(restore)?;
    }
    let disks = match &opts.state {
        Some(path) => Disks::open(&crate::disks::dir_for_state(path))?,
        None => Disks::memory(),
    };
    // Disks of VDIs the database does not have go (all of them for a new
    // pool); a loaded or restored pool keeps those of the VDIs it names.
    let c = db.cls("VDI");
    let live: HashSet<String> =
        if fresh { HashSet::new() } else { db.iter(c).map(|(r, _)| db.string(r, "uuid")).collect() };
    disks.keep_only(&live);
    if fresh {
        for (uuid, offset, bytes) in fixtures::disk_payloads(&db) {
            let size = db.by_uuid(c, &uuid).map_or(0, |r| db.int(r, "virtual_size")).max(0) as u64;
            let mut w = disks.writer(&uuid, size);
            w.write_at(offset, &bytes)?;
            w.finish()?;
        }
    }
    let core = Core::new(db, opts.config.clone(), wal, disks, opts.seed)?;
    crate::ha::install(&core);
    provision_certificates(&core, opts)?;
    Ok((core, notes))
}

/// Gives every host its server certificate, as its listener serves it: the
/// one it kept in `STATE.certs` from an earlier run, else for the master
/// the front door's pair (`--cert`, or the one generated for `--tls`),
/// else a new self-signed one; the hosts' `Certificate` records follow
/// (and each host has a `host_internal` one, as xapi's hosts do).
pub fn provision_certificates(core: &Core, opts: &SimOptions) -> std::io::Result<()> {
    use crate::certs;
    if let Some(state) = &opts.state {
        core.certs.keep_in(with_suffix(state, ".certs"))?;
    }
    if opts.tls {
        let (cert, key) = tls_material(opts)?;
        let pem = format!("{}\n{}", String::from_utf8_lossy(&key).trim_end(), String::from_utf8_lossy(&cert));
        core.certs
            .set_front(certs::served(&pem).map_err(|e| std::io::Error::other(format!("the TLS certificate: {e}")))?);
    }
    let (master, hosts) = {
        let db = core.db.read();
        let hosts: Vec<(String, String, String, String)> = db
            .all("host")
            .into_iter()
            .map(|h| {
                let (uuid, name, address) =
                    (db.string(&h, "uuid"), db.string(&h, "hostname"), db.string(&h, "address"));
                (h, uuid, name, address)
            })
            .collect();
        (crate::rules::pool::master(&db), hosts)
    };
    let mut records = Vec::new();
    for (host, uuid, name, address) in hosts {
        let pem = match (core.certs.saved(&uuid), core.certs.front()) {
            (Some(pem), _) => pem,
            (None, Some(front)) if host == master => front.pem.clone(),
            _ => certs::self_signed(&name, &address, certs::SELF_SIGNED_DAYS).map_err(std::io::Error::other)?,
        };
        let served = core.certs.put(&uuid, &pem).map_err(std::io::Error::other)?;
        records.push((host, served.facts.clone(), name, address));
    }
    core.write(|db| {
        for (host, facts, name, address) in records {
            crate::rules::certificate::sync_host(db, &host, &facts, || {
                let pem = certs::self_signed(&name, &address, certs::SELF_SIGNED_DAYS).ok()?;
                certs::served(&pem).ok().map(|s| s.facts.clone())
            });
        }
        Ok(())
    })
    .map_err(|e| std::io::Error::other(format!("{e:?}")))
}

/// Reads an xapi database file into a database the simulator can serve
/// ([`crate::rules::restart::adopt`]); `notes` gets what the reader noticed.
pub fn load_database(path: &Path, seed: u64, notes: &mut Vec<String>) -> std::io::Result<Db> {
    let bad = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
    let loaded = xmldb::load(&text, seed).map_err(bad)?;
    let mut db = loaded.db;
    notes.extend(loaded.notes);
    notes.extend(crate::rules::restart::adopt(&mut db));
    db.reindex_changes();
    Ok(db)
}

/// The router serving both wire formats.
pub fn router(core: Arc<Core>) -> Router {
    Router::new()
        .route("/", post(xml_rpc))
        .route("/RPC2", post(xml_rpc))
        .route("/jsonrpc", post(json_rpc))
        .route("/metrics/rpc-count", get(rpc_count))
        .route("/sim/faults", get(get_faults).put(put_faults))
        .route("/sim/hosts/{uuid}/fail", post(fail_host))
        .route("/sim/hosts/{uuid}/recover", post(recover_host))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .merge(crate::handlers::router())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(core.clone(), silent_when_down))
        .with_state(core)
}

/// Paths no handler serves answer 404. A request body of up to 1 MiB is
/// read first, so that a client still sending it gets the answer rather
/// than a connection closed under it.
async fn not_found(body: axum::body::Body) -> Response {
    let _ = axum::body::to_bytes(body, 1 << 20).await;
    StatusCode::NOT_FOUND.into_response()
}

/// A host that is down (rebooting, shut down, failed) answers nothing on
/// its address: connections to it are dropped unanswered. The front door
/// serves as the master, so it is silent while the master is down. The
/// simulator's own `/sim/` controls always answer.
async fn silent_when_down(
    State(core): State<Arc<Core>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let down = !req.uri().path().starts_with("/sim/") && {
        let address = req.extensions().get::<Door>().and_then(|Door(a)| a.clone());
        let db = core.db.read();
        let host = match address {
            Some(a) => db.all("host").into_iter().find(|h| db.field_str(h, "address") == a),
            None => Some(crate::rules::pool::master(&db)).filter(|m| db.is(m, "host")),
        };
        host.is_some_and(|h| !crate::rules::host::is_live(&db, &h))
    };
    if down {
        return dropped();
    }
    next.run(req).await
}

/// The page xapi sends for requests it cannot parse.
fn internal_error(detail: &str) -> Response {
    let escaped = detail.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let body = format!(
        "<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; \
         please wait a while and try again. If the problem persists, please contact your \
         support representative.<h1> Additional information </h1>{escaped}</body></html>"
    );
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [
            (header::CONTENT_TYPE, "text/html"),
            (header::CONNECTION, "close"),
            (header::CACHE_CONTROL, "no-cache, no-store"),
        ],
        body,
    )
        .into_response()
}

/// Who sent a request, when the server was started with connect info.
type Client = Option<Extension<ConnectInfo<SocketAddr>>>;

async fn xml_rpc(
    State(core): State<Arc<Core>>,
    client: Client,
    door: Option<Extension<Door>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (method, params) = match xmlrpc::decode_call(&body) {
        Ok(call) => call,
        Err(e) => return internal_error(&format!("Xmlrpc.Parse_error({e})")),
    };
    match answer(&core, client, door, &headers, &method, params).await {
        Some(resp) => ([(header::CONTENT_TYPE, "text/xml")], xmlrpc::encode_response(&resp)).into_response(),
        None => dropped(),
    }
}

async fn json_rpc(
    State(core): State<Arc<Core>>,
    client: Client,
    door: Option<Extension<Door>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = match jsonrpc::decode_call(&body) {
        Ok(call) => call,
        Err(e) => return internal_error(&format!("Jsonrpc.Malformed_method_request({e})")),
    };
    match answer(&core, client, door, &headers, &call.method, call.params).await {
        Some(resp) => {
            let text = jsonrpc::encode_response(&resp, &call.id, call.version);
            ([(header::CONTENT_TYPE, "application/json")], text).into_response()
        }
        None => dropped(),
    }
}

/// Serves a decoded call under the fault rules and traces it; `None` means
/// the connection is to be dropped without an answer.
async fn answer(
    core: &Arc<Core>,
    client: Client,
    door: Option<Extension<Door>>,
    headers: &HeaderMap,
    method: &str,
    params: Vec<Value>,
) -> Option<wire::Response> {
    let door = door.and_then(|Extension(Door(address))| address);
    let member = door.as_deref().and_then(|a| not_master(core, a).map(|master| (a.to_string(), master)));
    let serve = |params: Vec<Value>| async move {
        let Some((address, master)) = member else {
            return apply_faults(core, headers, method, params).await;
        };
        // A member serves only its own local sessions (xapi's session_check).
        let session = params.first().and_then(Value::as_str).unwrap_or_default().to_string();
        let local = core.sessions.lock().get(&session).is_some_and(|m| m.local_to.as_deref() == Some(&address));
        if method == LOCAL_LOGIN {
            let (resp, fault) = apply_faults(core, headers, method, params).await;
            if let Some(wire::Response::Success(Value::String(r))) = &resp {
                if let Some(m) = core.sessions.lock().get_mut(r) {
                    m.local_to = Some(address);
                }
            }
            (resp, fault)
        } else if local {
            apply_faults(core, headers, method, params).await
        } else {
            (Some(wire::Response::Failure(vec!["HOST_IS_SLAVE".into(), master])), None)
        }
    };
    let Some(trace) = &core.trace else {
        return serve(params).await.0;
    };
    let (started, arrived) = (Instant::now(), time::OffsetDateTime::now_utc());
    let (resp, fault) = serve(params).await;
    let outcome = match &resp {
        Some(wire::Response::Success(_)) => Outcome::Ok,
        Some(wire::Response::Failure(e)) => Outcome::Error(e.first().cloned().unwrap_or_default()),
        None => Outcome::Dropped,
    };
    trace.record(&Entry {
        time: arrived,
        client: client.map(|Extension(ConnectInfo(a))| a.to_string()),
        method: method.to_string(),
        duration: started.elapsed(),
        outcome,
        fault,
    });
    resp
}

/// The login a pool member serves: its sessions are the member's own.
const LOCAL_LOGIN: &str = "session.slave_local_login_with_password";

/// The master's address when `address` is that of another host (a pool
/// member, which refuses logins with HOST_IS_SLAVE as xapi does).
fn not_master(core: &Core, address: &str) -> Option<String> {
    let db = core.db.read();
    let master = crate::rules::pool::master(&db);
    let master_address = db.string(&master, "address");
    (master_address != address).then_some(master_address)
}

/// The first rule that fires decides what happens to the call; with none,
/// it is served as usual.
async fn apply_faults(
    core: &Arc<Core>,
    headers: &HeaderMap,
    method: &str,
    params: Vec<Value>,
) -> (Option<wire::Response>, Option<&'static str>) {
    let session = || params.first().and_then(Value::as_str).unwrap_or_default();
    let effect = {
        let mut rules = core.faults.lock();
        if rules.rules().is_empty() {
            None
        } else {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(faults::host_part);
            let has_session = core.has_session(session());
            rules.decide(faults::Request { method, has_session, host })
        }
    };
    let Some(effect) = effect else {
        return (Some(core.call(method, params).await), None);
    };
    if !effect.delay.is_zero() {
        tokio::time::sleep(effect.delay).await;
    }
    let failure = |e: Vec<String>| Some(wire::Response::Failure(e));
    let resp = match effect.action {
        Action::Serve => return (Some(core.call(method, params).await), Some(effect.kind)),
        Action::Error(e) if method.starts_with("Async.") => Some(crate::rpc::fail_async(core, method, params, e)),
        Action::Error(e) => failure(e),
        Action::Drop => None,
        Action::SessionInvalid => failure(core.forget_session(session()).0),
        Action::HostIsSlave(address) => failure(vec!["HOST_IS_SLAVE".into(), address]),
    };
    // Calls answered here never reach `Core::call`, which counts the others.
    core.rpc_count.fetch_add(1, Ordering::Relaxed);
    (resp, Some(effect.kind))
}

/// A body whose first read fails: hyper then closes the connection before
/// the response head, buffered with it, is written, so no byte goes out.
struct Unanswered;

impl http_body::Body for Unanswered {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        std::task::Poll::Ready(Some(Err(std::io::Error::other("connection dropped by a fault rule"))))
    }
}

fn dropped() -> Response {
    Response::new(axum::body::Body::new(Unanswered))
}

/// Checks HTTP Basic credentials against the simulator's users.
fn authorised(core: &Core, headers: &HeaderMap) -> bool {
    matches!(crate::handlers::context::basic_credentials(headers),
        Ok(Some((u, p))) if core.users.read().iter().any(|(user, pass)| *user == u && *pass == p))
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"xapi-sim\""), (header::CONTENT_TYPE, "text/plain")],
        "authentication required: HTTP Basic with a simulator user\n",
    )
        .into_response()
}

fn rules_json(core: &Core) -> Response {
    let text = serde_json::to_string_pretty(core.faults.lock().rules()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], text + "\n").into_response()
}

/// The fault rules in force, with their hit counts.
async fn get_faults(State(core): State<Arc<Core>>, headers: HeaderMap) -> Response {
    if !authorised(&core, &headers) {
        return unauthorised();
    }
    rules_json(&core)
}

/// Replaces the fault rules (hit counts restart) and answers the new list.
async fn put_faults(State(core): State<Arc<Core>>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorised(&core, &headers) {
        return unauthorised();
    }
    let parsed =
        std::str::from_utf8(&body).map_err(|_| "the body is not UTF-8".to_string()).and_then(faults::parse_rules);
    match parsed {
        Ok(rules) => {
            core.faults.lock().replace(rules);
            rules_json(&core)
        }
        Err(reason) => {
            (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "text/plain")], format!("{reason}\n")).into_response()
        }
    }
}

/// `POST /sim/hosts/<uuid>/fail` (HTTP Basic): the host dies ([`crate::failures`]).
async fn fail_host(
    State(core): State<Arc<Core>>,
    axum::extract::Path(uuid): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&core, &headers) {
        return unauthorised();
    }
    failure_answer(crate::failures::fail(&core, &uuid).await)
}

/// `POST /sim/hosts/<uuid>/recover` (HTTP Basic): the host is back.
async fn recover_host(
    State(core): State<Arc<Core>>,
    axum::extract::Path(uuid): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&core, &headers) {
        return unauthorised();
    }
    failure_answer(crate::failures::recover(&core, &uuid))
}

fn failure_answer(r: Result<crate::failures::Outcome, crate::failures::Refusal>) -> Response {
    match r {
        Ok(outcome) => {
            let text = serde_json::to_string_pretty(&outcome).unwrap_or_default();
            ([(header::CONTENT_TYPE, "application/json")], text + "\n").into_response()
        }
        Err(e @ crate::failures::Refusal::NoSuchHost(_)) => {
            (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain")], format!("{e}\n")).into_response()
        }
        Err(e) => (StatusCode::CONFLICT, [(header::CONTENT_TYPE, "text/plain")], format!("{e}\n")).into_response(),
    }
}

/// RPCs served since start: benchmarks read it to count a client's calls.
async fn rpc_count(State(core): State<Arc<Core>>) -> Response {
    let n = core.rpc_count.load(std::sync::atomic::Ordering::Relaxed);
    ([(header::CONTENT_TYPE, "text/plain")], format!("{n}\n")).into_response()
}

/// Installs the ring crypto provider once per process.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads the PEM pair, or generates a self-signed certificate for localhost.
/// With a state file the generated pair is kept beside it and reused.
pub fn tls_material(opts: &SimOptions) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    if let Some((cert, key)) = &opts.cert {
        return Ok((std::fs::read(cert)?, std::fs::read(key)?));
    }
    let kept = opts.state.as_ref().map(|s| (with_suffix(s, ".crt"), with_suffix(s, ".key")));
    if let Some((c, k)) = &kept {
        if let (Ok(cert), Ok(key)) = (std::fs::read(c), std::fs::read(k)) {
            return Ok((cert, key));
        }
    }
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    let ck = rcgen::generate_simple_self_signed(names).map_err(std::io::Error::other)?;
    let cert = ck.cert.pem().into_bytes();
    let key = ck.key_pair.serialize_pem().into_bytes();
    if let Some((c, k)) = &kept {
        std::fs::write(c, &cert)?;
        write_private(k, &key)?;
    }
    Ok((cert, key))
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)?.write_all(data)
}

/// The address a request came in on: a host's own listener (its address),
/// or the front door (`None`), which serves as the master.
#[derive(Debug, Clone)]
pub struct Door(pub Option<String>);

/// Binds a listener on the front door's port for every host whose address
/// is a loopback IP other than the front door's own: each host of the pool
/// then answers on its own address, as on a real pool.
pub fn host_listeners(core: &Core, front: SocketAddr) -> std::io::Result<Vec<(String, std::net::TcpListener)>> {
    let addresses: Vec<String> = {
        let db = core.db.read();
        db.all("host").iter().map(|h| db.string(h, "address")).collect()
    };
    let mut out = Vec::new();
    for address in addresses {
        let Ok(ip) = address.parse::<std::net::IpAddr>() else { continue };
        if !ip.is_loopback() || ip == front.ip() || out.iter().any(|(a, _)| *a == address) {
            continue;
        }
        let at = SocketAddr::new(ip, front.port());
        let listener = std::net::TcpListener::bind(at)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {at} for the host {address}: {e}")))?;
        out.push((address, listener));
    }
    Ok(out)
}

/// Starts what a pool's core does in the background while it is served:
/// finished tasks collected, HA's liveset watched, performance alarms checked.
pub fn spawn_housekeeping(core: &Arc<Core>) {
    tokio::spawn(crate::tasks::collect_garbage(core.clone()));
    tokio::spawn(crate::ha::monitor(core.clone()));
    if let Some(every) = core.config.perfmon_interval {
        tokio::spawn(crate::perfmon::run(core.clone(), every));
    }
}

/// Serves until `shutdown` resolves, then checkpoints the state: the front
/// door on `listener`, and each host on its own listener (see [`host_listeners`]).
pub async fn serve(
    core: Arc<Core>,
    listener: std::net::TcpListener,
    hosts: Vec<(String, std::net::TcpListener)>,
    tls: bool,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    spawn_housekeeping(&core);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let front_at = listener.local_addr()?;
    let wake = Arc::new(tokio::sync::Notify::new());
    wake_on_changes(&core, wake.clone());
    let (c, a) = (core.clone(), core.clone());
    let doors = tokio::spawn(keep_doors(
        front_at.port(),
        hosts,
        {
            let core = core.clone();
            move |address: &str| tls.then(|| Tls::host(core.clone(), address.to_string()))
        },
        move || wanted_doors(&c.db.read(), front_at.ip()),
        move |address| {
            let address = address.to_string();
            router(a.clone()).layer(axum::middleware::map_request(move |req| at_door(req, address.clone())))
        },
        wake,
        stop_rx,
    ));
    let tls = tls.then(|| Tls::front(core.clone()));
    let front = serve_one(router(core.clone()), listener, tls, async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let result = front.await;
    let _ = doors.await;
    result?;
    core.checkpoint()
}

/// The addresses where hosts of this pool answer now: every live host with
/// a management interface (or no PIFs at all) at a loopback address other
/// than the front door's. A host that goes down, or whose management
/// interface is disabled, stops answering; one whose management interface
/// moves answers at its new address.
pub fn wanted_doors(db: &Db, front: std::net::IpAddr) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in db.all("host") {
        let pifs = db.strings(&h, "PIFs");
        if !crate::rules::host::is_live(db, &h) || !(pifs.is_empty() || pifs.iter().any(|p| db.bool(p, "management"))) {
            continue;
        }
        let address = db.string(&h, "address");
        let loopback = address.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback() && ip != front);
        if loopback && !out.contains(&address) {
            out.push(address);
        }
    }
    out
}

/// A host listener being served, and how to close it.
struct OpenDoor {
    close: tokio::sync::watch::Sender<bool>,
    served: tokio::task::JoinHandle<()>,
}

/// Keeps one listener per wanted address on `port` until `stop`: after each
/// change (`wake`, or a second passing) the doors no longer wanted are
/// closed and the new ones opened. `ready` are listeners bound at start;
/// `tls` gives the certificate choice of a door serving HTTPS.
pub async fn keep_doors(
    port: u16,
    ready: Vec<(String, std::net::TcpListener)>,
    tls: impl Fn(&str) -> Option<Tls>,
    wanted: impl Fn() -> Vec<String>,
    app: impl Fn(&str) -> Router,
    wake: Arc<tokio::sync::Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ready: std::collections::HashMap<String, std::net::TcpListener> = ready.into_iter().collect();
    let mut open: std::collections::HashMap<String, OpenDoor> = std::collections::HashMap::new();
    loop {
        let want = wanted();
        open.retain(|address, door| {
            let keep = want.contains(address) && !door.served.is_finished();
            if !keep {
                let _ = door.close.send(true);
            }
            keep
        });
        for address in want {
            let Ok(ip) = address.parse::<std::net::IpAddr>() else { continue };
            if open.contains_key(&address) {
                continue;
            }
            let (close, closed) = tokio::sync::watch::channel(false);
            let listener = ready.remove(&address);
            let served = tokio::spawn(door(app(&address), SocketAddr::new(ip, port), listener, tls(&address), closed));
            open.insert(address, OpenDoor { close, served });
        }
        // Listeners bound at start for hosts not wanted now (down) close here.
        ready.clear();
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            () = wake.notified() => {}
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
    for door in open.values() {
        let _ = door.close.send(true);
    }
    for (_, door) in open {
        let _ = door.served.await;
    }
}

/// Serves one host address until told to close; binds it first unless a
/// listener is given (a closed one may take a moment to let go of it).
async fn door(
    app: Router,
    at: SocketAddr,
    listener: Option<std::net::TcpListener>,
    tls: Option<Tls>,
    mut closed: tokio::sync::watch::Receiver<bool>,
) {
    let listener = match listener {
        Some(l) => l,
        None => match bind_again(at).await {
            Ok(l) => l,
            Err(_) => return,
        },
    };
    let _ = serve_one(app, listener, tls, async move {
        let _ = closed.wait_for(|c| *c).await;
    })
    .await;
}

/// Wakes `wake` whenever the core's database changes.
pub fn wake_on_changes(core: &Core, wake: Arc<tokio::sync::Notify>) {
    let mut changes = core.subscribe();
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            wake.notify_one();
        }
    });
}

/// Binds a host's address again, retrying for a few seconds while the old
/// socket lets go of it.
async fn bind_again(at: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let mut tries = 0;
    loop {
        match std::net::TcpListener::bind(at) {
            Ok(l) => return Ok(l),
            Err(e) if tries >= 100 => return Err(e),
            Err(_) => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Marks a request as come in at a host's own address, and makes its `Host`
/// header name that host, whatever the client sent (xe's data transfers
/// speak HTTP/1.0 and may send none).
pub async fn at_door(mut req: axum::extract::Request, address: String) -> axum::extract::Request {
    if let Ok(v) = axum::http::HeaderValue::from_str(&address) {
        req.headers_mut().insert(header::HOST, v);
    }
    req.extensions_mut().insert(Door(Some(address)));
    req
}

/// Which certificate a TLS listener serves, looked up at every handshake
/// (so a certificate installed through the API is served from then on):
/// the front door's, the master's; a host's own address, that host's.
#[derive(Clone)]
pub struct Tls {
    pick: Arc<dyn Fn() -> Option<Arc<rustls::sign::CertifiedKey>> + Send + Sync>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// Any function that picks the certificate.
    pub fn new(pick: impl Fn() -> Option<Arc<rustls::sign::CertifiedKey>> + Send + Sync + 'static) -> Tls {
        Tls { pick: Arc::new(pick) }
    }

    /// The front door: the master's certificate, else the front door's own pair.
    pub fn front(core: Arc<Core>) -> Tls {
        Tls::new(move || {
            let master = {
                let db = core.db.read();
                let m = crate::rules::pool::master(&db);
                db.string(&m, "uuid")
            };
            core.certs.get(&master).or_else(|| core.certs.front()).map(|s| s.key.clone())
        })
    }

    /// A host's own address: that host's certificate.
    pub fn host(core: Arc<Core>, address: String) -> Tls {
        Tls::new(move || host_key(&core, &address))
    }
}

/// The certificate of the host at `address` in this pool, if it has one
/// (else the front door's pair).
pub fn host_key(core: &Core, address: &str) -> Option<Arc<rustls::sign::CertifiedKey>> {
    let uuid = {
        let db = core.db.read();
        db.all("host").into_iter().find(|h| db.field_str(h, "address") == address).map(|h| db.string(&h, "uuid"))
    };
    uuid.and_then(|u| core.certs.get(&u)).or_else(|| core.certs.front()).map(|s| s.key.clone())
}

#[derive(Debug)]
struct Resolver(Tls);

impl rustls::server::ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        (self.0.pick)()
    }
}

/// Serves one listener until `shutdown` resolves.
pub async fn serve_one(
    app: Router,
    listener: std::net::TcpListener,
    tls: Option<Tls>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    match tls {
        None => {
            use axum::serve::ListenerExt;
            let listener = tokio::net::TcpListener::from_std(listener)?.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
        }
        Some(tls) => {
            install_crypto();
            let mut server =
                rustls::ServerConfig::builder().with_no_client_auth().with_cert_resolver(Arc::new(Resolver(tls)));
            server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(server));
            let handle = axum_server::Handle::new();
            let h = handle.clone();
            tokio::spawn(async move {
                shutdown.await;
                h.graceful_shutdown(Some(std::time::Duration::from_secs(2)));
            });
            // Without TCP_NODELAY, TLS 1.3 session tickets and the answer go out as
            // two segments and the client's delayed ACK adds ~40 ms per connection.
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config)
                .acceptor(axum_server::accept::NoDelayAcceptor::new());
            axum_server::from_tcp(listener)
                .acceptor(acceptor)
                .handle(handle)
                .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                .await?;
        }
    }
    Ok(())
}

/// A simulator on a background thread, stopped on drop. For tests and demos.
pub struct Sim {
    pub addr: SocketAddr,
    pub tls: bool,
    pub core: Arc<Core>,
    /// PEM of the server certificate when serving HTTPS.
    pub cert_pem: Option<Vec<u8>>,
    _server: Background,
}

/// A server running on a thread of its own (a two-worker runtime), told to
/// stop and joined when dropped: what [`Sim`] and `pools::PoolsSim` run on.
pub struct Background {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Runs `serve` on a new thread; it gets the receiver that fires at drop.
    pub fn spawn<F, Fut>(name: &str, serve: F) -> std::io::Result<Background>
    where
        F: FnOnce(tokio::sync::oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(serve(stopped));
        })?;
        Ok(Background { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Sim {
    /// Starts a simulator; panics only if loopback cannot be bound (tests).
    pub fn start(opts: SimOptions) -> std::io::Result<Sim> {
        let core = build_core(&opts)?;
        let listener = std::net::TcpListener::bind(opts.listen)?;
        let addr = listener.local_addr()?;
        let hosts = host_listeners(&core, addr)?;
        let tls = opts.tls;
        let cert_pem = core.certs.front().map(|s| s.leaf_pem.clone().into_bytes());
        let c = core.clone();
        let server = Background::spawn("xapi-sim", move |stopped| async move {
            let _ = serve(c, listener, hosts, tls, async {
                let _ = stopped.await;
            })
            .await;
        })?;
        Ok(Sim { addr, tls: opts.tls, core, cert_pem, _server: server })
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }
}
