//! `message.*`: alerts for the administrator, attached to an object by class
//! and uuid.
//!
//! xapi keeps messages outside its object database and serves every call of
//! the class explicitly (none is implicit: there are no field getters or
//! setters). Here they live in the database as objects of class `message`,
//! which gives them persistence under `--state` and events for free:
//! `event.from` reports them to `*` and `message` subscriptions, with the
//! record as the snapshot of an `add` (xapi_event.ml treats the message
//! store as one more table matched by the subscription). Messages are never
//! modified, so there are only `add` and `del` events.
//!
//! Record maps come newest first, as xapi sorts its message files.

use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use std::collections::HashMap;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("message.create", Handler::Sync(create));
    t.insert("message.destroy", Handler::Sync(destroy));
    t.insert("message.destroy_many", Handler::Sync(destroy_many));
    t.insert("message.get_all", Handler::Sync(get_all));
    t.insert("message.get_all_records", Handler::Sync(|c, db| Ok(records(c, db, |_| true))));
    t.insert("message.get_all_records_where", Handler::Sync(get_all_records_where));
    t.insert("message.get", Handler::Sync(get));
    t.insert("message.get_since", Handler::Sync(get_since));
    t.insert("message.get_by_uuid", Handler::Sync(get_by_uuid));
    t.insert("message.get_record", Handler::Sync(get_record));
}

/// Finds the object class a message's `cls` names (`Host` is `host`, ...).
fn object_exists(db: &Db, cls: &str, uuid: &str) -> bool {
    db.class_index(cls).is_some_and(|c| db.by_uuid(c, uuid).is_some())
}

/// `create(name, priority, cls, obj_uuid, body)`: the object must exist.
/// Any priority is accepted, as xapi does. (xapi also refuses a body that is
/// not UTF-8; both wire decoders already guarantee it.)
fn create(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let cls = canonical_cls(call.str(2));
    let obj_uuid = call.str(3);
    if !object_exists(db, &cls, obj_uuid) {
        return Err(Failure::new("UUID_INVALID", [cls.as_str(), obj_uuid]));
    }
    let now = (db.clock)();
    let r = db.create(
        call.class_idx,
        vec![
            ("name", Value::str(call.str(0))),
            ("priority", call.args[1].clone()),
            ("cls", Value::String(cls)),
            ("obj_uuid", Value::str(obj_uuid)),
            ("timestamp", Value::DateTime(now)),
            ("body", Value::str(call.str(4))),
        ],
    );
    Ok(Value::String(r))
}

/// The `cls` enum's own spelling of a value accepted in any case.
fn canonical_cls(cls: &str) -> String {
    let schema = xenapi::model::Schema::get();
    let values = schema.enum_def("cls").map_or(&[][..], |e| e.values);
    values.iter().find(|v| v.eq_ignore_ascii_case(cls)).map_or_else(|| cls.to_string(), |v| v.to_string())
}

fn destroy_one(db: &mut Db, class: usize, r: &str) -> ApiResult<()> {
    db.expect(class, r)?;
    db.destroy(r);
    Ok(())
}

fn destroy(call: &Call, db: &mut Db) -> ApiResult<Value> {
    destroy_one(db, call.class_idx, call.str(0))?;
    Ok(Value::str(""))
}

/// Destroys in order and stops at the first bad ref; the ones before it stay destroyed.
fn destroy_many(call: &Call, db: &mut Db) -> ApiResult<Value> {
    for r in call.args[0].as_array().unwrap_or(&[]) {
        destroy_one(db, call.class_idx, r.as_str().unwrap_or(""))?;
    }
    Ok(Value::str(""))
}

fn get_all(call: &Call, db: &mut Db) -> ApiResult<Value> {
    Ok(Value::Array(db.iter(call.class_idx).map(|(r, _)| Value::String(r.clone())).collect()))
}

/// The records of the messages `keep` accepts, newest first.
fn records(call: &Call, db: &Db, keep: impl Fn(&[Value]) -> bool) -> Value {
    let c = call.class_idx;
    let mut out: Vec<(String, Value)> =
        db.iter(c).filter(|(_, o)| keep(&o.fields)).map(|(r, o)| (r.clone(), db.record(c, &o.fields))).collect();
    out.reverse();
    Value::Struct(out)
}

/// A field's position in the message record.
fn pos(call: &Call, field: &str) -> usize {
    call.class.field_pos(field).expect("message field")
}

fn unix(v: &Value) -> i64 {
    v.as_str().and_then(xenapi::datetime::parse).unwrap_or(0)
}

/// Evaluates the expression over the record as text (priority as a number,
/// timestamp as a datetime). Naming a field a message lacks makes that
/// message fail to match, as xapi's message store does.
fn get_all_records_where(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let e = crate::implicit::where_expr(call.str(0))?;
    let class = call.class;
    Ok(records(call, db, |fields| {
        let text = |f: &str| class.field_pos(f).and_then(|p| fields.get(p)).map(crate::expr::compare_text);
        e.eval_strict(&text) == Some(true)
    }))
}

/// `get(cls, obj_uuid, since)`: the object's messages dated after `since`.
/// xapi keeps sub-second timestamps while `since` arrives in whole seconds,
/// so a message of the very second `since` names counts as later; ours are
/// kept in whole seconds, hence `>=`. The object must still exist
/// (UUID_INVALID, without parameters, if not).
fn get(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let cls = canonical_cls(call.str(0));
    let obj_uuid = call.str(1);
    if !object_exists(db, &cls, obj_uuid) {
        return Err(Failure::new::<&str>("UUID_INVALID", []));
    }
    let since = unix(&call.args[2]);
    let (cp, up, tp) = (pos(call, "cls"), pos(call, "obj_uuid"), pos(call, "timestamp"));
    Ok(records(call, db, |f| {
        f[cp].as_str() == Some(cls.as_str()) && f[up].as_str() == Some(obj_uuid) && unix(&f[tp]) >= since
    }))
}

/// `get_since(since)`: every message from `since` on. xapi compares the
/// creation instant to the sub-second and the record's timestamp keeps whole
/// seconds, so a message of the very second named by `since` is included.
fn get_since(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let since = unix(&call.args[0]);
    let tp = pos(call, "timestamp");
    Ok(records(call, db, |f| unix(&f[tp]) >= since))
}

fn get_by_uuid(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.by_uuid(call.class_idx, call.str(0))
        .map(Value::str)
        .ok_or_else(|| Failure::new("UUID_INVALID", ["message", call.str(0)]))
}

fn get_record(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let o = db.expect(call.class_idx, call.str(0))?;
    Ok(db.record(call.class_idx, &o.fields))
}
