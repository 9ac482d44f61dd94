//! A host that is gone: `declare_dead` (its VMs reset to Halted so that
//! they can start elsewhere) and `destroy` (`xe host-forget`: its record and
//! what hangs off it leave the database). Both refuse a host that is live,
//! and the master (HOST_IS_LIVE), as xapi does.

use crate::call::{BoxFuture, Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::rules::host::{is_live, resident_guests, update_allowed_operations};
use crate::rules::pool::master;
use std::collections::HashMap;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("host.declare_dead", Handler::Async(declare_dead));
    t.insert("host.destroy", Handler::Sync(destroy));
}

/// xapi's `precheck_destroy_declare_dead`.
fn precheck(db: &Db, host: &str) -> ApiResult<()> {
    db.expect_is(host, "host")?;
    if is_live(db, host) || master(db) == host {
        return Err(Failure::new("HOST_IS_LIVE", [host]));
    }
    Ok(())
}

fn declare_dead(call: Call) -> BoxFuture {
    Box::pin(async move {
        let host = call.str(0).to_string();
        let guests = {
            let db = call.core.db.read();
            precheck(&db, &host)?;
            resident_guests(&db, &host)
        };
        for vm in guests {
            call.api("VM.power_state_reset", vec![Value::String(vm)]).await?;
        }
        call.core.write(|db| {
            db.set_named(&host, "enabled", Value::Bool(false));
            update_allowed_operations(db, &host);
            Ok(())
        })?;
        Ok(Value::str(""))
    })
}

/// Classes whose objects belong to one host (their `host` field), which
/// xapi's database garbage collection removes with it.
const OWNED: &[&str] =
    &["PBD", "PIF", "host_cpu", "host_crashdump", "host_patch", "PGPU", "PCI", "PUSB", "Certificate"];

fn destroy(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0).to_string();
    precheck(db, &host)?;
    let pool = db.all("pool").into_iter().next().unwrap_or_default();
    if db.is(&pool, "pool") && db.bool(&pool, "ha_enabled") {
        return Err(Failure::new::<&str>("HA_IS_ENABLED", []));
    }
    if !resident_guests(db, &host).is_empty() {
        return Err(Failure::new("HOST_HAS_RESIDENT_VMS", [host.as_str()]));
    }
    let control: Vec<String> = db
        .strings(&host, "resident_VMs")
        .into_iter()
        .filter(|vm| db.is(vm, "VM") && db.bool(vm, "is_control_domain"))
        .collect();
    let mut doomed = Vec::new();
    for class in OWNED {
        if db.class_index(class).is_none() {
            continue;
        }
        doomed.extend(db.all(class).into_iter().filter(|r| db.field_str(r, "host") == host));
    }
    doomed.push(db.string(&host, "metrics"));
    for vm in &control {
        doomed.push(db.string(vm, "metrics"));
        doomed.push(db.string(vm, "guest_metrics"));
        doomed.extend(db.strings(vm, "consoles"));
        doomed.extend(db.strings(vm, "VBDs"));
        doomed.push(vm.clone());
    }
    doomed.push(host);
    for r in doomed {
        if db.get(&r).is_some() {
            db.destroy(&r);
        }
    }
    Ok(Value::str(""))
}
