//! The bridge between the CLI and `xenapi::client`: opens the connection and
//! session on first use (prompting for a password on a terminal), maps
//! client errors to xe's messages, shows TLS notices, logs out at the end.

use crate::config::Settings;
use crate::error::CliError;
use crate::output::Printer;
use std::sync::Mutex;
use std::time::Duration;
use xenapi::client::{Connection, Error, Options, Session, Tls};
use xenapi::wire::jsonrpc::RawRecords;
use xenapi::Value;

/// A failed call: an API error to be described, or an error already in xe's terms.
#[derive(Debug)]
pub enum CallError {
    Api(String, Vec<String>),
    Cli(CliError),
}

/// Calls that commands make, whether from the main thread (with progress
/// bars) or from a `--multiple` worker.
pub trait Api {
    fn call(&mut self, method: &str, args: Vec<Value>) -> Result<Value, CallError>;
    /// Calls `Async.<method>` and waits for its task.
    fn call_async(&mut self, method: &str, args: Vec<Value>) -> Result<Value, CallError>;
    /// The server as `host:port`, for messages.
    fn server(&self) -> String;
}

/// An answer of the wrong type, e.g. a string where a map of records was
/// expected: an error, never an empty success.
pub fn wrong_answer(server: &str, method: &str, expected: &str, got: &Value) -> CliError {
    let kind = got.kind();
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    CliError::Connection(format!(
        "Unreadable answer from {server} to {method}: expected {expected}, got {article} {kind}"
    ))
}

fn map_err(e: Error) -> CallError {
    match e {
        Error::Api { code, params } => CallError::Api(code, params),
        other => CallError::Cli(describe_error(&other)),
    }
}

/// A handle on the command's session for a worker thread.
pub struct Worker {
    session: Session,
}

impl Api for Worker {
    fn call(&mut self, method: &str, args: Vec<Value>) -> Result<Value, CallError> {
        self.session.call(method, &args).map_err(map_err)
    }

    fn call_async(&mut self, method: &str, args: Vec<Value>) -> Result<Value, CallError> {
        let task = start_task(&mut self.session, method, args)?;
        self.session.wait_task(&task.r, &mut |_| {}).map_err(|e| task.failed(&self.session, method, e))
    }

    fn server(&self) -> String {
        self.session.connection().host_port().to_string()
    }
}

/// A task an `Async.` call created: its ref, and its uuid for messages
/// (the ref when the server could not say).
struct Task {
    r: String,
    shown: String,
    uuid: bool,
}

/// Calls `Async.<method>` and looks up the task's uuid, so that a lost
/// connection can name it later.
fn start_task(session: &mut Session, method: &str, args: Vec<Value>) -> Result<Task, CallError> {
    let call = format!("Async.{method}");
    let r = match session.call(&call, &args).map_err(map_err)? {
        Value::String(r) => r,
        other => {
            return Err(CallError::Cli(wrong_answer(session.connection().host_port(), &call, "a task ref", &other)))
        }
    };
    let uuid = match session.call("task.get_uuid", &[Value::str(r.as_str())]) {
        Ok(Value::String(u)) if !u.is_empty() => Some(u),
        _ => None,
    };
    Ok(Task { shown: uuid.clone().unwrap_or_else(|| r.clone()), uuid: uuid.is_some(), r })
}

impl Task {
    /// What a failure while waiting means: the task's own error, or, when
    /// the server was lost, that the operation may still be running there.
    fn failed(&self, session: &Session, method: &str, e: Error) -> CallError {
        if !e.is_transport() {
            return map_err(e);
        }
        let reason = match &e {
            Error::Connect { reason, .. } | Error::Tls { reason, .. } => reason.clone(),
            Error::Timeout { method, .. } => format!("no answer to {method} in time"),
            Error::Http { status, .. } => format!("HTTP {status}"),
            Error::Protocol { method, reason, .. } => format!("unreadable answer to {method}: {reason}"),
            other => other.to_string(),
        };
        let check = if self.uuid { format!("xe task-list uuid={}", self.shown) } else { "xe task-list".to_string() };
        CallError::Cli(CliError::Connection(format!(
            "Lost the connection to {} while waiting for task {} ({method}): {reason}; the operation may still \
             complete: check it with {check}",
            session.connection().host_port(),
            self.shown
        )))
    }
}

/// The most a call that the server holds on purpose may take beyond its wait.
const WAIT_MARGIN: Duration = Duration::from_secs(30);

/// The session to log out if the user interrupts the command.
/// (A handle on it: its ref is the current one after a re-login.)
static ACTIVE: Mutex<Option<Session>> = Mutex::new(None);

/// The task the command is waiting for, cancelled if the user interrupts.
static CURRENT_TASK: Mutex<Option<String>> = Mutex::new(None);

/// A download's partial file, removed if the user interrupts the command.
static PARTIAL_FILE: Mutex<Option<std::path::PathBuf>> = Mutex::new(None);

/// Set when the user interrupted the command; the handler then owns the exit.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether Ctrl-C was pressed: the main thread must leave the exit to the handler.
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Cancels the task being waited for, removes a download's partial file
/// and logs out the active session, if any (used by the Ctrl-C handler).
/// Returns what the user should be told, if anything.
pub fn logout_active() -> Option<String> {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
    let task = CURRENT_TASK.lock().map(|mut t| t.take()).unwrap_or(None);
    let partial = PARTIAL_FILE.lock().map(|mut p| p.take()).unwrap_or(None);
    let mut notes = Vec::new();
    let taken = ACTIVE.lock().map(|mut a| a.take()).unwrap_or(None);
    if let Some(active) = taken {
        let (conn, session) = (active.connection().clone(), active.current_session_ref());
        // Stop the command's own calls first: after the logout below, a call
        // still in flight would otherwise see SESSION_INVALID and log in again.
        let own = conn.detached();
        conn.close();
        if let Ok(own) = own {
            if let Some(task) = &task {
                let args = [Value::String(session.clone()), Value::String(task.clone())];
                if own.call("task.cancel", &args).is_ok() && partial.is_some() {
                    notes.push("its task was cancelled".to_string());
                }
            }
            let _ = own.call("session.logout", &[Value::String(session)]);
        }
    }
    if let Some(p) = partial {
        if std::fs::remove_file(&p).is_ok() {
            notes.push(format!("the partial file '{}' was removed", p.display()));
        }
    }
    (!notes.is_empty()).then(|| format!("Interrupted: {}.", notes.join(" and ")))
}

/// Names the file a download is writing, for the Ctrl-C handler to remove (`None` once it is complete).
pub fn set_partial_file(path: Option<&std::path::Path>) {
    if let Ok(mut p) = PARTIAL_FILE.lock() {
        *p = path.map(std::path::Path::to_path_buf);
    }
}

/// Names the task the command waits for, for the Ctrl-C handler to cancel.
pub fn set_current_task(task: Option<&str>) {
    if let Ok(mut t) = CURRENT_TASK.lock() {
        *t = task.map(str::to_string);
    }
}

/// Opens the session lazily and keeps it for the command's lifetime.
pub struct Connector {
    settings: Settings,
    session: Option<Session>,
    /// Set when the login failed, so later calls fail the same way.
    failed: Option<CliError>,
    /// Log in to the host itself (`slave_local_login_with_password`), as
    /// xe's commands that run on the host they reach do.
    local: bool,
}

/// Formats the base URL, bracketing IPv6 literals.
pub fn base_url(tls: bool, server: &str, port: u16) -> String {
    let host =
        if server.contains(':') && !server.starts_with('[') { format!("[{server}]") } else { server.to_string() };
    format!("{}://{host}:{port}", if tls { "https" } else { "http" })
}

/// Maps a client error that is not an API error to xe's one-line messages.
pub fn describe_error(e: &Error) -> CliError {
    match e {
        Error::Api { code, params } => CliError::Api { code: code.clone(), params: params.clone() },
        Error::TooLarge { .. } => CliError::Connection(format!("{e} (set XE_MAX_VALUE to raise it)")),
        other => CliError::Connection(other.to_string()),
    }
}

/// The client's settings for this command: certificate policy, wire format,
/// `--timeout`/`XE_TIMEOUT` and `XE_MAX_VALUE`.
fn options(s: &Settings, tls: Tls) -> Options {
    let mut opts = Options::new(tls);
    if s.xmlrpc {
        opts.protocol = xenapi::client::Protocol::XmlRpc;
    }
    if let Some(t) = s.timeout {
        opts.connect_timeout = t;
        opts.read_timeout = Some(t);
    }
    opts.max_value = s.max_value;
    opts
}

impl Connector {
    pub fn new(settings: Settings) -> Connector {
        Connector { settings, session: None, failed: None, local: false }
    }

    fn open(&mut self, printer: &mut Printer) -> Result<Session, CliError> {
        let s = &self.settings;
        let (url, user, password) = if let Some(name) = s.server.strip_prefix("sim://") {
            let sim = crate::sims::ensure_running(name, printer)?;
            (base_url(false, "127.0.0.1", sim.port), sim.username, Some(sim.password))
        } else {
            (base_url(s.tls, &s.server, s.port), s.username.clone(), s.password.clone())
        };
        if user.is_empty() {
            return Err(CliError::MissingCredentials);
        }
        let password = match password {
            Some(p) => p,
            None if crate::config::Environment::from_process().stdin_is_tty => printer
                .prompt_password("Password: ")
                .map_err(|e| CliError::failure(format!("cannot read password: {e}")))?,
            // The real xe sends the literal default when nothing else is known.
            None => "null".to_string(),
        };
        let tls =
            if s.insecure { Tls::Insecure } else { Tls::Verify { known_hosts: crate::config::known_hosts_path() } };
        let opts = options(s, tls);
        let conn = Connection::new(&url, opts.clone()).map_err(|e| describe_error(&e))?;
        let local = self.local;
        let log_in = |conn: Connection| {
            if local {
                Session::login_local(conn, &user, &password)
            } else {
                Session::login(conn, &user, &password, "xe-rs")
            }
        };
        let login = match log_in(conn) {
            // The real xe reaches 127.0.0.1 through the host's local socket;
            // here it is often a tunnel to a host's HTTPS port (or `xapi-sim
            // --tls`): a server that does not answer plain HTTP there is
            // tried over HTTPS, with the usual certificate checks.
            Err(e) if s.tls_fallback && speaks_tls(&e) => {
                let https = base_url(true, &s.server, s.port);
                let conn = Connection::new(&https, opts).map_err(|e| describe_error(&e))?;
                match log_in(conn) {
                    Err(Error::Connect { .. } | Error::Tls { .. } | Error::Protocol { .. } | Error::Http { .. }) => {
                        return Err(CliError::Connection(format!(
                            "{} (the server at {}:{} does not answer plain HTTP, nor HTTPS; give --nossl or \
                             the right -p)",
                            e, s.server, s.port
                        )))
                    }
                    other => other,
                }
            }
            other => other,
        };
        let session = match login {
            Ok(s) => s,
            Err(Error::Api { code, .. }) if code == "SESSION_AUTHENTICATION_FAILED" => {
                return Err(CliError::AuthFailed)
            }
            Err(e @ Error::CertificateMismatch { .. }) => return Err(rotation::explain(s, &user, &password, &e)),
            Err(e) if !s.tls && !s.tls_fallback && speaks_tls(&e) => {
                return Err(CliError::Connection(format!("{e} (the server seems to speak HTTPS: leave out --nossl)")))
            }
            Err(e) => return Err(describe_error(&e)),
        };
        // A command logs in again at most once, whichever of its threads sees
        // the session expire; a second expiry is an error, not a login storm.
        session.limit_relogins(1);
        for notice in session.take_notices() {
            printer.err_always(&notice);
        }
        if let Ok(mut a) = ACTIVE.lock() {
            *a = Some(session.share());
        }
        Ok(session)
    }

    fn session(&mut self, printer: &mut Printer) -> Result<&mut Session, CliError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.session.is_none() {
            match self.open(printer) {
                Ok(s) => self.session = Some(s),
                Err(e) => {
                    self.failed = Some(e.clone());
                    return Err(e);
                }
            }
        }
        Ok(self.session.as_mut().expect("session just opened"))
    }

    /// Calls `method` with the session prepended.
    pub fn call(&mut self, printer: &mut Printer, method: &str, args: Vec<Value>) -> Result<Value, CallError> {
        let started = std::time::Instant::now();
        let session = self.session(printer).map_err(CallError::Cli)?;
        let result = session.call(method, &args).map_err(map_err);
        self.trace(printer, method, started, &result);
        result
    }

    /// Calls `method`, which the server may hold for up to `wait` (e.g.
    /// `event.from`), allowing the read timeout (at most 30 s) beyond it.
    pub fn call_waiting(
        &mut self,
        printer: &mut Printer,
        method: &str,
        args: Vec<Value>,
        wait: Duration,
    ) -> Result<Value, CallError> {
        let started = std::time::Instant::now();
        let session = self.session(printer).map_err(CallError::Cli)?;
        let margin = session.connection().options().read_timeout.map_or(WAIT_MARGIN, |t| t.min(WAIT_MARGIN));
        let result = session.call_with_timeout(method, &args, wait + margin).map_err(map_err);
        self.trace(printer, method, started, &result);
        result
    }

    /// `--debug`: one stderr line per call with its outcome and duration;
    /// only the method is shown, because parameters may hold secrets.
    fn trace<T>(
        &self,
        printer: &mut Printer,
        method: &str,
        started: std::time::Instant,
        result: &Result<T, CallError>,
    ) {
        if !self.settings.debug {
            return;
        }
        let outcome = match result {
            Ok(_) => "ok",
            Err(CallError::Api(code, _)) => code.as_str(),
            Err(CallError::Cli(_)) => "failed",
        };
        printer.err_always(&format!("xe: {method}: {outcome} ({} ms)", started.elapsed().as_millis()));
    }

    /// Calls a records method keeping only the members `keep` accepts.
    pub fn call_projected(
        &mut self,
        printer: &mut Printer,
        method: &str,
        args: Vec<Value>,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<Value, CallError> {
        let started = std::time::Instant::now();
        let session = self.session(printer).map_err(CallError::Cli)?;
        let result = session.call_projected(method, &args, keep).map_err(map_err);
        self.trace(printer, method, started, &result);
        result
    }

    /// Calls a records method keeping the records (their members `keep`
    /// accepts) as text, each decoded when used.
    pub fn call_records(
        &mut self,
        printer: &mut Printer,
        method: &str,
        args: Vec<Value>,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<RawRecords, CallError> {
        let started = std::time::Instant::now();
        let session = self.session(printer).map_err(CallError::Cli)?;
        let result = session.call_records(method, &args, keep).map_err(map_err);
        self.trace(printer, method, started, &result);
        result
    }

    /// Calls `Async.<method>` and waits for the task, with a progress bar on a terminal.
    pub fn call_async(&mut self, printer: &mut Printer, method: &str, args: Vec<Value>) -> Result<Value, CallError> {
        let started = std::time::Instant::now();
        let session = self.session(printer).map_err(CallError::Cli)?;
        let task = start_task(session, method, args)?;
        set_current_task(Some(&task.r));
        let bar = printer.progress(method);
        let result = session.wait_task(&task.r, &mut |p| {
            if let Some(b) = &bar {
                b.set(p);
            }
        });
        set_current_task(None);
        if let Some(b) = bar {
            b.finish();
        }
        let result = result.map_err(|e| task.failed(session, method, e));
        self.trace(printer, &format!("Async.{method}"), started, &result);
        result
    }

    /// The server as `host:port`: where the session is, or where it would be.
    pub fn server(&self) -> String {
        match &self.session {
            Some(s) => s.connection().host_port().to_string(),
            None => format!("{}:{}", self.settings.server, self.settings.port),
        }
    }

    /// The session's connection and ref, for data transfers (opening the session if needed).
    pub fn data_link(&mut self, printer: &mut Printer) -> Result<(Connection, String), CliError> {
        let session = self.session(printer)?;
        Ok((session.connection().clone(), session.current_session_ref()))
    }

    /// Waits for a task to finish (it is destroyed then) and returns its
    /// result, or its error; `TASK_CANCELLED` when it was cancelled.
    pub fn wait_task(&mut self, printer: &mut Printer, task: &str) -> Result<Value, CallError> {
        let session = self.session(printer).map_err(CallError::Cli)?;
        session.wait_task(task, &mut |_| {}).map_err(map_err)
    }

    /// A worker handle on the same session (opening it if needed).
    pub fn worker(&mut self, printer: &mut Printer) -> Result<Worker, CliError> {
        Ok(Worker { session: self.session(printer)?.share() })
    }

    /// Logs out when a session was opened; errors are ignored.
    /// Makes the session, opened on first use, local to the host reached
    /// (xe's `Context::use_local_session`).
    pub fn use_local_session(&mut self) {
        self.local = true;
    }

    pub fn logout(&mut self) {
        if let Some(mut s) = self.session.take() {
            let _ = s.logout();
        }
        if let Ok(mut a) = ACTIVE.lock() {
            *a = None;
        }
    }
}

/// Whether a failed plain-HTTP call looks like a TLS server's answer: not an
/// HTTP response (`invalid HTTP version`, a TLS alert) or a connection
/// closed without one. A refused connection or a timeout is not.
/// What xe makes of a pinned certificate that changed: it asks the pool.
///
/// A changed certificate is never accepted here. When another server of
/// the known-hosts file still presents its pinned certificate and lets the
/// user log in (following `HOST_IS_SLAVE` to a master whose pin matches
/// too, or else on a local session of that server, a member answering
/// from the pool's database), xe reads the pool's `Certificate` records through it: if one of
/// the pool's hosts has the presented certificate as its server
/// certificate, the certificate was rotated through the API (an admin ran
/// `host-server-certificate-install` or `host-reset-server-certificate`),
/// and xe says so and how to accept it; if none has, xe says that the pool
/// does not know it. Without such a server the message stays the plain
/// mismatch.
pub mod rotation {
    use super::{options, Connection, Error, Session, Settings, Tls};
    use crate::error::CliError;
    use std::time::Duration;
    use xenapi::Value;

    /// Servers asked at most, in the file's order.
    const MAX_ASKED: usize = 4;

    /// What the pool says of a presented certificate.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Verdict {
        /// A host of the pool has it: its name and address.
        Recorded { host: String, address: String },
        /// The pool's records do not have it.
        Unknown,
    }

    fn canonical(fp: &str) -> String {
        fp.chars().filter(char::is_ascii_hexdigit).map(|c| c.to_ascii_uppercase()).collect()
    }

    /// The other servers pinned in the known-hosts text, in order, once each.
    pub fn other_servers(text: &str, host_port: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let Some(server) = line.split_whitespace().next() else { continue };
            if !server.eq_ignore_ascii_case(host_port) && !out.iter().any(|o| o.eq_ignore_ascii_case(server)) {
                out.push(server.to_string());
            }
        }
        out
    }

    /// Finds `presented` among the pool's host certificates, through a
    /// session whose server's pins all matched; of several hosts with it,
    /// the one at `address` (the server xe was reaching) if there is one.
    pub fn verdict(session: &mut Session, presented: &str, address: &str) -> Result<Verdict, Error> {
        let wanted = canonical(presented);
        let records = session.call("Certificate.get_all_records", &[])?;
        let hosts: Vec<String> = records
            .as_struct()
            .unwrap_or(&[])
            .iter()
            .filter(|(_, rec)| {
                let fp = |f: &str| rec.get(f).and_then(Value::as_str).map(canonical);
                // Newer servers name the SHA-256 one `fingerprint_sha256`.
                let sha256 = fp("fingerprint_sha256").or_else(|| fp("fingerprint"));
                sha256.as_deref() == Some(wanted.as_str()) && rec.get("type").and_then(Value::as_str) == Some("host")
            })
            .filter_map(|(_, rec)| rec.get("host").and_then(Value::as_str).map(str::to_string))
            .collect();
        let text = |v: Value| v.as_str().unwrap_or_default().to_string();
        let mut found = Vec::new();
        for h in hosts {
            let name = text(session.call("host.get_name_label", &[Value::str(&h)])?);
            let at = text(session.call("host.get_address", &[Value::str(&h)])?);
            found.push(Verdict::Recorded { host: name, address: at });
        }
        let here = found.iter().position(|v| matches!(v, Verdict::Recorded { address: a, .. } if a == address));
        Ok(match here {
            Some(i) => found.swap_remove(i),
            None => found.into_iter().next().unwrap_or(Verdict::Unknown),
        })
    }

    /// Asks the pool through the other pinned servers, first that answers.
    fn ask(
        s: &Settings,
        user: &str,
        password: &str,
        host_port: &str,
        presented: &str,
        known: &std::path::Path,
    ) -> Option<(String, Verdict)> {
        let text = std::fs::read_to_string(known).ok()?;
        for server in other_servers(&text, host_port).into_iter().take(MAX_ASKED) {
            let mut opts = options(s, Tls::Known { known_hosts: known.to_path_buf() });
            opts.connect_timeout = opts.connect_timeout.min(Duration::from_secs(5));
            opts.read_timeout =
                Some(opts.read_timeout.map_or(Duration::from_secs(10), |t| t.min(Duration::from_secs(10))));
            let url = format!("https://{server}");
            let Ok(conn) = Connection::new(&url, opts.clone()) else { continue };
            let mut session = match Session::login(conn, user, password, "xe-rs") {
                Ok(session) => session,
                Err(Error::Api { code, .. }) if code == "SESSION_AUTHENTICATION_FAILED" => continue,
                // A member whose pin matches, on the way to a master whose
                // pin does not (the master's certificate is the one that
                // changed): the member answers a local session from the
                // pool's database.
                Err(_) => {
                    let Ok(conn) = Connection::new(&url, opts) else { continue };
                    let Ok(session) = Session::login_local(conn, user, password) else { continue };
                    session
                }
            };
            let address = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h).trim_matches(['[', ']']);
            let answer = verdict(&mut session, presented, address);
            let _ = session.logout();
            if let Ok(v) = answer {
                return Some((server, v));
            }
        }
        None
    }

    /// The error for a changed certificate, with what the pool says of it.
    pub fn explain(s: &Settings, user: &str, password: &str, e: &Error) -> CliError {
        let Error::CertificateMismatch { host_port, pinned, presented, known_hosts } = e else {
            return super::describe_error(e);
        };
        let file = known_hosts.display();
        let head =
            format!("The certificate of {host_port} has changed (pinned SHA-256 {pinned}, presented {presented})");
        match ask(s, user, password, host_port, presented, known_hosts) {
            Some((via, Verdict::Recorded { host, address })) => CliError::Connection(format!(
                "{head}. The pool, asked through {via} (whose pinned certificate still matches), records it as the \
                 server certificate of host {host} ({address}): it was rotated through the API. To accept it, \
                 replace the line for {host_port} in {file} with \"{host_port} {presented}\" and retry"
            )),
            Some((via, Verdict::Unknown)) => CliError::Connection(format!(
                "{head}. The pool, asked through {via} (whose pinned certificate still matches), records no host \
                 with this certificate: do not trust it unless you know why it changed; to accept it anyway, \
                 remove the line for {host_port} from {file} and retry"
            )),
            None => super::describe_error(e),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_pool_says_whose_certificate_it_is() {
            let sim = xapi_sim::server::Sim::start(xapi_sim::SimOptions::default()).expect("a simulator");
            let (uuid, address) = {
                let db = sim.core.db.read();
                let h = db.all("host").into_iter().find(|h| db.string(h, "name_label") == "xs-host-2").expect("host");
                (db.string(&h, "uuid"), db.string(&h, "address"))
            };
            let presented = sim.core.certs.get(&uuid).expect("a certificate").facts.sha256.clone();
            let conn = Connection::new(&sim.url(), xenapi::client::Options::new(Tls::Insecure)).expect("a connection");
            let mut session = Session::login(conn, "root", "xenroot", "test").expect("a session");
            let recorded = Verdict::Recorded { host: "xs-host-2".into(), address: address.clone() };
            assert_eq!(verdict(&mut session, &presented, "").unwrap(), recorded);
            assert_eq!(verdict(&mut session, &presented.to_lowercase(), &address).unwrap(), recorded);
            let stranger = vec!["AB"; 32].join(":");
            assert_eq!(verdict(&mut session, &stranger, &address).unwrap(), Verdict::Unknown);
            // A pool_internal certificate is not what a host serves.
            let internal = {
                let db = sim.core.db.read();
                let c = db.all("Certificate").into_iter().find(|c| db.string(c, "type") == "host_internal").unwrap();
                db.string(&c, "fingerprint")
            };
            assert_eq!(verdict(&mut session, &internal, "").unwrap(), Verdict::Unknown);
        }

        #[test]
        fn other_servers_come_once_each_in_order() {
            let text = "# c\na:1 AA\nb:2 BB\n\nA:1 CC\nc:3 DD\nb:2 EE\n";
            assert_eq!(other_servers(text, "a:1"), vec!["b:2", "c:3"]);
        }
    }
}

fn speaks_tls(e: &Error) -> bool {
    match e {
        Error::Connect { reason, .. } | Error::Protocol { reason, .. } => {
            let r = reason.to_ascii_lowercase();
            r.contains("invalid http version")
                || r.contains("http/0.9")
                || r.contains("connection closed before message completed")
                || r.contains("connection reset")
        }
        _ => false,
    }
}

/// Fetches `<class>.get_all_records_where(expr)` for shell completion, quietly:
/// no password prompt (a missing password is xe's literal `null`), a 2 s
/// connect timeout, no certificate pinned on first use, no `sim://` simulator
/// started, nothing printed. Only the record fields `fields` are decoded.
/// Three RPCs: login, the fetch, logout. `None` on any failure.
pub fn quiet_records(s: &Settings, class: &str, expr: &str, fields: &[&str]) -> Option<Vec<Value>> {
    let (url, user, password) = if let Some(name) = s.server.strip_prefix("sim://") {
        let sim = crate::sims::running(name)?;
        (base_url(false, "127.0.0.1", sim.port), sim.username, sim.password)
    } else {
        let password = s.password.clone().unwrap_or_else(|| "null".to_string());
        (base_url(s.tls, &s.server, s.port), s.username.clone(), password)
    };
    if user.is_empty() {
        return None;
    }
    let known_hosts = crate::config::known_hosts_path();
    let mut opts = options(s, if s.insecure { Tls::Insecure } else { Tls::Known { known_hosts } });
    // Quick, whatever the command's own settings: a shell is waiting.
    opts.connect_timeout = opts.connect_timeout.min(Duration::from_secs(2));
    opts.read_timeout = Some(opts.read_timeout.map_or(Duration::from_secs(10), |t| t.min(Duration::from_secs(10))));
    let conn = Connection::new(&url, opts).ok()?;
    let mut session = Session::login(conn, &user, &password, "xe-rs").ok()?;
    // Without a filter, the call every server has; with one, the server
    // filters, or (lacking get_all_records_where) the records are filtered here.
    let tests = simple_filter(expr);
    let keep = |k: &str| fields.contains(&k) || tests.iter().flatten().any(|(f, _)| f == k);
    let all = format!("{class}.get_all_records");
    let result = if expr == "true" {
        session.call_projected(&all, &[], &keep)
    } else {
        match session.call_projected(&format!("{class}.get_all_records_where"), &[Value::str(expr)], &keep) {
            Err(e) if e.api_code() == Some("MESSAGE_METHOD_UNKNOWN") && tests.is_some() => {
                session.call_projected(&all, &[], &keep).map(|v| match v {
                    Value::Struct(m) => Value::Struct(
                        m.into_iter()
                            .filter(|(_, rec)| {
                                tests
                                    .iter()
                                    .flatten()
                                    .all(|(f, want)| rec.get(f).is_some_and(|v| v.to_string() == *want))
                            })
                            .collect(),
                    ),
                    other => other,
                })
            }
            other => other,
        }
    };
    let _ = session.logout();
    match result.ok()? {
        Value::Struct(members) => Some(members.into_iter().map(|(_, record)| record).collect()),
        _ => None,
    }
}

/// The `(field, value)` tests of an expression made only of
/// `field "f" = "v"` clauses joined by `and`; `None` for anything else.
fn simple_filter(expr: &str) -> Option<Vec<(String, String)>> {
    if expr == "true" {
        return Some(Vec::new());
    }
    expr.split(" and ")
        .map(|clause| {
            let rest = clause.trim().strip_prefix("field \"")?;
            let (field, rest) = rest.split_once('"')?;
            let value = rest.trim().strip_prefix('=')?.trim().strip_prefix('"')?.strip_suffix('"')?;
            Some((field.to_string(), value.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::simple_filter;

    #[test]
    fn simple_expressions_become_tests() {
        assert_eq!(
            simple_filter(r#"field "is_a_template" = "true" and field "is_a_snapshot" = "false""#),
            Some(vec![("is_a_template".into(), "true".into()), ("is_a_snapshot".into(), "false".into())])
        );
        assert_eq!(simple_filter("true"), Some(vec![]));
        assert_eq!(simple_filter("subroles<>[]"), None);
    }
}
