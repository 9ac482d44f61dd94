//! Hosts: the operations a host allows in its state (xapi's
//! `Xapi_host_helpers.valid_operations`), liveness, and the evacuation plan
//! (`compute_evacuation_plan_no_wlb`): where each resident VM would go, or
//! why it cannot.

use crate::db::{ApiResult, Db, Failure};
use crate::rules::memory::{host_free, needed};
use crate::rules::placement::assert_can_boot_here;
use crate::values::{smap, sset};

/// Every host operation of the datamodel, in its order.
const ALL_OPS: &[&str] = &[
    "provision",
    "evacuate",
    "shutdown",
    "reboot",
    "power_on",
    "vm_start",
    "vm_resume",
    "vm_migrate",
    "apply_updates",
    "enable",
];

/// Whether the host's metrics say it is live (a host without metrics is).
pub fn is_live(db: &Db, host: &str) -> bool {
    let metrics = db.string(host, "metrics");
    !db.is(&metrics, "host_metrics") || db.bool(&metrics, "live")
}

/// The host a call runs on: the one at the address its session is local
/// to, else the master (where every other session lives).
pub fn this_host(db: &Db, local_to: Option<String>) -> String {
    local_to
        .and_then(|address| db.all("host").into_iter().find(|h| db.string(h, "address") == address))
        .unwrap_or_else(|| crate::rules::pool::master(db))
}

/// The address a PIF gives its host: its IPv4 address, or its first IPv6
/// address without the prefix length when IPv6 is the primary type.
pub fn address_of(db: &Db, pif: &str) -> String {
    if db.field_str(pif, "primary_address_type") == "IPv6" {
        let first = db.strings(pif, "IPv6").into_iter().next().unwrap_or_default();
        return first.split('/').next().unwrap_or_default().to_string();
    }
    db.string(pif, "IP")
}

/// xapi's `on_dom0_networking_change`: `host.address` becomes `address`;
/// returns the old one when it changed (the host now answers elsewhere).
pub fn set_address(db: &mut Db, host: &str, address: &str) -> Option<String> {
    let old = db.string(host, "address");
    if old == address {
        return None;
    }
    db.set_named(host, "address", xenapi::Value::str(address));
    Some(old)
}

/// xapi's `check_live` before forwarding a call to a host: HOST_OFFLINE.
pub fn assert_live(db: &Db, host: &str) -> ApiResult<()> {
    db.expect_is(host, "host")?;
    if is_live(db, host) {
        Ok(())
    } else {
        Err(Failure::new("HOST_OFFLINE", [host]))
    }
}

/// The host's current operations whose tasks still exist.
pub fn live_operations(db: &Db, host: &str) -> Vec<(String, String)> {
    let task_c = db.cls("task");
    let mut ops = db.string_map(host, "current_operations");
    ops.retain(|(t, _)| db.is_a(t, task_c));
    ops
}

/// The first reason `op` may not run on `host` now, as xapi's table has it.
fn operation_error(db: &Db, host: &str, op: &str) -> Option<Failure> {
    let current = live_operations(db, host);
    let creating = |o: &str| matches!(o, "provision" | "vm_resume" | "vm_migrate");
    let removing = |o: &str| matches!(o, "evacuate" | "reboot" | "shutdown");
    let busy = |(task, cur): &(String, String)| Failure::new("OTHER_OPERATION_IN_PROGRESS", ["host", host, cur, task]);
    if op != "power_on" {
        if creating(op) {
            if let Some(c) = current.iter().find(|(_, o)| removing(o)) {
                return Some(busy(c));
            }
        }
        if removing(op) {
            if let Some(c) = current.iter().find(|(_, o)| creating(o)) {
                return Some(busy(c));
            }
        }
    }
    for (running, blocks) in [
        ("reboot", &["shutdown", "apply_updates"][..]),
        ("shutdown", &["reboot", "apply_updates"][..]),
        ("apply_updates", &["reboot", "shutdown", "enable"][..]),
        ("provision", &["provision"][..]),
    ] {
        if blocks.contains(&op) {
            if let Some(c) = current.iter().find(|(_, o)| o == running) {
                return Some(busy(c));
            }
        }
    }
    if db.bool(host, "enabled") && matches!(op, "reboot" | "shutdown" | "apply_updates") {
        return Some(Failure::new::<&str>("HOST_NOT_DISABLED", []));
    }
    if op == "power_on" {
        if is_live(db, host) {
            return Some(Failure::new("HOST_IS_LIVE", [host]));
        }
        if db.string(host, "power_on_mode").is_empty() {
            return Some(Failure::new::<&str>("HOST_POWER_ON_MODE_DISABLED", []));
        }
    }
    None
}

/// Fails with the reason `op` may not run on `host` now.
pub fn assert_operation_valid(db: &Db, host: &str, op: &str) -> ApiResult<()> {
    db.expect_is(host, "host")?;
    operation_error(db, host, op).map_or(Ok(()), Err)
}

/// Recomputes the host's `allowed_operations`.
pub fn update_allowed_operations(db: &mut Db, host: &str) {
    if !db.is(host, "host") {
        return;
    }
    let ops: Vec<&str> = ALL_OPS.iter().copied().filter(|op| operation_error(db, host, op).is_none()).collect();
    db.set_named(host, "allowed_operations", sset(&ops));
}

/// Marks `op` as running on `host` under `task`.
pub fn enter(db: &mut Db, host: &str, op: &str, task: &str) {
    let mut cur = live_operations(db, host);
    cur.push((task.to_string(), op.to_string()));
    db.set_named(host, "current_operations", smap(&cur));
    update_allowed_operations(db, host);
}

/// Takes `task`'s operation (and stale ones) off `host`.
pub fn leave(db: &mut Db, host: &str, task: &str) {
    if !db.is(host, "host") {
        return;
    }
    let mut cur = live_operations(db, host);
    cur.retain(|(t, _)| t != task);
    db.set_named(host, "current_operations", smap(&cur));
    update_allowed_operations(db, host);
}

/// The guests resident on `host` (its control domain left out), in pool order.
pub fn resident_guests(db: &Db, host: &str) -> Vec<String> {
    db.strings(host, "resident_VMs")
        .into_iter()
        .filter(|vm| db.is(vm, "VM") && !db.bool(vm, "is_control_domain"))
        .collect()
}

/// One VM's part of an evacuation plan: the host it goes to, or the error
/// (code and parameters) that keeps it where it is.
pub type Plan = Result<String, Vec<String>>;

/// Where each resident guest of `host` would go, or the error (code and
/// parameters) that keeps it there, in xapi's order of checks: no enabled
/// host to go to (NO_HOSTS_AVAILABLE); a target that cannot run it
/// (VM_REQUIRES_SR, ...: the VM must be able to boot on every enabled
/// host); an operation that forbids `pool_migrate`; then a first-fit
/// placement by memory (HOST_NOT_ENOUGH_FREE_MEMORY for those left over).
pub fn evacuation_plan(db: &Db, host: &str) -> Vec<(String, Plan)> {
    let targets: Vec<String> = db.all("host").into_iter().filter(|h| h != host && db.bool(h, "enabled")).collect();
    let guests = resident_guests(db, host);
    let mut plans: Vec<(String, Option<Plan>)> = guests.iter().map(|v| (v.clone(), None)).collect();
    let error = |f: Failure| Err(f.0);
    if targets.is_empty() {
        for (vm, plan) in &mut plans {
            *plan = Some(Err(vec!["NO_HOSTS_AVAILABLE".into(), vm.clone()]));
        }
        return plans.into_iter().filter_map(|(vm, p)| Some((vm, p?))).collect();
    }
    let mut migratable = Vec::new();
    for (vm, plan) in &mut plans {
        match targets.iter().try_for_each(|t| assert_can_boot_here(db, vm, t, false)) {
            Ok(()) => migratable.push(vm.clone()),
            Err(f) => *plan = Some(error(f)),
        }
    }
    for (vm, plan) in &mut plans {
        if let Err(f) = crate::rules::vm::assert_operation_valid(db, vm, "pool_migrate") {
            *plan = Some(error(f));
        }
    }
    // First fit, largest VMs first, onto the target with most room left.
    let mut room: Vec<(String, i64)> = targets.iter().map(|t| (t.clone(), host_free(db, t))).collect();
    migratable.sort_by_key(|vm| std::cmp::Reverse(needed(db, vm)));
    for vm in migratable {
        let need = needed(db, &vm);
        let slot = room.iter_mut().filter(|(_, free)| *free >= need).max_by_key(|(_, free)| *free);
        let placed = match slot {
            Some((target, free)) => {
                *free -= need;
                Ok(target.clone())
            }
            None => Err(vec!["HOST_NOT_ENOUGH_FREE_MEMORY".into(), vm.clone()]),
        };
        if let Some((_, plan)) = plans.iter_mut().find(|(v, _)| *v == vm) {
            if plan.is_none() {
                *plan = Some(placed);
            }
        }
    }
    plans.into_iter().filter_map(|(vm, p)| Some((vm, p?))).collect()
}

/// The guests that keep `host` from being evacuated, with their reasons.
pub fn vms_preventing_evacuation(db: &Db, host: &str) -> Vec<(String, Vec<String>)> {
    evacuation_plan(db, host).into_iter().filter_map(|(vm, p)| p.err().map(|e| (vm, e))).collect()
}

/// xapi's `assert_can_evacuate`: CANNOT_EVACUATE_HOST with every reason,
/// each as `CODE,param,...`, joined by `|`.
pub fn assert_can_evacuate(db: &Db, host: &str) -> ApiResult<()> {
    db.expect_is(host, "host")?;
    let errors: Vec<String> = vms_preventing_evacuation(db, host).into_iter().map(|(_, e)| e.join(",")).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Failure::new("CANNOT_EVACUATE_HOST", [errors.join("|")]))
    }
}

/// A host's agent stopped (after a shutdown or reboot, or a failure): its
/// metrics say it is not live, it takes no new VMs, its SRs are unplugged.
/// Its domains must be gone already.
pub fn went_down(db: &mut Db, host: &str) {
    if !db.is(host, "host") {
        return;
    }
    let metrics = db.string(host, "metrics");
    if db.is(&metrics, "host_metrics") {
        db.set_named(&metrics, "live", xenapi::Value::Bool(false));
        db.set_named(&metrics, "last_updated", db.now());
    }
    db.set_named(host, "enabled", xenapi::Value::Bool(false));
    for pbd in db.strings(host, "PBDs") {
        if db.bool(&pbd, "currently_attached") {
            db.set_named(&pbd, "currently_attached", xenapi::Value::Bool(false));
        }
    }
    update_allowed_operations(db, host);
}

/// A host finished booting: live again, its SRs plugged, enabled (xapi
/// enables a host at start unless told not to), its boot time now, and
/// nothing left in progress on it.
pub fn came_up(db: &mut Db, host: &str) {
    if !db.is(host, "host") {
        return;
    }
    let metrics = db.string(host, "metrics");
    if db.is(&metrics, "host_metrics") {
        db.set_named(&metrics, "live", xenapi::Value::Bool(true));
        db.set_named(&metrics, "last_updated", db.now());
    }
    for pbd in db.strings(host, "PBDs") {
        if !db.bool(&pbd, "currently_attached") {
            db.set_named(&pbd, "currently_attached", xenapi::Value::Bool(true));
        }
    }
    let now = xenapi::datetime::parse(&(db.clock)()).unwrap_or(0);
    let stamp = format!("{now}.");
    db.map_put(host, "other_config", "boot_time", Some(&stamp));
    db.map_put(host, "other_config", "agent_start_time", Some(&stamp));
    db.set_named(host, "current_operations", smap::<&str, &str>(&[]));
    db.set_named(host, "enabled", xenapi::Value::Bool(true));
    // A boot is what updates waited for: none requires one any more, and
    // the guidance to reboot (or restart the toolstack) has been followed.
    for field in ["updates_requiring_reboot", "pending_guidances"] {
        if db.field(host, field).and_then(xenapi::Value::as_array).is_some_and(|a| !a.is_empty()) {
            db.set_named(host, field, xenapi::Value::Array(Vec::new()));
        }
    }
    crate::rules::memory::refresh_host(db, host);
    update_allowed_operations(db, host);
}
