//! Sessions: login, calls with the session ref prepended, one re-login on
//! `SESSION_INVALID` (shared by every handle on the session, so threads that
//! see the same expiry log in once between them), following `HOST_IS_SLAVE`
//! to the pool master, and waiting for asynchronous tasks through `event.from`.

use super::error::{Error, Result, HOST_IS_SLAVE, SESSION_INVALID, TASK_CANCELLED};
use super::Connection;
use crate::wire::jsonrpc::RawRecords;
use crate::wire::{xmlrpc, DecodeError};
use crate::Value;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The API version sent with `session.login_with_password`.
pub const API_VERSION: &str = "2.21";

/// How many `HOST_IS_SLAVE` answers in a row are followed before giving up.
const MAX_MASTER_HOPS: usize = 3;

/// How long one `event.from` blocks on the server, in seconds.
const EVENT_WAIT: f64 = 30.0;

/// The most an `event.from` call may take beyond [`EVENT_WAIT`] (less when
/// the connection's read timeout is shorter).
const EVENT_MARGIN: Duration = Duration::from_secs(30);

/// How often a task is polled when the server has no `event.from`.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// A logged-in session. Dropping it does not log out: call [`Session::logout`].
pub struct Session {
    conn: Connection,
    /// Shared with every [`Session::share`]: a re-login by one handle serves them all.
    shared: Arc<Mutex<Shared>>,
    /// The session ref as this handle last used it.
    used: String,
    user: String,
    password: String,
    originator: String,
    logged_out: bool,
    /// Made by `session.slave_local_login_with_password`: the host's own
    /// session, which stays on that host (no `HOST_IS_SLAVE` following).
    local: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("server", &self.conn.host_port())
            .field("user", &self.user)
            .field("originator", &self.originator)
            .field("logged_out", &self.logged_out)
            .finish_non_exhaustive()
    }
}

/// What the handles on one session share.
#[derive(Debug)]
struct Shared {
    session_ref: String,
    /// Logins again after `SESSION_INVALID` so far, and the most allowed.
    relogins: u32,
    max_relogins: Option<u32>,
}

/// The master's address from a `HOST_IS_SLAVE` error, if that is what `e` is.
fn master_address(e: &Error) -> Option<&str> {
    match e {
        Error::Api { code, params } if code == HOST_IS_SLAVE => {
            params.first().map(String::as_str).filter(|a| !a.is_empty())
        }
        _ => None,
    }
}

/// Logs in on `conn`, moving it to the master when the host is a pool member.
fn login_following_master(conn: &mut Connection, user: &str, password: &str, originator: &str) -> Result<String> {
    let params = [Value::str(user), Value::str(password), Value::str(API_VERSION), Value::str(originator)];
    let mut hops = 0;
    loop {
        match conn.call("session.login_with_password", &params) {
            Ok(Value::String(r)) => return Ok(r),
            Ok(other) => {
                return Err(Error::Protocol {
                    url: conn.base_url().to_string(),
                    method: "session.login_with_password".into(),
                    reason: format!("expected a session ref, got a {}", other.kind()),
                })
            }
            Err(e) => match master_address(&e) {
                Some(master) if hops < MAX_MASTER_HOPS => {
                    hops += 1;
                    *conn = conn.to_host(master)?;
                }
                _ => return Err(e),
            },
        }
    }
}

/// Logs in again the way the session was made.
fn relogin(conn: &mut Connection, user: &str, password: &str, originator: &str, local: bool) -> Result<String> {
    if local {
        login_local_ref(conn, user, password)
    } else {
        login_following_master(conn, user, password, originator)
    }
}

/// `session.slave_local_login_with_password(user, password)` on this host.
fn login_local_ref(conn: &Connection, user: &str, password: &str) -> Result<String> {
    const METHOD: &str = "session.slave_local_login_with_password";
    match conn.call(METHOD, &[Value::str(user), Value::str(password)])? {
        Value::String(r) => Ok(r),
        other => Err(Error::Protocol {
            url: conn.base_url().to_string(),
            method: METHOD.into(),
            reason: format!("expected a session ref, got a {}", other.kind()),
        }),
    }
}

impl Session {
    /// Logs in to this very host, pool member or not, with
    /// `session.slave_local_login_with_password`, as xe's `--local`
    /// commands do (`Session::login_local` in xapi's SDKs). Such a session
    /// never follows `HOST_IS_SLAVE` and logs out with `session.local_logout`.
    pub fn login_local(conn: Connection, user: &str, password: &str) -> Result<Session> {
        let session_ref = login_local_ref(&conn, user, password)?;
        Ok(Session {
            conn,
            used: session_ref.clone(),
            shared: Arc::new(Mutex::new(Shared { session_ref, relogins: 0, max_relogins: None })),
            user: user.to_string(),
            password: password.to_string(),
            originator: String::new(),
            logged_out: false,
            local: true,
        })
    }

    /// Logs in with `session.login_with_password(user, password, "2.21", originator)`,
    /// following `HOST_IS_SLAVE` to the pool master.
    pub fn login(conn: Connection, user: &str, password: &str, originator: &str) -> Result<Session> {
        let mut conn = conn;
        let session_ref = login_following_master(&mut conn, user, password, originator)?;
        Ok(Session {
            conn,
            used: session_ref.clone(),
            shared: Arc::new(Mutex::new(Shared { session_ref, relogins: 0, max_relogins: None })),
            user: user.to_string(),
            password: password.to_string(),
            originator: originator.to_string(),
            logged_out: false,
            local: false,
        })
    }

    /// Returns a second handle on the same session for another thread (its
    /// connection shares the pool, and a re-login by either serves both).
    /// Log out through the original only.
    pub fn share(&self) -> Session {
        Session {
            conn: self.conn.clone(),
            shared: Arc::clone(&self.shared),
            used: self.current_session_ref(),
            user: self.user.clone(),
            password: self.password.clone(),
            originator: self.originator.clone(),
            logged_out: self.logged_out,
            local: self.local,
        }
    }

    /// Returns the session ref (secret: it grants the user's rights until
    /// logout) as this handle last used it; it changes when the session is
    /// logged in again, by this handle or (seen at its next call) another.
    pub fn session_ref(&self) -> &str {
        &self.used
    }

    /// Returns the session ref in use now, whichever handle logged in last.
    pub fn current_session_ref(&self) -> String {
        self.state().session_ref.clone()
    }

    /// Limits the logins again after `SESSION_INVALID` over the session's
    /// life, all handles together (by default there is no limit, and each
    /// call logs in again at most once); past it, `SESSION_INVALID` is the
    /// call's error.
    pub fn limit_relogins(&self, max: u32) {
        self.state().max_relogins = Some(max);
    }

    /// The logins again after `SESSION_INVALID` so far, all handles together.
    pub fn relogins(&self) -> u32 {
        self.state().relogins
    }

    fn state(&self) -> MutexGuard<'_, Shared> {
        lock_shared(&self.shared)
    }

    /// Returns the connection, which may have moved to the pool master since login.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Removes and returns the notices queued for the user, see [`Connection::take_notices`].
    pub fn take_notices(&self) -> Vec<String> {
        self.conn.take_notices()
    }

    /// Calls `method` with the session ref followed by `args`.
    ///
    /// On `SESSION_INVALID` it logs in again once and retries once; on
    /// `HOST_IS_SLAVE` it reconnects to the named master, logs in there and retries.
    pub fn call(&mut self, method: &str, args: &[Value]) -> Result<Value> {
        let timeout = self.conn.options().read_timeout;
        self.call_inner(method, args, timeout, None)
    }

    /// Like [`Session::call`], waiting at most `timeout` for each answer.
    pub fn call_with_timeout(&mut self, method: &str, args: &[Value], timeout: Duration) -> Result<Value> {
        self.call_inner(method, args, Some(timeout), None)
    }

    /// Like [`Session::call`] for a method whose result maps refs to records,
    /// keeping only the record members `keep` accepts (see [`Connection::call_projected`]).
    pub fn call_projected(&mut self, method: &str, args: &[Value], keep: &dyn Fn(&str) -> bool) -> Result<Value> {
        let timeout = self.conn.options().read_timeout;
        self.call_inner(method, args, timeout, Some(keep))
    }

    /// Like [`Session::call_projected`], keeping the records as their JSON
    /// text, each decoded when used (see [`Connection::call_records`]).
    pub fn call_records(&mut self, method: &str, args: &[Value], keep: &dyn Fn(&str) -> bool) -> Result<RawRecords> {
        let timeout = self.conn.options().read_timeout;
        self.retrying(args, |conn, params| conn.rpc_records(method, params, timeout, keep))
    }

    fn call_inner(
        &mut self,
        method: &str,
        args: &[Value],
        timeout: Option<Duration>,
        keep: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<Value> {
        self.retrying(args, |conn, params| conn.rpc_projected(method, params, timeout, keep))
    }

    /// Makes a call with the session ref followed by `args`, logging in
    /// again once on `SESSION_INVALID` and following `HOST_IS_SLAVE`.
    ///
    /// The re-login is shared: a handle that sees `SESSION_INVALID` for the
    /// ref it used logs in again while holding the shared state, so handles
    /// on other threads that saw the same expiry wait and retry with the new
    /// ref instead of logging in themselves. A call is retried once: a
    /// second `SESSION_INVALID` is its error, and so is one past
    /// [`Session::limit_relogins`].
    fn retrying<T>(&mut self, args: &[Value], call: impl Fn(&Connection, &[Value]) -> Result<T>) -> Result<T> {
        let mut used = self.current_session_ref();
        self.used = used.clone();
        if self.logged_out {
            return Err(Error::Api { code: SESSION_INVALID.into(), params: vec![used] });
        }
        let mut params = Vec::with_capacity(args.len() + 1);
        params.push(Value::str(used.as_str()));
        params.extend_from_slice(args);
        let mut relogged = false;
        let mut hops = 0;
        loop {
            let err = match call(&self.conn, &params) {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if err.api_code() == Some(SESSION_INVALID) && !relogged {
                relogged = true;
                let shared = Arc::clone(&self.shared);
                let mut state = lock_shared(&shared);
                if state.session_ref == used {
                    if state.max_relogins.is_some_and(|max| state.relogins >= max) {
                        return Err(err);
                    }
                    state.session_ref =
                        relogin(&mut self.conn, &self.user, &self.password, &self.originator, self.local)?;
                    state.relogins += 1;
                }
                used = state.session_ref.clone();
            } else if let Some(master) = master_address(&err).filter(|_| hops < MAX_MASTER_HOPS && !self.local) {
                hops += 1;
                self.conn = self.conn.to_host(master)?;
                used = login_following_master(&mut self.conn, &self.user, &self.password, &self.originator)?;
                self.state().session_ref = used.clone();
            } else {
                return Err(err);
            }
            params[0] = Value::str(used.as_str());
            self.used = used.clone();
        }
    }

    /// Logs out. Later calls fail with `SESSION_INVALID` instead of logging in again.
    pub fn logout(&mut self) -> Result<()> {
        if self.logged_out {
            return Ok(());
        }
        self.logged_out = true;
        let session = self.current_session_ref();
        let method = if self.local { "session.local_logout" } else { "session.logout" };
        self.conn.call(method, &[Value::str(session.as_str())]).map(drop)
    }

    /// Asks the server to cancel a task.
    pub fn cancel_task(&mut self, task: &str) -> Result<()> {
        self.call("task.cancel", &[Value::str(task)]).map(drop)
    }

    /// Waits for a task to finish, reporting each progress change (0.0 to 1.0),
    /// then destroys it and returns its result: the decoded value on success,
    /// the task's [`Error::Api`] on failure, `TASK_CANCELLED` when cancelled.
    /// When the server cannot be heard from ([`Error::is_transport`]), the
    /// task is left as it is, for the user to check, and that error returned.
    pub fn wait_task(&mut self, task: &str, on_progress: &mut dyn FnMut(f64)) -> Result<Value> {
        let record =
            self.watch_task(task, on_progress).and_then(|()| self.call("task.get_record", &[Value::str(task)]));
        if let Err(e) = &record {
            if e.is_transport() {
                return Err(e.clone());
            }
        }
        // The task is ours to clean up whatever happened; a failure here changes nothing for the caller.
        let _ = self.call("task.destroy", &[Value::str(task)]);
        task_outcome(&self.conn, task, &record?)
    }

    /// The read timeout of an `event.from` call: [`EVENT_WAIT`], plus the
    /// connection's read timeout up to [`EVENT_MARGIN`].
    fn event_timeout(&self) -> Duration {
        let margin = self.conn.options().read_timeout.map_or(EVENT_MARGIN, |t| t.min(EVENT_MARGIN));
        Duration::from_secs_f64(EVENT_WAIT) + margin
    }

    /// Returns once the task is no longer pending (or is gone).
    fn watch_task(&mut self, task: &str, on_progress: &mut dyn FnMut(f64)) -> Result<()> {
        let filter = Value::Array(vec![Value::String(format!("task/{task}"))]);
        let mut token = String::new();
        let mut last = None;
        loop {
            let args = [filter.clone(), Value::str(token.as_str()), Value::Float(EVENT_WAIT)];
            let batch = match self.call_with_timeout("event.from", &args, self.event_timeout()) {
                Err(e) if e.api_code() == Some("MESSAGE_METHOD_UNKNOWN") => return self.poll_task(task, on_progress),
                other => other?,
            };
            let bad = |reason: &str| Error::Protocol {
                url: self.conn.base_url().to_string(),
                method: "event.from".into(),
                reason: reason.to_string(),
            };
            token =
                batch.get("token").and_then(Value::as_str).ok_or_else(|| bad("no token in the answer"))?.to_string();
            let events = batch.get("events").and_then(Value::as_array).ok_or_else(|| bad("no events in the answer"))?;
            for ev in events {
                if ev.get("ref").and_then(Value::as_str) != Some(task) {
                    continue;
                }
                let snapshot = match ev.get("snapshot") {
                    Some(s) if ev.get("operation").and_then(Value::as_str) != Some("del") => s,
                    // Destroyed under us: task.get_record reports it.
                    _ => return Ok(()),
                };
                if report(snapshot, &mut last, on_progress) {
                    return Ok(());
                }
            }
        }
    }

    /// The fall-back for servers without `event.from`: polls the task record.
    fn poll_task(&mut self, task: &str, on_progress: &mut dyn FnMut(f64)) -> Result<()> {
        let mut last = None;
        loop {
            let record = self.call("task.get_record", &[Value::str(task)])?;
            if report(&record, &mut last, on_progress) {
                return Ok(());
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

fn lock_shared(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // Nothing panics while holding it, and a ref stays a ref.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reports a progress change from a task record; returns whether the task has finished.
fn report(record: &Value, last: &mut Option<f64>, on_progress: &mut dyn FnMut(f64)) -> bool {
    if let Some(p) = record.get("progress").and_then(Value::as_float) {
        if *last != Some(p) {
            *last = Some(p);
            on_progress(p);
        }
    }
    let status = record.get("status").and_then(Value::as_str).unwrap_or("pending");
    !status.eq_ignore_ascii_case("pending") && !status.eq_ignore_ascii_case("cancelling")
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .unwrap_or(&[])
        .iter()
        .map(|i| match i {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// Interprets a finished task's record.
fn task_outcome(conn: &Connection, task: &str, record: &Value) -> Result<Value> {
    let bad =
        |reason: String| Error::Protocol { url: conn.base_url().to_string(), method: "task.get_record".into(), reason };
    let status = record.get("status").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
    match status.as_str() {
        "success" => {
            let text = record.get("result").and_then(Value::as_str).unwrap_or("");
            decode_task_result(text).map_err(|e| bad(format!("undecodable task result: {e}")))
        }
        "failure" => {
            let info = strings(record.get("error_info"));
            if info.is_empty() {
                return Err(bad(format!("task {task} failed without error_info")));
            }
            Err(Error::api(info))
        }
        "cancelled" => {
            let info = strings(record.get("error_info"));
            if info.first().map(String::as_str) == Some(TASK_CANCELLED) {
                Err(Error::api(info))
            } else {
                Err(Error::Api { code: TASK_CANCELLED.into(), params: vec![task.to_string()] })
            }
        }
        other => Err(bad(format!("task {task} ended in status {other:?}"))),
    }
}

/// Decodes a task's `result` field. xapi stores the XML-RPC encoding of the
/// return value (`<value>OpaqueRef:..</value>`, `<value><array>..</array></value>`),
/// or an empty string for void, which gives `Value::String("")`. Text that is
/// not XML is returned as a string.
pub fn decode_task_result(text: &str) -> Result<Value, DecodeError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(Value::str(""));
    }
    if !t.starts_with('<') {
        return Ok(Value::str(text));
    }
    // Wrapped as the single parameter of a call: the codec then checks the value is exactly one.
    let doc = format!("<methodCall><methodName>result</methodName><params><param>{t}</param></params></methodCall>");
    let (_, mut params) = xmlrpc::decode_call(doc.as_bytes())?;
    match (params.pop(), params.is_empty()) {
        (Some(v), true) => Ok(v),
        _ => Err(DecodeError("task result is not a single value".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_results_decode_from_xml_rpc_values() {
        assert_eq!(decode_task_result("").unwrap(), Value::str(""));
        assert_eq!(decode_task_result("<value>OpaqueRef:1</value>").unwrap(), Value::str("OpaqueRef:1"));
        assert_eq!(
            decode_task_result("<value><array><data><value>a</value><value>b</value></data></array></value>").unwrap(),
            Value::Array(vec![Value::str("a"), Value::str("b")])
        );
        assert_eq!(decode_task_result("plain").unwrap(), Value::str("plain"));
        assert!(decode_task_result("<value><array>").is_err());
        assert!(decode_task_result("<value>x</value></param><param><value>y</value>").is_err());
    }

    #[test]
    fn progress_is_reported_on_change_and_status_ends_the_wait() {
        let mut seen = Vec::new();
        let mut last = None;
        let rec = |p: f64, s: &str| {
            Value::Struct(vec![("progress".into(), Value::Float(p)), ("status".into(), Value::str(s))])
        };
        assert!(!report(&rec(0.0, "pending"), &mut last, &mut |p| seen.push(p)));
        assert!(!report(&rec(0.0, "pending"), &mut last, &mut |p| seen.push(p)));
        assert!(!report(&rec(0.5, "cancelling"), &mut last, &mut |p| seen.push(p)));
        assert!(report(&rec(1.0, "success"), &mut last, &mut |p| seen.push(p)));
        assert_eq!(seen, vec![0.0, 0.5, 1.0]);
    }
}
