//! Evacuation: `host.evacuate` live-migrates every guest of a host to the
//! other enabled hosts along xapi's plan ([`crate::rules::host::evacuation_plan`]),
//! `evacuate_batch_size` at a time (10 by default, as xapi), each through
//! `VM.pool_migrate`; `get_vms_which_prevent_evacuation` and
//! `assert_can_evacuate` report what stands in the way.

use crate::call::BoxFuture;
use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::rules::host::{self, assert_operation_valid, enter, leave, resident_guests};
use crate::values::{is_null, smap};
use std::collections::HashMap;
use xenapi::Value;

/// xapi's default `evacuation_batch_size`.
const BATCH: usize = 10;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("host.evacuate", Handler::Async(evacuate));
    t.insert("host.get_vms_which_prevent_evacuation", Handler::Sync(prevent));
    t.insert("host.assert_can_evacuate", Handler::Sync(assert_can_evacuate));
}

fn prevent(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let h = call.str(0);
    db.expect_is(h, "host")?;
    let map = host::vms_preventing_evacuation(db, h)
        .into_iter()
        .map(|(vm, why)| (vm, Value::Array(why.into_iter().map(Value::String).collect())))
        .collect();
    Ok(Value::Struct(map))
}

fn assert_can_evacuate(call: &Call, db: &mut Db) -> ApiResult<Value> {
    host::assert_can_evacuate(db, call.str(0))?;
    Ok(Value::str(""))
}

fn evacuate(call: Call) -> BoxFuture {
    Box::pin(async move {
        let h = call.str(0).to_string();
        let network = call.str(1).to_string();
        let batch = match call.args.get(2).and_then(Value::as_int) {
            Some(n) if n != 0 => usize::try_from(n.unsigned_abs()).unwrap_or(BATCH).max(1),
            _ => BATCH,
        };
        // The operation is on the host for the call's length, under its
        // task (one made for a synchronous call, as xapi does).
        let (task, own, plan) = call.core.write(|db| {
            assert_operation_valid(db, &h, "evacuate")?;
            let plan = host::evacuation_plan(db, &h);
            if let Some((_, Err(e))) = plan.iter().find(|(_, p)| p.is_err()) {
                return Err(Failure(e.clone()));
            }
            // The network matters only once every VM has somewhere to go.
            if !is_null(&network) {
                db.expect_is(&network, "network")?;
            }
            let own = call.task.is_none();
            let task = match &call.task {
                Some(t) => t.clone(),
                None => crate::tasks::new_task(db, "Host.evacuate", "", false),
            };
            enter(db, &h, "evacuate", &task);
            let plan: Vec<(String, String)> = plan.into_iter().filter_map(|(vm, p)| Some((vm, p.ok()?))).collect();
            Ok((task, own, plan))
        })?;
        let result = migrate_all(&call, &network, &task, plan, batch).await;
        let result = result.and_then(|()| {
            let left = resident_guests(&call.core.db.read(), &h).len();
            if left == 0 {
                Ok(Value::str(""))
            } else {
                Err(Failure::new("INTERNAL_ERROR", [format!("evacuate: {left} VMs are still resident on {h}")]))
            }
        });
        let _ = call.core.write(|db| {
            leave(db, &h, &task);
            if own && db.is(&task, "task") {
                db.destroy(&task);
            }
            Ok(())
        });
        result
    })
}

/// Runs the migrations, `batch` at a time, a new one as soon as one ends;
/// the first failure (other than a VM no longer running) is the answer.
async fn migrate_all(
    call: &Call,
    network: &str,
    task: &str,
    plan: Vec<(String, String)>,
    batch: usize,
) -> ApiResult<()> {
    let mut options = vec![("live", "true")];
    if !is_null(network) {
        options.insert(0, ("network", network));
    }
    let options = smap(&options);
    let total = plan.len().max(1) as f64;
    let mut pending = plan.into_iter();
    let mut running = tokio::task::JoinSet::new();
    let mut done = 0usize;
    let mut failure = None;
    loop {
        while failure.is_none() && running.len() < batch {
            let Some((vm, to)) = pending.next() else { break };
            let c = call.with_task(task.to_string());
            let args = vec![Value::String(vm), Value::String(to), options.clone()];
            running.spawn(async move { c.api("VM.pool_migrate", args).await });
        }
        let Some(joined) = running.join_next().await else { break };
        done += 1;
        match joined {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.code() == "VM_BAD_POWER_STATE" => {}
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some(Failure::new("INTERNAL_ERROR", [e.to_string()]))),
        }
        let progress = done as f64 / total;
        let _ = call.core.write(|db| {
            if db.is(task, "task") {
                db.set_named(task, "progress", Value::Float(progress));
            }
            Ok(())
        });
    }
    failure.map_or(Ok(()), Err)
}
