//! Task objects: `Async.<Class>.<message>` calls run in the background under
//! a task whose result is the XML-RPC encoding of the return value, as in
//! xapi; long operations report progress on their task and notice a cancel.
//! Old finished tasks are collected.

use crate::call::Call;
use crate::core::Core;
use crate::db::{ApiResult, Db, Failure};
use crate::rules::pool::master;
use std::sync::Arc;
use std::time::Duration;
use xenapi::model::{Class, MessageDef};
use xenapi::Value;

/// Whether xapi offers an `Async.` form of this message: everything but
/// session, task and event messages and field accessors. Of the `message`
/// class and the host clock, only `message.destroy_many` has one (the others
/// are declared session-only in xapi's datamodel).
pub fn is_async_capable(class: &Class, message: &MessageDef) -> bool {
    match class.name() {
        "session" | "task" | "event" => return false,
        "message" => return message.name == "destroy_many",
        "host" if matches!(message.name, "get_servertime" | "get_server_localtime") => return false,
        _ => {}
    }
    !message.implicit || matches!(message.name, "create" | "destroy")
}

/// Creates a pending task owned by the calling session.
pub fn new_task(db: &mut Db, label: &str, description: &str, cancellable: bool) -> String {
    let c = db.cls("task");
    let now = (db.clock)();
    let host = master(db);
    let ops = if cancellable { vec![Value::str("cancel")] } else { Vec::new() };
    db.create(
        c,
        vec![
            ("name_label", Value::str(label)),
            ("name_description", Value::str(description)),
            ("allowed_operations", Value::Array(ops)),
            ("created", Value::DateTime(now)),
            ("status", Value::str("pending")),
            ("resident_on", Value::String(host)),
            ("progress", Value::Float(0.0)),
        ],
    )
}

/// Creates the task, starts the call (the way it runs: [`Call::run`]) and
/// returns the task's ref at once.
pub fn spawn(mut call: Call) -> ApiResult<Value> {
    let core = call.core.clone();
    let label = format!("Async.{}", call.method);
    let task = core.write(|db| Ok(new_task(db, &label, "", true)))?;
    let task_ref = task.clone();
    call.task = Some(task.clone());
    tokio::spawn(async move {
        let run = call.run;
        let result = run(call).await;
        finish(&core, &task_ref, result);
    });
    Ok(Value::String(task))
}

/// A task for the call `label` (`Async.VM.start`) that has already failed
/// with `error`, without running anything: what a fault gives.
pub fn failed(core: &Arc<Core>, label: &str, error: Vec<String>) -> ApiResult<Value> {
    let task = core.write(|db| Ok(new_task(db, label, "", true)))?;
    finish(core, &task, Err(Failure(error)));
    Ok(Value::String(task))
}

/// Records the outcome of a task's call.
pub fn finish(core: &Arc<Core>, task: &str, result: ApiResult<Value>) {
    let _ = core.write(|db| {
        if db.get(task).is_none() {
            return Ok(());
        }
        let now = (db.clock)();
        match result {
            Ok(v) => {
                let mut encoded = String::new();
                if v.as_str() != Some("") {
                    xenapi::wire::xmlrpc::encode_value(&mut encoded, &v);
                }
                db.set_named(task, "result", Value::String(encoded));
                db.set_named(task, "progress", Value::Float(1.0));
                db.set_named(task, "status", Value::str("success"));
            }
            Err(Failure(info)) => {
                let cancelled = info.first().map(String::as_str) == Some("TASK_CANCELLED");
                db.set_named(task, "error_info", Value::Array(info.into_iter().map(Value::String).collect()));
                db.set_named(task, "status", Value::str(if cancelled { "cancelled" } else { "failure" }));
            }
        }
        db.set_named(task, "allowed_operations", Value::Array(Vec::new()));
        db.set_named(task, "finished", Value::DateTime(now));
        Ok(())
    });
}

/// Simulates `seconds` of work (scaled by `--time-scale`) for a call: the
/// task's progress moves from `from` to `to`, and a `task.cancel` ends the
/// work with TASK_CANCELLED. Synchronous calls just wait.
pub async fn work(call: &Call, seconds: f64, from: f64, to: f64) -> ApiResult<()> {
    let total = Duration::from_secs_f64((seconds * call.core.config.time_scale).max(0.0));
    // Ten progress steps, but none shorter than 20 ms: the timer's granularity
    // would otherwise stretch very short operations.
    let steps = (total.as_millis() / 20).clamp(1, 10) as u32;
    for i in 1..=steps {
        if !total.is_zero() {
            tokio::time::sleep(total / steps).await;
        }
        if let Some(task) = &call.task {
            let cancelled = call.core.write(|db| {
                if db.field_str(task, "status") == "cancelling" {
                    return Ok(true);
                }
                let p = from + (to - from) * f64::from(i) / f64::from(steps);
                db.set_named(task, "progress", Value::Float(p));
                Ok(false)
            })?;
            if cancelled {
                return Err(Failure::new("TASK_CANCELLED", [task.as_str()]));
            }
        }
    }
    Ok(())
}

/// Destroys finished tasks older than the configured time to live.
pub async fn collect_garbage(core: Arc<Core>) {
    let ttl = core.config.task_ttl;
    let mut tick = tokio::time::interval(Duration::from_secs(ttl.as_secs().clamp(1, 60)));
    loop {
        tick.tick().await;
        let cutoff = xenapi::datetime::parse(&xenapi::datetime::now()).unwrap_or(0) - ttl.as_secs() as i64;
        let _ = core.write(|db| {
            let c = db.cls("task");
            let old: Vec<String> = db
                .iter(c)
                .filter(|(r, _)| {
                    let status = db.field_str(r, "status");
                    let finished = xenapi::datetime::parse(db.field_str(r, "finished")).unwrap_or(0);
                    status != "pending" && status != "cancelling" && finished <= cutoff
                })
                .map(|(r, _)| r.clone())
                .collect();
            for r in old {
                db.destroy(&r);
            }
            Ok(())
        });
    }
}
