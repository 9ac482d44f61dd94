//! `task.*`: client-created tasks, cancel, and the setters xapi exposes.

use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::tasks::new_task;
use std::collections::HashMap;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("task.create", Handler::Sync(create));
    t.insert("task.destroy", Handler::Sync(destroy));
    t.insert("task.cancel", Handler::Sync(cancel));
    t.insert("task.set_status", Handler::Sync(|c, db| set(c, db, "status")));
    t.insert("task.set_progress", Handler::Sync(|c, db| set(c, db, "progress")));
    t.insert("task.set_result", Handler::Sync(|c, db| set(c, db, "result")));
    t.insert("task.set_error_info", Handler::Sync(|c, db| set(c, db, "error_info")));
}

fn create(call: &Call, db: &mut Db) -> ApiResult<Value> {
    Ok(Value::String(new_task(db, call.str(0), call.str(1), true)))
}

fn destroy(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect(call.class_idx, call.str(0))?;
    db.destroy(call.str(0));
    Ok(Value::str(""))
}

fn cancel(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let r = call.str(0);
    db.expect(call.class_idx, r)?;
    let cancellable = db
        .field(r, "allowed_operations")
        .and_then(Value::as_array)
        .is_some_and(|ops| ops.iter().any(|o| o.as_str() == Some("cancel")));
    if db.field_str(r, "status") != "pending" || !cancellable {
        return Err(Failure::new("OPERATION_NOT_ALLOWED", ["The task cannot be cancelled in its current state"]));
    }
    // The running operation notices "cancelling" at its next step and finishes the cancellation.
    db.set_named(r, "status", Value::str("cancelling"));
    db.set_named(r, "allowed_operations", Value::Array(Vec::new()));
    Ok(Value::str(""))
}

fn set(call: &Call, db: &mut Db, field: &str) -> ApiResult<Value> {
    db.expect(call.class_idx, call.str(0))?;
    db.set_named(call.str(0), field, call.args[1].clone());
    Ok(Value::str(""))
}
