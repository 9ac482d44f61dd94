//! A call after parsing and checking, and the shape of the handlers that
//! serve one. [`prepare`] resolves the wire name and checks the parameter
//! count, the session and the argument types; which handler then runs is
//! `rpc`'s business, and reaches behaviours only as [`Call::run`], so that
//! nothing here (nor in the behaviours) depends on `rpc`.

use crate::core::Core;
use crate::db::{ApiResult, Db, Failure};
use crate::record::check_enum;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use xenapi::model::{Class, MessageDef, Type};
use xenapi::Value;

/// A future returned by a handler that waits (events).
pub type BoxFuture = Pin<Box<dyn Future<Output = ApiResult<Value>> + Send>>;

/// How a message is served.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Runs with the database write-locked; its changes commit afterwards.
    Sync(fn(&Call, &mut Db) -> ApiResult<Value>),
    /// Runs unlocked and may wait; takes locks itself.
    Async(fn(Call) -> BoxFuture),
}

/// Runs a prepared call to completion: the dispatcher the call came through
/// (the behaviour table, then the datamodel's implicit messages).
pub type Run = fn(Call) -> BoxFuture;

/// Messages that are called without a session.
const SESSIONLESS: &[&str] = &[
    "session.login_with_password",
    "session.slave_local_login_with_password",
    "session.slave_login",
    "session.login_with_password_and_role",
];

/// A call after parsing and checking, handed to behaviours.
pub struct Call {
    pub core: Arc<Core>,
    pub class: &'static Class,
    pub class_idx: usize,
    pub message: &'static MessageDef,
    pub method: String,
    pub session: Option<String>,
    /// Parameters after the session, coerced to their declared types.
    pub args: Vec<Value>,
    /// The task tracking this call when it was made through `Async.`.
    pub task: Option<String>,
    /// How this call, and the calls made on its behalf, run.
    pub run: Run,
}

impl Call {
    /// Returns argument `i` as a string (refs, enums, strings).
    pub fn str(&self, i: usize) -> &str {
        self.args.get(i).and_then(Value::as_str).unwrap_or("")
    }

    pub fn bool(&self, i: usize) -> bool {
        self.args.get(i).and_then(Value::as_bool).unwrap_or(false)
    }

    /// The same call, tracked by `task`.
    pub fn with_task(&self, task: String) -> Call {
        Call {
            core: self.core.clone(),
            class: self.class,
            class_idx: self.class_idx,
            message: self.message,
            method: self.method.clone(),
            session: self.session.clone(),
            args: self.args.clone(),
            task: Some(task),
            run: self.run,
        }
    }

    /// Makes an API call on the caller's session, as xapi's own code does
    /// through `Helpers.call_api_functions`: checked and dispatched like a
    /// call from a client.
    pub async fn api(&self, method: &str, args: Vec<Value>) -> ApiResult<Value> {
        let mut params = vec![Value::String(self.session.clone().unwrap_or_default())];
        params.extend(args);
        let inner = prepare(&self.core, method, params, self.run)?;
        (self.run)(inner).await
    }
}

/// xapi serves `get_all_records_where` for every class with `get_all_records`,
/// though the datamodel does not list it.
fn synthesised(class: &Class, name: &str) -> Option<&'static MessageDef> {
    static WHERE: MessageDef = MessageDef {
        name: "get_all_records_where",
        params: &[("session ref", "session_id"), ("string", "expr")],
        defaults: &[],
        result: "string",
        implicit: true,
        lifecycle: xenapi::model::Lifecycle::Published,
        // Every role, as get_all_records.
        roles: 0x7f,
    };
    (name == "get_all_records_where" && class.message("get_all_records").is_some()).then_some(&WHERE)
}

/// xapi's RBAC check: the session's role must be among the message's roles,
/// else RBAC_PERMISSION_DENIED with the permission (the lower-case action)
/// and the roles that have it, as `Rbac.check` words it. Adding or removing
/// a guarded map key needs that key's permission instead (`rbac::KEY_ROLES`).
fn rbac_check(core: &Core, session: &str, class: &Class, message: &MessageDef, params: &[Value]) -> ApiResult<()> {
    let role = core.session_role(session);
    let key = params.get(1).and_then(Value::as_str).unwrap_or_default();
    if let Some((permission, roles)) = crate::rbac::key_permission(class.name(), message.name, key) {
        if crate::rbac::holds(roles, role) {
            return Ok(());
        }
        return Err(crate::rbac::denied(&permission, roles));
    }
    if message.allows(role) {
        return Ok(());
    }
    Err(crate::rbac::denied(&format!("{}.{}", class.name(), message.name), message.roles))
}

/// Finds the class and message of a wire name (without `Async.`).
pub fn resolve(method: &str) -> ApiResult<(&'static Class, &'static MessageDef)> {
    let unknown = || Failure::new("MESSAGE_METHOD_UNKNOWN", [method]);
    let (class_name, msg_name) = method.split_once('.').ok_or_else(unknown)?;
    let schema = xenapi::model::Schema::get();
    let class = schema.class(class_name).filter(|c| c.name() == class_name).ok_or_else(unknown)?;
    let message = class.message(msg_name).or_else(|| synthesised(class, msg_name)).ok_or_else(unknown)?;
    Ok((class, message))
}

/// Resolves the method, checks the parameter count, the session and the
/// types, and returns the call, to be run by `run`.
///
/// Parameters are positional. A message may have a trailing run of
/// parameters with defaults (added after its first release): a caller may
/// leave any number of them off the end, and they get their defaults. Such a
/// message ignores values beyond its last parameter; any other message must
/// get exactly its parameters. As in xapi, the count is checked before the
/// session, and MESSAGE_PARAMETER_COUNT_MISMATCH reports the method without
/// `Async.`, the number of parameters without a default and the number of
/// values sent, neither counting `session_id`.
pub fn prepare(core: &Arc<Core>, method: &str, mut params: Vec<Value>, run: Run) -> ApiResult<Call> {
    let (class, message) = resolve(method)?;
    let takes_session = message.params.first().is_some_and(|(ty, _)| *ty == "session ref");
    let sent = params.len();
    let required = message.required_params();
    let declared = message.params.len();
    let count_ok = if message.defaults.is_empty() { sent == declared } else { sent >= required };
    if !count_ok {
        let offset = usize::from(takes_session);
        return Err(Failure::new(
            "MESSAGE_PARAMETER_COUNT_MISMATCH",
            [method.to_string(), (required - offset).to_string(), (sent as i64 - offset as i64).to_string()],
        ));
    }
    params.truncate(declared);
    for pos in sent..declared {
        params.push(message.default_at(pos).unwrap_or(Value::Nil));
    }
    let mut session = None;
    if takes_session && !SESSIONLESS.contains(&method) {
        let s = match params.remove(0) {
            Value::String(s) => s,
            other => other.to_string(),
        };
        core.check_session(&s)?;
        rbac_check(core, &s, class, message, &params)?;
        session = Some(s);
    }
    if message.lifecycle == xenapi::model::Lifecycle::Removed {
        return Err(Failure::new::<&str>("MESSAGE_REMOVED", []));
    }
    let declared = &message.params[usize::from(session.is_some())..];
    let mut args = Vec::with_capacity(params.len());
    for (v, (ty, name)) in params.into_iter().zip(declared) {
        let ty = xenapi::model::parse_type(ty).unwrap_or(Type::String);
        let v = v.coerce(&ty).map_err(|_| Failure::new("FIELD_TYPE_ERROR", [*name]))?;
        check_enum(&v, &ty).map_err(|_| Failure::new("FIELD_TYPE_ERROR", [*name]))?;
        args.push(v);
    }
    let class_idx =
        core.db.read().class_index(class.name()).ok_or_else(|| Failure::new("MESSAGE_METHOD_UNKNOWN", [method]))?;
    Ok(Call {
        core: core.clone(),
        class,
        class_idx,
        message,
        method: method.to_string(),
        session,
        args,
        task: None,
        run,
    })
}
