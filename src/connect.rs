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
        let task = self.session.call(&format!("Async.{method}"), &args).map_err(map_err)?;
        let task = task.as_str().unwrap_or("").to_string();
        self.session.wait_task(&task, &mut |_| {}).map_err(map_err)
    }
}

/// The session to log out if the user interrupts the command.
static ACTIVE: Mutex<Option<(Connection, String)>> = Mutex::new(None);

/// The task the command is waiting for, cancelled if the user interrupts.
static CURRENT_TASK: Mutex<Option<String>> = Mutex::new(None);

/// Set when the user interrupted the command; the handler then owns the exit.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether Ctrl-C was pressed: the main thread must leave the exit to the handler.
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Cancels the task being waited for and logs out the active session, if
/// any (used by the Ctrl-C handler).
pub fn logout_active() {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
    let task = CURRENT_TASK.lock().map(|mut t| t.take()).unwrap_or(None);
    let taken = ACTIVE.lock().map(|mut a| a.take()).unwrap_or(None);
    if let Some((conn, session)) = taken {
        // Stop the command's own calls first: after the logout below, a call
        // still in flight would otherwise see SESSION_INVALID and log in again.
        let own = conn.detached();
        conn.close();
        let Ok(own) = own else { return };
        if let Some(task) = task {
            let _ = own.call("task.cancel", &[Value::String(session.clone()), Value::String(task)]);
        }
        let _ = own.call("session.logout", &[Value::String(session)]);
    }
}

fn set_current_task(task: Option<&str>) {
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
        other => CliError::Connection(other.to_string()),
    }
}

impl Connector {
    pub fn new(settings: Settings) -> Connector {
        Connector { settings, session: None, failed: None }
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
        let mut opts = Options::new(tls);
        if s.xmlrpc {
            opts.protocol = xenapi::client::Protocol::XmlRpc;
        }
        let conn = Connection::new(&url, opts.clone()).map_err(|e| describe_error(&e))?;
        let login = match Session::login(conn, &user, &password, "xe-rs") {
            // The real xe reaches 127.0.0.1 through the host's local socket;
            // here it is often a tunnel to a host's HTTPS port (or `xapi-sim
            // --tls`): a server that does not answer plain HTTP there is
            // tried over HTTPS, with the usual certificate checks.
            Err(e) if s.tls_fallback && speaks_tls(&e) => {
                let https = base_url(true, &s.server, s.port);
                let conn = Connection::new(&https, opts).map_err(|e| describe_error(&e))?;
                match Session::login(conn, &user, &password, "xe-rs") {
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
            Err(e) if !s.tls && !s.tls_fallback && speaks_tls(&e) => {
                return Err(CliError::Connection(format!("{e} (the server seems to speak HTTPS: leave out --nossl)")))
            }
            Err(e) => return Err(describe_error(&e)),
        };
        for notice in session.take_notices() {
            printer.err_always(&notice);
        }
        if let Ok(mut a) = ACTIVE.lock() {
            *a = Some((session.connection().clone(), session.session_ref().to_string()));
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
        let task = session.call(&format!("Async.{method}"), &args).map_err(map_err)?;
        let task = task.as_str().unwrap_or("").to_string();
        set_current_task(Some(&task));
        let bar = printer.progress(method);
        let result = session.wait_task(&task, &mut |p| {
            if let Some(b) = &bar {
                b.set(p);
            }
        });
        set_current_task(None);
        if let Some(b) = bar {
            b.finish();
        }
        let result = result.map_err(map_err);
        self.trace(printer, &format!("Async.{method}"), started, &result);
        result
    }

    /// xapi's `track_http_operation`: creates a task labelled `label`, runs
    /// `transfer` on `path?session_id=S&task_id=T{extra}` over this
    /// connection, then waits for the task (`event.from`), destroys it and
    /// returns its result. When the transfer fails, the task's own failure
    /// is reported if it has one (the server's reason), else the
    /// transfer's; a task no handler finished is cancelled, never left behind.
    pub fn http_task(
        &mut self,
        printer: &mut Printer,
        label: &str,
        path: &str,
        extra: &str,
        transfer: &mut dyn FnMut(&Link, &str) -> Result<(), CliError>,
    ) -> Result<Value, CallError> {
        let started = std::time::Instant::now();
        let session = self.session(printer).map_err(CallError::Cli)?;
        let task = session.call("task.create", &[Value::str(label), Value::str("")]).map_err(map_err)?;
        let task = task.as_str().unwrap_or("").to_string();
        set_current_task(Some(&task));
        let url = format!("{path}?session_id={}&task_id={task}{extra}", session.session_ref());
        let conn = session.connection().clone();
        let result = match transfer(&Link(&conn), &url) {
            Ok(()) => session.wait_task(&task, &mut |_| {}).map_err(map_err),
            Err(e) => {
                let record = session.call("task.get_record", &[Value::str(task.as_str())]).unwrap_or(Value::Nil);
                let status = record.get("status").and_then(Value::as_str).unwrap_or("");
                if status == "pending" {
                    let _ = session.call("task.cancel", &[Value::str(task.as_str())]);
                }
                let _ = session.call("task.destroy", &[Value::str(task.as_str())]);
                let info: Vec<String> = record
                    .get("error_info")
                    .and_then(Value::as_array)
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                match info.split_first() {
                    Some((code, params)) if status == "failure" => Err(CallError::Api(code.clone(), params.to_vec())),
                    _ => Err(CallError::Cli(e)),
                }
            }
        };
        set_current_task(None);
        self.trace(printer, &format!("HTTP {path}"), started, &result);
        result
    }

    /// A worker handle on the same session (opening it if needed).
    pub fn worker(&mut self, printer: &mut Printer) -> Result<Worker, CliError> {
        Ok(Worker { session: self.session(printer)?.share() })
    }

    /// Logs out when a session was opened; errors are ignored.
    pub fn logout(&mut self) {
        if let Some(mut s) = self.session.take() {
            let _ = s.logout();
        }
        if let Ok(mut a) = ACTIVE.lock() {
            *a = None;
        }
    }
}

/// A transfer's I/O error, as xe reports one.
fn io_failure(e: &std::io::Error) -> CliError {
    CliError::Raw(format!("Operation failed. Error: {e}"))
}

/// The connection an HTTP transfer of [`Connector::http_task`] runs on.
pub struct Link<'a>(&'a Connection);

impl Link<'_> {
    /// `GET url` into `out`.
    pub fn download(&self, url: &str, out: &mut std::fs::File) -> Result<(), CliError> {
        let mut resp = self.0.http_get(url).map_err(|e| describe_error(&e))?;
        std::io::copy(&mut resp, out).map_err(|e| io_failure(&e))?;
        out.sync_all().map_err(|e| io_failure(&e))
    }

    /// `PUT url` with the `len` bytes of `file` (a regular file: xapi needs
    /// the `Content-Length`). The answer's body ends when the server is done
    /// with the upload, so it is read to its end.
    pub fn upload(&self, url: &str, file: std::fs::File, len: u64) -> Result<(), CliError> {
        let mut resp = self.0.http_put(url, file, Some(len)).map_err(|e| describe_error(&e))?;
        std::io::copy(&mut resp, &mut std::io::sink()).map_err(|e| io_failure(&e))?;
        Ok(())
    }
}

/// Whether a failed plain-HTTP call looks like a TLS server's answer: not an
/// HTTP response (`invalid HTTP version`, a TLS alert) or a connection
/// closed without one. A refused connection or a timeout is not.
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
    let mut opts = Options::new(if s.insecure { Tls::Insecure } else { Tls::Known { known_hosts } });
    opts.connect_timeout = Duration::from_secs(2);
    opts.read_timeout = Some(Duration::from_secs(10));
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
