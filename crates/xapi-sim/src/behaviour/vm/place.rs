//! Where a VM may run: host liveness, storage and network reachability, and
//! memory accounting (free memory as the fixture computes it, less what VMs
//! being started or migrated have reserved through `scheduled_to_be_resident_on`).

use crate::db::{ApiResult, Db, Failure};
use crate::fixtures::{host_memory_free, vm_overhead};
use crate::values::null;
use xenapi::Value;

/// Xen's memory overhead for the VM's configuration.
pub(super) fn overhead(db: &Db, vm: &str) -> i64 {
    let vcpus = db.int(vm, "VCPUs_max").max(db.int(vm, "VCPUs_at_startup")).max(1);
    vm_overhead(db.int(vm, "memory_static_max"), vcpus)
}

/// The memory a domain of this VM takes: its target plus overhead.
pub(super) fn needed(db: &Db, vm: &str) -> i64 {
    db.int(vm, "memory_dynamic_max") + overhead(db, vm)
}

/// Memory of `host` not taken by resident VMs nor reserved for arriving ones.
pub(super) fn host_free(db: &Db, host: &str) -> i64 {
    let vm_c = db.cls("VM");
    let reserved: i64 = db
        .iter(vm_c)
        .filter(|(r, _)| {
            db.field_str(r, "scheduled_to_be_resident_on") == host && db.field_str(r, "resident_on") != host
        })
        // A reservation outlives its operation only after a crash; then it no longer counts.
        .filter(|(r, _)| !super::live_operations(db, r).is_empty())
        .map(|(r, _)| needed(db, r))
        .sum();
    host_memory_free(db, host) - reserved
}

/// Refreshes `host_metrics.memory_free` after domains came or went.
pub(super) fn refresh_host(db: &mut Db, host: &str) {
    if !db.is(host, "host") {
        return;
    }
    let metrics = db.string(host, "metrics");
    if db.is(&metrics, "host_metrics") {
        let free = host_memory_free(db, host);
        db.set_named(&metrics, "memory_free", Value::Int(free));
    }
}

/// Whether `host` has a plugged PBD for `sr`.
pub(super) fn sr_visible(db: &Db, sr: &str, host: &str) -> bool {
    db.strings(sr, "PBDs").iter().any(|pbd| db.field_str(pbd, "host") == host && db.bool(pbd, "currently_attached"))
}

/// The SRs a VM needs: those of its disks and of its suspend image.
fn required_srs(db: &Db, vm: &str) -> Vec<String> {
    let mut vdis: Vec<String> = db.strings(vm, "VBDs").iter().map(|vbd| db.string(vbd, "VDI")).collect();
    vdis.push(db.string(vm, "suspend_VDI"));
    let mut srs: Vec<String> = Vec::new();
    for vdi in vdis.iter().filter(|v| db.is(v, "VDI")) {
        let sr = db.string(vdi, "SR");
        if !srs.contains(&sr) {
            srs.push(sr);
        }
    }
    srs
}

/// xapi's `assert_can_boot_here`: the host is live and enabled, sees the VM's
/// SRs and networks, and (when asked) has the memory for it.
pub(super) fn assert_can_boot_here(db: &Db, vm: &str, host: &str, memory: bool) -> ApiResult<()> {
    db.expect_is(host, "host")?;
    let metrics = db.string(host, "metrics");
    if db.is(&metrics, "host_metrics") && !db.bool(&metrics, "live") {
        return Err(Failure::new::<&str>("HOST_NOT_LIVE", []));
    }
    if !db.bool(host, "enabled") {
        return Err(Failure::new("HOST_DISABLED", [host]));
    }
    for sr in required_srs(db, vm) {
        if !sr_visible(db, &sr, host) {
            return Err(Failure::new("VM_REQUIRES_SR", [vm, &sr]));
        }
    }
    for vif in db.strings(vm, "VIFs") {
        let net = db.string(&vif, "network");
        if !db.is(&net, "network") {
            continue;
        }
        let pifs = db.strings(&net, "PIFs");
        // A network without PIFs is internal: every host can attach it.
        if !pifs.is_empty() && !pifs.iter().any(|p| db.field_str(p, "host") == host) {
            return Err(Failure::new("VM_REQUIRES_NETWORK", [vm, &net]));
        }
    }
    if memory {
        let need = needed(db, vm);
        let free = host_free(db, host);
        if need > free {
            return Err(Failure::new("HOST_NOT_ENOUGH_FREE_MEMORY", [need.to_string(), free.to_string()]));
        }
    }
    Ok(())
}

/// Hosts the VM could start on now, in pool order.
pub(super) fn possible_hosts(db: &Db, vm: &str) -> Vec<String> {
    let host_c = db.cls("host");
    db.iter(host_c).map(|(h, _)| h.clone()).filter(|h| assert_can_boot_here(db, vm, h, true).is_ok()).collect()
}

/// Picks a host for `VM.start`/`VM.resume`: the affinity host when it fits,
/// else the one with most free memory (the first such in pool order).
pub(super) fn choose_host(db: &Db, vm: &str) -> ApiResult<String> {
    let affinity = db.string(vm, "affinity");
    if db.is(&affinity, "host") && assert_can_boot_here(db, vm, &affinity, true).is_ok() {
        return Ok(affinity);
    }
    let mut best: Option<(i64, String)> = None;
    for h in possible_hosts(db, vm) {
        let free = host_free(db, &h);
        if best.as_ref().is_none_or(|(f, _)| free > *f) {
            best = Some((free, h));
        }
    }
    best.map(|(_, h)| h).ok_or_else(|| Failure::new::<&str>("NO_HOSTS_AVAILABLE", []))
}

/// Reserves the VM's memory on `host` until it is resident there.
/// Checks the requested host (or picks one) and reserves the VM's memory there.
pub(super) fn place_and_reserve(db: &mut Db, vm: &str, requested: Option<String>) -> ApiResult<String> {
    let host = match requested {
        Some(h) => {
            assert_can_boot_here(db, vm, &h, true)?;
            h
        }
        None => choose_host(db, vm)?,
    };
    reserve(db, vm, &host);
    Ok(host)
}

pub(super) fn reserve(db: &mut Db, vm: &str, host: &str) {
    db.set_named(vm, "scheduled_to_be_resident_on", Value::str(host));
}

pub(super) fn unreserve(db: &mut Db, vm: &str) {
    if db.is(vm, "VM") {
        db.set_named(vm, "scheduled_to_be_resident_on", null());
    }
}
