//! Helpers shared by the storage and network behaviours: per-operation
//! error tables and the rules VBDs and VIFs share (VM power state, hotplug
//! support).

use crate::db::{ApiResult, Db, Failure};
use crate::values::sset;
use xenapi::Value;

/// xapi's per-object operation table: for each failure, the operations it
/// forbids. The first failure listing an operation is the one reported.
#[derive(Default)]
pub(crate) struct OpTable(Vec<(&'static [&'static str], Failure)>);

impl OpTable {
    pub fn forbid(&mut self, ops: &'static [&'static str], f: Failure) {
        self.0.push((ops, f));
    }

    pub fn check(&self, op: &str) -> ApiResult<()> {
        match self.0.iter().find(|(ops, _)| ops.contains(&op)) {
            Some((_, f)) => Err(f.clone()),
            None => Ok(()),
        }
    }

    /// The operations of `candidates` that nothing forbids.
    pub fn allowed(&self, candidates: &[&'static str]) -> Value {
        sset(&candidates.iter().filter(|op| self.check(op).is_ok()).collect::<Vec<_>>())
    }
}

/// A VM's power state as xapi prints it in errors: lowercase.
pub(crate) fn power(db: &Db, vm: &str) -> String {
    db.string(vm, "power_state").to_ascii_lowercase()
}

/// Whether the VM runs (or would run) with a device model: HVM guests.
pub(crate) fn is_hvm(db: &Db, vm: &str) -> bool {
    let metrics = db.field_str(vm, "metrics");
    let current = db.field_str(metrics, "current_domain_type");
    let ty = match current {
        "" | "unspecified" => db.field_str(vm, "domain_type"),
        t => t,
    };
    match ty {
        "hvm" => true,
        "" | "unspecified" => !db.field_str(vm, "HVM_boot_policy").is_empty(),
        _ => false,
    }
}

/// Why a running HVM guest cannot hotplug a device of `kind` ("VBD" or
/// "VIF"), judged from its guest agent the way xapi does.
pub(crate) fn hotplug_refusal(db: &Db, vm: &str, kind: &str) -> Option<Failure> {
    let gm = db.field_str(vm, "guest_metrics");
    let missing = || Some(Failure::new("VM_MISSING_PV_DRIVERS", [vm]));
    if !db.is(gm, "VM_guest_metrics") {
        return missing();
    }
    let field = if kind == "VBD" { "can_use_hotplug_vbd" } else { "can_use_hotplug_vif" };
    match db.field_str(gm, field) {
        "yes" => None,
        "no" => Some(Failure::new("OPERATION_NOT_ALLOWED", [format!("VM states it does not support {kind} hotplug.")])),
        _ if kind == "VBD" && db.bool(gm, "PV_drivers_detected") => None,
        _ => {
            let v = db.field(gm, "PV_drivers_version");
            let has = v.is_some_and(|v| v.get("major").is_some() && v.get("minor").is_some());
            if has {
                None
            } else {
                missing()
            }
        }
    }
}

/// The guest device name of a numeric userdevice (0 → xvda).
pub(crate) fn disk_device(userdevice: &str) -> String {
    match userdevice.parse::<u8>() {
        Ok(n) if n < 26 => format!("xvd{}", (b'a' + n) as char),
        _ => String::new(),
    }
}

/// Detach-rejection simulation: while a device's other_config holds
/// `sim-detach-rejected` = N > 0, a clean unplug fails with
/// DEVICE_DETACH_REJECTED and N goes down by one, so clients' retry loops
/// can be exercised. A forced unplug is never rejected.
pub(crate) fn simulated_detach_rejection(db: &mut Db, kind: &str, r: &str) -> ApiResult<()> {
    const KEY: &str = "sim-detach-rejected";
    let Some(n) = db.map_get(r, "other_config", KEY) else {
        return Ok(());
    };
    let n: i64 = n.trim().parse().unwrap_or(0);
    if n <= 0 {
        return Ok(());
    }
    let left = (n - 1).to_string();
    db.map_put(r, "other_config", KEY, Some(&left));
    Err(Failure::new("DEVICE_DETACH_REJECTED", [kind, r, "Device in use by the guest: it refused the unplug request"]))
}
