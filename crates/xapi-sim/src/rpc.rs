//! Dispatch of one call: method lookup, parameter checks, session check,
//! then the explicit behaviour table or the generic implementation of the
//! datamodel's implicit messages (getters, setters, maps, sets, records).

use crate::behaviour::{self, Handler};
use crate::core::Core;
use crate::db::{ApiResult, Db, Failure};
use crate::expr;
use std::sync::Arc;
use xenapi::model::{Class, MessageDef, Qualifier, Type};
use xenapi::{Value, NULL_REF};

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
}

impl Call {
    /// Returns argument `i` as a string (refs, enums, strings).
    pub fn str(&self, i: usize) -> &str {
        self.args.get(i).and_then(Value::as_str).unwrap_or("")
    }

    pub fn bool(&self, i: usize) -> bool {
        self.args.get(i).and_then(Value::as_bool).unwrap_or(false)
    }
}

/// Entry point for every transport.
pub async fn dispatch(core: &Arc<Core>, method: &str, params: Vec<Value>) -> ApiResult<Value> {
    if core.config.is_disabled(method) {
        return Err(Failure::new("MESSAGE_METHOD_UNKNOWN", [method]));
    }
    if let Some(inner) = method.strip_prefix("Async.") {
        let async_form = resolve(inner).is_ok_and(|(class, message)| crate::tasks::is_async_capable(class, message));
        if !async_form {
            return Err(Failure::new("MESSAGE_METHOD_UNKNOWN", [method]));
        }
        return crate::tasks::spawn(prepare(core, inner, params)?);
    }
    let call = prepare(core, method, params)?;
    run(call).await
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
        None if call.message.implicit => implicit(&call),
        // Explicit setters of plain fields behave like implicit ones unless a
        // behaviour adds rules (xapi validates some, e.g. memory limits).
        None if is_plain_setter(&call) => field_message(&call, call.message.name),
        None => Err(Failure::new("NOT_IMPLEMENTED", [call.method.as_str()])),
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
    };
    (name == "get_all_records_where" && class.message("get_all_records").is_some()).then_some(&WHERE)
}

fn is_plain_setter(call: &Call) -> bool {
    call.message.name.strip_prefix("set_").and_then(|f| call.class.field(f)).is_some_and(|f| {
        call.message.params.len() == 3 && xenapi::model::parse_type(call.message.params[2].0).as_ref() == Some(&f.ty)
    })
}

/// Finds the class and message of a wire name (without `Async.`).
fn resolve(method: &str) -> ApiResult<(&'static Class, &'static MessageDef)> {
    let unknown = || Failure::new("MESSAGE_METHOD_UNKNOWN", [method]);
    let (class_name, msg_name) = method.split_once('.').ok_or_else(unknown)?;
    let schema = xenapi::model::Schema::get();
    let class = schema.class(class_name).filter(|c| c.name() == class_name).ok_or_else(unknown)?;
    let message = class.message(msg_name).or_else(|| synthesised(class, msg_name)).ok_or_else(unknown)?;
    Ok((class, message))
}

/// Resolves the method, checks the parameter count, the session and the types.
///
/// Parameters are positional. A message may have a trailing run of
/// parameters with defaults (added after its first release): a caller may
/// leave any number of them off the end, and they get their defaults. Such a
/// message ignores values beyond its last parameter; any other message must
/// get exactly its parameters. As in xapi, the count is checked before the
/// session, and MESSAGE_PARAMETER_COUNT_MISMATCH reports the method without
/// `Async.`, the number of parameters without a default and the number of
/// values sent, neither counting `session_id`.
pub fn prepare(core: &Arc<Core>, method: &str, mut params: Vec<Value>) -> ApiResult<Call> {
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
    Ok(Call { core: core.clone(), class, class_idx, message, method: method.to_string(), session, args, task: None })
}

/// Checks enum members against the datamodel's value list.
fn check_enum(v: &Value, ty: &Type) -> Result<(), ()> {
    match (ty, v) {
        (Type::Enum(name), Value::String(s)) => {
            let schema = xenapi::model::Schema::get();
            match schema.enum_def(name) {
                Some(e) if !e.values.iter().any(|x| x.eq_ignore_ascii_case(s)) => Err(()),
                _ => Ok(()),
            }
        }
        (Type::Set(inner), Value::Array(items)) => items.iter().try_for_each(|i| check_enum(i, inner)),
        (Type::Map(_, vt), Value::Struct(m)) => m.iter().try_for_each(|(_, i)| check_enum(i, vt)),
        _ => Ok(()),
    }
}

/// Canonical spelling of an enum value (xapi accepts any case on input).
fn canonical_enum(v: Value, ty: &Type) -> Value {
    match (ty, v) {
        (Type::Enum(name), Value::String(s)) => {
            let schema = xenapi::model::Schema::get();
            let canon = schema.enum_def(name).and_then(|e| e.values.iter().find(|x| x.eq_ignore_ascii_case(&s)));
            Value::String(canon.map_or(s, |c| c.to_string()))
        }
        (Type::Set(inner), Value::Array(items)) => {
            Value::Array(items.into_iter().map(|i| canonical_enum(i, inner)).collect())
        }
        (_, v) => v,
    }
}

/// Implements every message the datamodel marks implicit, for any class.
fn implicit(call: &Call) -> ApiResult<Value> {
    let name = call.message.name;
    let c = call.class_idx;
    let class = call.class;
    match name {
        "get_all" => {
            let db = call.core.db.read();
            Ok(Value::Array(db.iter(c).map(|(r, _)| Value::String(r.clone())).collect()))
        }
        "get_all_records" => {
            let db = call.core.db.read();
            Ok(all_records(&db, c, |_| true))
        }
        // xapi's roles are static tables that know two expressions by their
        // exact text (roles with subroles, and permissions); any other
        // expression lists every role and permission.
        "get_all_records_where" if class.name() == "role" => {
            let db = call.core.db.read();
            let pos = class.field_pos("subroles");
            let empty = |fields: &[Value]| pos.and_then(|p| fields[p].as_array()).is_none_or(<[Value]>::is_empty);
            Ok(match call.str(0) {
                "subroles<>[]" => all_records(&db, c, |f| !empty(f)),
                "subroles=[]" => all_records(&db, c, empty),
                _ => all_records(&db, c, |_| true),
            })
        }
        "get_all_records_where" => {
            let e = where_expr(call.str(0))?;
            let db = call.core.db.read();
            // xapi's database spells namespaced fields `name__label`.
            let pos = |f: &str| class.field_pos(f).or_else(|| class.field_pos(&f.replace("__", "_")));
            Ok(all_records(&db, c, |fields| e.eval(&|f: &str| pos(f).and_then(|p| fields.get(p)))))
        }
        "get_record" => {
            let db = call.core.db.read();
            let o = db.expect(c, call.str(0))?;
            Ok(db.record(c, &o.fields))
        }
        "get_by_uuid" => {
            let db = call.core.db.read();
            db.by_uuid(c, call.str(0))
                .map(Value::str)
                .ok_or_else(|| Failure::new("UUID_INVALID", [class.name(), call.str(0)]))
        }
        "get_by_name_label" => {
            let db = call.core.db.read();
            let pos = class.field_pos("name_label");
            Ok(Value::Array(
                db.iter(c)
                    .filter(|(_, o)| pos.and_then(|p| o.fields[p].as_str()) == Some(call.str(0)))
                    .map(|(r, _)| Value::String(r.clone()))
                    .collect(),
            ))
        }
        "create" => call.core.write(|db| create(db, call)),
        "destroy" => call.core.write(|db| {
            db.expect(c, call.str(0))?;
            db.destroy(call.str(0));
            Ok(Value::str(""))
        }),
        _ => field_message(call, name),
    }
}

/// Parses a `get_all_records_where` expression, failing as the API does.
pub(crate) fn where_expr(text: &str) -> ApiResult<expr::Expr> {
    expr::parse(text).map_err(|why| Failure::new("INVALID_VALUE", ["expr".to_string(), format!("{text}: {why}")]))
}

fn all_records(db: &Db, c: usize, keep: impl Fn(&[Value]) -> bool) -> Value {
    Value::Struct(
        db.iter(c).filter(|(_, o)| keep(&o.fields)).map(|(r, o)| (r.clone(), db.record(c, &o.fields))).collect(),
    )
}

/// The generic constructor: every writable or constructor field may be given;
/// those without a datamodel default must be.
fn create(db: &mut Db, call: &Call) -> ApiResult<Value> {
    let c = call.class_idx;
    let members = call.args[0].as_struct().unwrap_or(&[]);
    let mut fields = db.blank_record(c);
    for (pos, f) in call.class.fields.iter().enumerate() {
        if f.def.qualifier == Qualifier::RoRuntime {
            continue;
        }
        match members.iter().find(|(k, _)| k == f.name()) {
            Some((_, v)) => {
                let v = v.clone().coerce(&f.ty).map_err(|_| Failure::new("FIELD_TYPE_ERROR", [f.name()]))?;
                check_enum(&v, &f.ty).map_err(|_| Failure::new("FIELD_TYPE_ERROR", [f.name()]))?;
                if let (Type::Ref(target), Some(r)) = (&f.ty, v.as_str()) {
                    let tc = db.class_index(target).unwrap_or(usize::MAX);
                    if r != NULL_REF && !db.is_a(r, tc) {
                        return Err(Failure::new("HANDLE_INVALID", [target.as_str(), r]));
                    }
                }
                fields[pos] = canonical_enum(v, &f.ty);
            }
            None if f.required_by_constructor() => return Err(Failure::new("FIELD_TYPE_ERROR", [f.name()])),
            None => {}
        }
    }
    let r = db.new_ref();
    Ok(Value::String(db.insert(c, r, fields)))
}

/// Getters, setters and collection updates derived from fields.
fn field_message(call: &Call, name: &str) -> ApiResult<Value> {
    let class = call.class;
    let c = call.class_idx;
    let target = call.str(0);
    let find = |field: &str| {
        class.field_pos(field).ok_or_else(|| Failure::new("MESSAGE_METHOD_UNKNOWN", [call.method.as_str()]))
    };
    if let Some(field) = name.strip_prefix("get_") {
        let pos = find(field)?;
        let db = call.core.db.read();
        return Ok(db.expect(c, target)?.fields[pos].clone());
    }
    call.core.write(|db| {
        let (pos, op) = if let Some(f) = name.strip_prefix("set_") {
            (find(f)?, Op::Set)
        } else if let Some(f) = name.strip_prefix("add_to_") {
            (find(f)?, Op::MapAdd)
        } else if let Some(f) = name.strip_prefix("remove_from_") {
            (find(f)?, Op::MapRemove)
        } else if let Some(f) = name.strip_prefix("add_") {
            (find(f)?, Op::SetAdd)
        } else if let Some(f) = name.strip_prefix("remove_") {
            (find(f)?, Op::SetRemove)
        } else {
            return Err(Failure::new("MESSAGE_METHOD_UNKNOWN", [call.method.as_str()]));
        };
        let field = &class.fields[pos];
        let mut v = db.expect(c, target)?.fields[pos].clone();
        match op {
            Op::Set => v = canonical_enum(call.args[1].clone(), &field.ty),
            Op::MapAdd => {
                let key = call.str(1).to_string();
                if let Value::Struct(m) = &mut v {
                    if m.iter().any(|(k, _)| *k == key) {
                        return Err(Failure::new("MAP_DUPLICATE_KEY", [class.name(), field.name(), target, &key]));
                    }
                    m.push((key, canonical_enum(call.args[2].clone(), map_value_type(&field.ty))));
                }
            }
            Op::MapRemove => {
                if let Value::Struct(m) = &mut v {
                    m.retain(|(k, _)| k != call.str(1));
                }
            }
            Op::SetAdd => {
                if let Value::Array(items) = &mut v {
                    if !items.contains(&call.args[1]) {
                        items.push(call.args[1].clone());
                    }
                }
            }
            Op::SetRemove => {
                if let Value::Array(items) = &mut v {
                    items.retain(|x| *x != call.args[1]);
                }
            }
        }
        db.set(target, pos, v);
        Ok(Value::str(""))
    })
}

fn map_value_type(ty: &Type) -> &Type {
    match ty {
        Type::Map(_, v) => v,
        other => other,
    }
}

enum Op {
    Set,
    MapAdd,
    MapRemove,
    SetAdd,
    SetRemove,
}
