//! `VM|host|SR.get_data_sources`, `query_data_source`, `record_data_source`
//! and `forget_data_source_archives`, over the model of [`crate::metrics`].
//!
//! As xapi: the VM calls but `query` need the VM running (its
//! `data_source_op`, else `VM_BAD_POWER_STATE`), `query` accepts a paused
//! one too. Listing gives every live source, recorded or not, sorted by
//! name; a source not recorded (off by default, or forgotten) cannot be
//! queried. rrdd's own failures reach the caller as xapi passes them on,
//! an `INTERNAL_ERROR` naming `Rrd_interface.Rrdd_error`: an unknown or
//! unrecorded name (`Invalid_data_source`), recording a name the object
//! does not have, or an object without an RRD (`Datasource_missing`).

use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::metrics::{self, Source};
use crate::rules::vm::assert_operation_valid;
use std::collections::HashMap;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("VM.get_data_sources", Handler::Sync(vm_list));
    t.insert("VM.query_data_source", Handler::Sync(vm_query));
    t.insert("VM.record_data_source", Handler::Sync(vm_record));
    t.insert("VM.forget_data_source_archives", Handler::Sync(vm_forget));
    t.insert("host.get_data_sources", Handler::Sync(|c, db| list(c, db, "host")));
    t.insert("host.query_data_source", Handler::Sync(|c, db| query(c, db, "host")));
    t.insert("host.record_data_source", Handler::Sync(|c, db| record(c, db, "host")));
    t.insert("host.forget_data_source_archives", Handler::Sync(|c, db| forget(c, db, "host")));
    t.insert("SR.get_data_sources", Handler::Sync(|c, db| list(c, db, "SR")));
    t.insert("SR.query_data_source", Handler::Sync(|c, db| query(c, db, "SR")));
    t.insert("SR.record_data_source", Handler::Sync(|c, db| record(c, db, "SR")));
    t.insert("SR.forget_data_source_archives", Handler::Sync(|c, db| forget(c, db, "SR")));
}

/// rrdd's failure as xapi reports it: the exception, printed.
fn rrdd_error(variant: &str, detail: &str) -> Failure {
    Failure::new("INTERNAL_ERROR", [format!("Rrd_interface.Rrdd_error([S({variant}), S({detail})])").as_str()])
}

fn missing(what: &str) -> Failure {
    rrdd_error("Datasource_missing", what)
}

fn invalid(name: &str) -> Failure {
    rrdd_error("Rrdd_internal_error", &format!("Rrd.Invalid_data_source(\"{name}\")"))
}

/// The object's sources, or `None` without an RRD.
fn all_sources(call: &Call, db: &Db, object: &str) -> Option<Vec<Source>> {
    metrics::sources(db, object, call.core.metrics.now())
}

/// How rrdd names an object whose RRD it lacks (`VM: <uuid>`).
fn who(db: &Db, object: &str, class: &str) -> String {
    match class {
        "host" => "No host datasource!".to_string(),
        _ => format!("{}: {}", if class == "VM" { "VM" } else { "SR" }, db.string(object, "uuid")),
    }
}

fn record_value(s: &Source, enabled: bool, now: i64) -> Value {
    Value::Struct(vec![
        ("name_label".into(), Value::String(s.name.clone())),
        ("name_description".into(), Value::String(s.description.clone())),
        ("enabled".into(), Value::Bool(enabled)),
        ("standard".into(), Value::Bool(s.default)),
        ("units".into(), Value::str(s.units)),
        ("min".into(), Value::Float(s.min)),
        ("max".into(), Value::Float(s.max)),
        ("value".into(), Value::Float(if enabled { s.model.at(now) } else { 0.0 })),
    ])
}

fn list(call: &Call, db: &mut Db, class: &str) -> ApiResult<Value> {
    let object = call.str(0);
    db.expect_is(object, class)?;
    let Some(mut sources) = all_sources(call, db, object) else {
        return Ok(Value::Array(Vec::new()));
    };
    sources.sort_by(|a, b| a.name.cmp(&b.name));
    let uuid = db.string(object, "uuid");
    let m = &call.core.metrics;
    let now = m.last_update();
    Ok(Value::Array(sources.iter().map(|s| record_value(s, m.enabled(&uuid, s), now)).collect()))
}

fn query(call: &Call, db: &mut Db, class: &str) -> ApiResult<Value> {
    let (object, name) = (call.str(0), call.str(1));
    db.expect_is(object, class)?;
    let Some(sources) = all_sources(call, db, object) else {
        return Err(missing(&who(db, object, class)));
    };
    let uuid = db.string(object, "uuid");
    let m = &call.core.metrics;
    match sources.iter().find(|s| s.name == name) {
        Some(s) if m.enabled(&uuid, s) => Ok(Value::Float(s.model.at(m.last_update()))),
        _ => Err(invalid(name)),
    }
}

fn record(call: &Call, db: &mut Db, class: &str) -> ApiResult<Value> {
    let (object, name) = (call.str(0), call.str(1));
    db.expect_is(object, class)?;
    let Some(sources) = all_sources(call, db, object) else {
        // rrdd ignores a host without an RRD; a VM or SR without one fails.
        return if class == "host" { Ok(Value::str("")) } else { Err(missing(&who(db, object, class))) };
    };
    if !sources.iter().any(|s| s.name == name) {
        return Err(missing(name));
    }
    call.core.metrics.set(&db.string(object, "uuid"), name, true);
    Ok(Value::str(""))
}

fn forget(call: &Call, db: &mut Db, class: &str) -> ApiResult<Value> {
    let (object, name) = (call.str(0), call.str(1));
    db.expect_is(object, class)?;
    if let Some(sources) = all_sources(call, db, object) {
        if sources.iter().any(|s| s.name == name) {
            call.core.metrics.set(&db.string(object, "uuid"), name, false);
        }
    }
    Ok(Value::str(""))
}

fn vm_list(call: &Call, db: &mut Db) -> ApiResult<Value> {
    assert_operation_valid(db, call.str(0), "data_source_op")?;
    list(call, db, "VM")
}

/// Only a running or paused VM has data sources to query (xapi checks first).
fn vm_query(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect_is(call.str(0), "VM")?;
    let power = db.field_str(call.str(0), "power_state").to_ascii_lowercase();
    if !matches!(power.as_str(), "running" | "paused") {
        return Err(Failure::new("VM_BAD_POWER_STATE", [call.str(0), "running;paused", &power]));
    }
    query(call, db, "VM")
}

fn vm_record(call: &Call, db: &mut Db) -> ApiResult<Value> {
    assert_operation_valid(db, call.str(0), "data_source_op")?;
    record(call, db, "VM")
}

fn vm_forget(call: &Call, db: &mut Db) -> ApiResult<Value> {
    assert_operation_valid(db, call.str(0), "data_source_op")?;
    forget(call, db, "VM")
}
