//! Dispatch of one call: `--disable`, `Async.` tasks, [`crate::call::prepare`]'s
//! checks, then the explicit behaviour table or the generic implementation
//! of the datamodel's implicit messages. The top of the simulator's logic:
//! nothing but the transports and `lib` depend on it.

use crate::behaviour;
use crate::call::{self, BoxFuture, Call, Handler};
use crate::core::Core;
use crate::db::{ApiResult, Failure};
use crate::implicit;
use std::sync::Arc;
use xenapi::wire::Response;
use xenapi::Value;

impl Core {
    /// Handles one call by wire name, for any transport. (Implemented here:
    /// `core` knows nothing of dispatch.)
    pub async fn call(self: &Arc<Self>, method: &str, params: Vec<Value>) -> Response {
        self.rpc_count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match dispatch(self, method, params).await {
            Ok(v) => Response::Success(v),
            Err(Failure(e)) => Response::Failure(e),
        }
    }
}

/// Entry point for every transport. Calls with a side effect go to the
/// audit log, with their outcome.
pub async fn dispatch(core: &Arc<Core>, method: &str, params: Vec<Value>) -> ApiResult<Value> {
    let action = method.strip_prefix("Async.").unwrap_or(method);
    let logout = matches!(action, "session.logout" | "session.local_logout");
    if !crate::audit::has_to_audit(action) && !logout {
        return dispatch_unaudited(core, method, params).await;
    }
    let named = named_args(action, &params);
    let before = logout_subject(core, action, &params);
    // As xapi: what a destroy names is read before it is gone.
    let early = action
        .contains(".destroy")
        .then(|| crate::audit::arguments(&core.db.read(), action, named.get(1..).unwrap_or(&[])));
    let result = dispatch_unaudited(core, method, params).await;
    audit(core, action, named, before, early, &result);
    result
}

/// The arguments of a call by their datamodel names (session first).
fn named_args(action: &str, params: &[Value]) -> Vec<(String, Value)> {
    let Ok((_, message)) = call::resolve(action) else { return Vec::new() };
    message.params.iter().zip(params).map(|((_, name), v)| (name.to_string(), v.clone())).collect()
}

/// Who a logout ends, read before the session is gone.
fn logout_subject(core: &Core, action: &str, params: &[Value]) -> Option<Logout> {
    if action != "session.logout" && action != "session.local_logout" {
        return None;
    }
    let session = params.first().and_then(Value::as_str)?.to_string();
    let db = core.db.read();
    let originator = db.field(&session, "originator").and_then(Value::as_str).unwrap_or_default().to_string();
    let who = crate::audit::subject(&db, &session, false);
    Some(Logout { session, who, originator })
}

/// A session being logged out: its ref, who it was, its originator.
struct Logout {
    session: String,
    who: (String, String),
    originator: String,
}

/// Appends the line of one call (a login as `session.create`, a logout as
/// `session.destroy`); the pool's internal sessions are not audited.
fn audit(
    core: &Arc<Core>,
    action: &str,
    named: Vec<(String, Value)>,
    logout: Option<Logout>,
    early: Option<String>,
    result: &ApiResult<Value>,
) {
    use crate::audit::{arg, arguments, subject, Entry};
    let login = matches!(action, "session.login_with_password" | "session.slave_local_login_with_password");
    let db = core.db.read();
    let host = db.string(&crate::rules::pool::master(&db), "hostname");
    let (action, session, who, args) = if login {
        let Ok(Value::String(session)) = result else { return };
        let value = |k: &str| named.iter().find(|(n, _)| n == k).and_then(|(_, v)| v.as_str()).unwrap_or_default();
        let args =
            format!("{} {}", arg("uname", value("uname"), "", ""), arg("originator", value("originator"), "", ""));
        let local = core.session_local_to(session).is_some();
        ("session.create", session.clone(), subject(&db, session, local), args)
    } else if let Some(Logout { session, who, originator }) = logout {
        ("session.destroy", session, who, arg("originator", &originator, "", ""))
    } else {
        let Some((_, Value::String(session))) = named.first().filter(|(n, _)| n == "session_id") else { return };
        let session = session.clone();
        if core.sessions.lock().get(&session).is_some_and(|m| m.key == "internal") || db.get(&session).is_none() {
            return;
        }
        let local = core.session_local_to(&session).is_some();
        let args = early.unwrap_or_else(|| arguments(&db, action, named.get(1..).unwrap_or(&[])));
        (action, session.clone(), subject(&db, &session, local), args)
    };
    let denied = matches!(result, Err(Failure(e)) if e.first().map(String::as_str) == Some("RBAC_PERMISSION_DENIED"));
    let entry = Entry {
        host: &host,
        session: &session,
        subject: who,
        allowed: !denied,
        outcome: crate::audit::outcome(result),
        action,
        args,
    };
    let line = crate::audit::line(time::OffsetDateTime::now_utc(), &entry);
    drop(db);
    core.audit.push(line);
}

/// Appends the line of a data handler's permission check: `http/<action>`,
/// allowed or denied.
pub fn audit_http(core: &Arc<Core>, session: &str, http_action: &str, allowed: bool) {
    let action = format!("http/{http_action}");
    if !crate::audit::has_to_audit(&action) {
        return;
    }
    let result = if allowed { Ok(Value::Nil) } else { Err(Failure::new::<&str>("RBAC_PERMISSION_DENIED", [])) };
    let named = vec![("session_id".to_string(), Value::str(session))];
    audit(core, &action, named, None, None, &result);
}

async fn dispatch_unaudited(core: &Arc<Core>, method: &str, params: Vec<Value>) -> ApiResult<Value> {
    if core.config.is_disabled(method) {
        return Err(Failure::new("MESSAGE_METHOD_UNKNOWN", [method]));
    }
    if let Some(inner) = method.strip_prefix("Async.") {
        return crate::tasks::spawn(prepare_async(core, method, inner, params)?);
    }
    let call = prepare(core, method, params)?;
    run(call).await
}

/// Checks an `Async.` call: the message must have an `Async.` form.
fn prepare_async(core: &Arc<Core>, method: &str, inner: &str, params: Vec<Value>) -> ApiResult<Call> {
    let async_form = call::resolve(inner).is_ok_and(|(class, message)| crate::tasks::is_async_capable(class, message));
    if !async_form {
        return Err(Failure::new("MESSAGE_METHOD_UNKNOWN", [method]));
    }
    prepare(core, inner, params)
}

/// An `Async.` call hit by an `error` fault: checked like any other, it
/// answers a task, which fails with `error` instead of running the call.
pub fn fail_async(core: &Arc<Core>, method: &str, params: Vec<Value>, error: Vec<String>) -> Response {
    let inner = method.strip_prefix("Async.").unwrap_or(method);
    let checked = if core.config.is_disabled(method) {
        Err(Failure::new("MESSAGE_METHOD_UNKNOWN", [method]))
    } else {
        prepare_async(core, method, inner, params)
    };
    match checked.and_then(|_| crate::tasks::failed(core, method, error)) {
        Ok(v) => Response::Success(v),
        Err(Failure(e)) => Response::Failure(e),
    }
}

/// [`call::prepare`], for calls that run here.
pub fn prepare(core: &Arc<Core>, method: &str, params: Vec<Value>) -> ApiResult<Call> {
    call::prepare(core, method, params, run_boxed)
}

fn run_boxed(call: Call) -> BoxFuture {
    Box::pin(run(call))
}

/// Runs a prepared call to completion.
pub async fn run(call: Call) -> ApiResult<Value> {
    match behaviour::lookup(&call.method) {
        Some(Handler::Sync(f)) => {
            let core = call.core.clone();
            let mut db = core.db.write();
            let out = f(&call, &mut db);
            core.commit(&mut db)?;
            out
        }
        Some(Handler::Async(f)) => f(call).await,
        None if call.message.implicit => implicit::serve(&call),
        // Explicit setters of plain fields behave like implicit ones unless a
        // behaviour adds rules (xapi validates some, e.g. memory limits).
        None if implicit::is_plain_setter(&call) => implicit::field_message(&call, call.message.name),
        None => Err(Failure::new("NOT_IMPLEMENTED", [call.method.as_str()])),
    }
}
