//! What a host computes about itself: free memory and its overhead.

use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db};
use crate::rules::host::assert_live;
use crate::rules::memory::host_free;
use std::collections::HashMap;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("host.compute_free_memory", Handler::Sync(compute_free_memory));
    t.insert("host.compute_memory_overhead", Handler::Sync(compute_memory_overhead));
}

/// The memory a new VM could have on the host now: what resident VMs and
/// VMs on their way there leave (xapi forwards it to the host: HOST_OFFLINE
/// when it is down).
fn compute_free_memory(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0);
    assert_live(db, host)?;
    Ok(Value::Int(host_free(db, host).max(0)))
}

/// The host's own memory overhead (`host.memory_overhead`).
fn compute_memory_overhead(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0);
    db.expect_is(host, "host")?;
    Ok(Value::Int(db.int(host, "memory_overhead")))
}
