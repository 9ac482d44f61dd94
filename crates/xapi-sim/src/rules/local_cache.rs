//! Local storage caching (xapi's `enable_local_storage_caching`): a host
//! in "bacon mode" (disabled, no guest running, no disk plugged into its
//! control domain) may cache on one of its own unshared single-PBD SRs
//! whose driver has `SR_SUPPORTS_LOCAL_CACHING`. The host and pool calls
//! both go through here.

use crate::db::{ApiResult, Db, Failure};
use xenapi::{Value, NULL_REF};

/// xapi's `assert_bacon_mode`: HOST_NOT_DISABLED, then HOST_IN_USE naming
/// a running guest or a disk attached to the control domain.
pub fn assert_bacon_mode(db: &Db, host: &str) -> ApiResult<()> {
    if db.bool(host, "enabled") {
        return Err(Failure::new::<&str>("HOST_NOT_DISABLED", []));
    }
    let vms = db.all("VM");
    let running = vms.iter().find(|vm| {
        db.field_str(vm, "resident_on") == host
            && db.field_str(vm, "power_state") == "Running"
            && !db.bool(vm, "is_control_domain")
    });
    if let Some(vm) = running {
        return Err(Failure::new("HOST_IN_USE", [host, "vm", vm]));
    }
    let dom0_vbd = vms
        .iter()
        .filter(|vm| db.field_str(vm, "resident_on") == host && db.bool(vm, "is_control_domain"))
        .flat_map(|vm| db.strings(vm, "VBDs"))
        .find(|vbd| db.is(vbd, "VBD") && db.bool(vbd, "currently_attached"));
    if let Some(vbd) = dom0_vbd {
        return Err(Failure::new("HOST_IN_USE", [host, "vbd", &vbd]));
    }
    Ok(())
}

/// Whether the SR is one a host could cache on: unshared, one PBD, and a
/// driver with `SR_SUPPORTS_LOCAL_CACHING`.
pub fn acceptable(db: &Db, sr: &str) -> bool {
    let ty = db.string(sr, "type");
    let feature = db.all("SM").into_iter().filter(|s| db.field_str(s, "type") == ty).any(|s| {
        db.field(&s, "features")
            .and_then(Value::as_struct)
            .is_some_and(|f| f.iter().any(|(k, _)| k == "SR_SUPPORTS_LOCAL_CACHING"))
    });
    !db.bool(sr, "shared") && db.strings(sr, "PBDs").len() == 1 && feature
}

/// The host caches on `sr` from now on; its previous cache SR stops being one.
pub fn enable(db: &mut Db, host: &str, sr: &str) -> ApiResult<()> {
    assert_bacon_mode(db, host)?;
    if !acceptable(db, sr) {
        return Err(Failure::new::<&str>("SR_OPERATION_NOT_SUPPORTED", []));
    }
    let pbd = db.strings(sr, "PBDs").into_iter().next().unwrap_or_default();
    if db.field_str(&pbd, "host") != host {
        return Err(Failure::new("HOST_CANNOT_SEE_SR", [host, sr]));
    }
    let old = db.string(host, "local_cache_sr");
    if db.is(&old, "SR") {
        db.set_named(&old, "local_cache_enabled", Value::Bool(false));
    }
    db.set_named(host, "local_cache_sr", Value::str(sr));
    db.set_named(sr, "local_cache_enabled", Value::Bool(true));
    Ok(())
}

/// The host has no cache SR any more.
pub fn disable(db: &mut Db, host: &str) -> ApiResult<()> {
    assert_bacon_mode(db, host)?;
    let sr = db.string(host, "local_cache_sr");
    db.set_named(host, "local_cache_sr", Value::str(NULL_REF));
    if db.is(&sr, "SR") {
        db.set_named(&sr, "local_cache_enabled", Value::Bool(false));
    }
    Ok(())
}
