//! Where a VM may run: host liveness, storage and network reachability, and
//! memory (free memory less what others have reserved, [`crate::rules::memory`]).

use crate::db::{ApiResult, Db, Failure};
use crate::rules::memory::{host_free, needed};
use crate::values::null;
use xenapi::Value;

/// Whether `host` has a plugged PBD for `sr`.
pub fn sr_visible(db: &Db, sr: &str, host: &str) -> bool {
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
pub fn assert_can_boot_here(db: &Db, vm: &str, host: &str, memory: bool) -> ApiResult<()> {
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
pub fn possible_hosts(db: &Db, vm: &str) -> Vec<String> {
    let host_c = db.cls("host");
    db.iter(host_c).map(|(h, _)| h.clone()).filter(|h| assert_can_boot_here(db, vm, h, true).is_ok()).collect()
}

/// Picks a host for `VM.start`/`VM.resume`: the affinity host when it fits,
/// else the one with most free memory (the first such in pool order).
pub fn choose_host(db: &Db, vm: &str) -> ApiResult<String> {
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
pub fn place_and_reserve(db: &mut Db, vm: &str, requested: Option<String>) -> ApiResult<String> {
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

pub fn reserve(db: &mut Db, vm: &str, host: &str) {
    db.set_named(vm, "scheduled_to_be_resident_on", Value::str(host));
}

pub fn unreserve(db: &mut Db, vm: &str) {
    if db.is(vm, "VM") {
        db.set_named(vm, "scheduled_to_be_resident_on", null());
    }
}
