//! Device rules: the operation tables of VBDs and VIFs (the first failure
//! listing an operation is the one a call gets; `allowed_operations` is what
//! none forbids), hotplug support of HVM guests, what plugging a device
//! changes, and guest device names.

use crate::db::{ApiResult, Db, Failure};
use crate::rules::storage::refresh_vdi_ops;
use crate::values::{is_null, sset};
use xenapi::Value;

/// xapi's per-object operation table: for each failure, the operations it
/// forbids. The first failure listing an operation is the one reported.
#[derive(Default)]
pub struct OpTable(Vec<(&'static [&'static str], Failure)>);

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
pub fn power(db: &Db, vm: &str) -> String {
    db.string(vm, "power_state").to_ascii_lowercase()
}

/// Whether the VM runs (or would run) with a device model: HVM guests.
pub fn is_hvm(db: &Db, vm: &str) -> bool {
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
pub fn hotplug_refusal(db: &Db, vm: &str, kind: &str) -> Option<Failure> {
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
pub fn disk_device(userdevice: &str) -> String {
    match userdevice.parse::<u8>() {
        Ok(n) if n < 26 => format!("xvd{}", (b'a' + n) as char),
        _ => String::new(),
    }
}

/// Detach-rejection simulation: while a device's other_config holds
/// `sim-detach-rejected` = N > 0, a clean unplug fails with
/// DEVICE_DETACH_REJECTED and N goes down by one, so clients' retry loops
/// can be exercised. A forced unplug is never rejected.
pub fn simulated_detach_rejection(db: &mut Db, kind: &str, r: &str) -> ApiResult<()> {
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

// --- VBDs -------------------------------------------------------------------

/// VBD operations listed in `allowed_operations`, in xapi's order.
const VBD_LISTED_OPS: &[&str] = &["attach", "insert", "eject", "plug", "unplug", "unplug_force"];
const VBD_ALL_OPS: &[&str] = &["attach", "eject", "insert", "plug", "unplug", "unplug_force", "pause", "unpause"];
const VBD_PLUG_OPS: &[&str] = &["plug", "unplug", "unplug_force"];

fn is_system_domain(db: &Db, vm: &str) -> bool {
    db.bool(vm, "is_control_domain") || db.map_get(vm, "other_config", "is_system_domain").as_deref() == Some("true")
}

/// The operation table of a VBD (xapi_vbd_helpers.valid_operations).
pub fn vbd_table(db: &Db, vbd: &str) -> ApiResult<OpTable> {
    let vm = db.string(vbd, "VM");
    db.expect_is(&vm, "VM")?;
    let mut t = OpTable::default();
    let cd = db.field_str(vbd, "type") == "CD";
    let empty = db.bool(vbd, "empty");
    if !db.bool(vbd, "unpluggable") {
        t.forbid(&["unplug", "unplug_force"], Failure::new("VBD_NOT_UNPLUGGABLE", [vbd]));
    }
    if !cd {
        t.forbid(&["insert", "eject"], Failure::new("VBD_NOT_REMOVABLE_MEDIA", [vbd]));
    }
    if empty {
        t.forbid(&["eject"], Failure::new("VBD_IS_EMPTY", [vbd]));
    } else {
        t.forbid(&["insert"], Failure::new("VBD_NOT_EMPTY", [vbd]));
    }
    let state = power(db, &vm);
    let plugged = db.bool(vbd, "currently_attached");
    match (state.as_str(), plugged) {
        ("running", true) => t.forbid(&["plug"], Failure::new("DEVICE_ALREADY_ATTACHED", [vbd])),
        ("running", false) => t.forbid(&["unplug", "unplug_force"], Failure::new("DEVICE_ALREADY_DETACHED", [vbd])),
        (actual, _) => {
            let ops: &'static [&'static str] =
                if actual == "paused" { VBD_PLUG_OPS } else { &["plug", "unplug", "unplug_force", "pause", "unpause"] };
            t.forbid(ops, Failure::new("VM_BAD_POWER_STATE", [vm.as_str(), "running", actual]));
        }
    }
    if state == "running" && is_hvm(db, &vm) {
        if let Some(f) = hotplug_refusal(db, &vm, "VBD") {
            t.forbid(VBD_PLUG_OPS, f);
        }
        if cd {
            let why = "HVM CDROMs cannot be hotplugged/unplugged, only inserted or ejected";
            t.forbid(VBD_PLUG_OPS, Failure::new("OPERATION_NOT_ALLOWED", [why]));
        }
    }
    if cd && state == "suspended" {
        t.forbid(
            &["insert", "eject"],
            Failure::new("VM_BAD_POWER_STATE", [vm.as_str(), "halted, running", "suspended"]),
        );
    }
    let vdi = db.string(vbd, "VDI");
    if !empty && db.is(&vdi, "VDI") {
        if !db.bool(&vdi, "managed") {
            t.forbid(VBD_ALL_OPS, Failure::new("VDI_NOT_MANAGED", [vbd]));
        }
        if !plugged {
            // Sharing: other domains using the disk, suspended VMs and the
            // control domain aside.
            let others: Vec<String> = db
                .strings(&vdi, "VBDs")
                .into_iter()
                .filter(|o| o != vbd && db.bool(o, "currently_attached"))
                .filter(|o| {
                    let ovm = db.field_str(o, "VM");
                    power(db, ovm) != "suspended" && !is_system_domain(db, ovm)
                })
                .collect();
            let rw = others.iter().any(|o| db.field_str(o, "mode") == "RW");
            let need_write = db.field_str(vbd, "mode") == "RW";
            if !db.bool(&vdi, "sharable") && !is_system_domain(db, &vm) && (rw || (need_write && !others.is_empty())) {
                t.forbid(&["attach", "insert", "plug"], Failure::new("VDI_IN_USE", [vdi.as_str()]));
            }
            if need_write && db.bool(&vdi, "read_only") {
                t.forbid(&["attach", "insert", "plug"], Failure::new("VDI_READONLY", [vdi.as_str()]));
            }
        }
    }
    Ok(t)
}

/// Recomputes a VBD's allowed operations.
pub fn refresh_vbd_ops(db: &mut Db, vbd: &str) {
    if let Ok(t) = vbd_table(db, vbd) {
        let ops = t.allowed(VBD_LISTED_OPS);
        db.set_named(vbd, "allowed_operations", ops);
    }
}

/// Marks a VBD plugged into (or unplugged from) its running VM: the guest
/// device name, the VDI's `host_<ref>` attachment mark in sm_config, and
/// the allowed operations of both. VM lifecycle code may call this too.
pub fn mark_vbd_attached(db: &mut Db, vbd: &str, attached: bool) {
    db.set_named(vbd, "currently_attached", Value::Bool(attached));
    if attached && db.field_str(vbd, "device").is_empty() {
        let dev = disk_device(db.field_str(vbd, "userdevice"));
        db.set_named(vbd, "device", Value::String(dev));
    }
    let vdi = db.string(vbd, "VDI");
    if db.is(&vdi, "VDI") {
        if db.field_str(vbd, "type") == "Disk" {
            let host = db.string(db.field_str(vbd, "VM"), "resident_on");
            if !is_null(&host) {
                let key = format!("host_{host}");
                let mode = db.string(vbd, "mode");
                db.map_put(&vdi, "sm_config", &key, attached.then_some(mode.as_str()));
            }
        }
        refresh_vdi_ops(db, &vdi);
    }
    refresh_vbd_ops(db, vbd);
}

/// Other spellings of a device: "1", "xvdb", "hdb" and "sdb" clash.
pub fn aliases(dev: &str) -> Vec<String> {
    let index = dev.parse::<u32>().ok().or_else(|| {
        let rest = dev.strip_prefix("xvd").or_else(|| dev.strip_prefix("hd")).or_else(|| dev.strip_prefix("sd"))?;
        let c = rest.chars().next()?;
        c.is_ascii_lowercase().then(|| u32::from(c) - u32::from('a'))
    });
    match index {
        Some(n) if n < 26 => {
            let l = char::from(b'a' + n as u8);
            vec![n.to_string(), format!("xvd{l}"), format!("hd{l}"), format!("sd{l}")]
        }
        Some(n) => vec![n.to_string()],
        None => vec![dev.to_string()],
    }
}

/// Every device name a VM's VBDs use, in all spellings.
pub fn used_devices(db: &Db, vm: &str) -> Vec<String> {
    let mut out = Vec::new();
    for vbd in db.strings(vm, "VBDs") {
        for d in [db.field_str(&vbd, "userdevice"), db.field_str(&vbd, "device")] {
            if !d.is_empty() {
                out.extend(aliases(d));
            }
        }
    }
    out
}

/// The userdevices still free on a VM: 0-15 for HVM guests, 0-254 for PV.
pub fn allowed_vbd_devices(db: &Db, vm: &str) -> Vec<String> {
    let max = if is_hvm(db, vm) { 15 } else { 254 };
    let used = used_devices(db, vm);
    (0..=max).map(|n: u32| n.to_string()).filter(|d| !used.contains(d)).collect()
}

// --- VIFs -------------------------------------------------------------------

/// VIF operations listed in `allowed_operations`.
const VIF_LISTED_OPS: &[&str] = &["attach", "plug", "unplug"];

/// The operation table of a VIF (xapi_vif_helpers.valid_operations).
pub fn vif_table(db: &Db, vif: &str) -> ApiResult<OpTable> {
    let vm = db.string(vif, "VM");
    db.expect_is(&vm, "VM")?;
    let mut t = OpTable::default();
    let power = power(db, &vm);
    match (power.as_str(), db.bool(vif, "currently_attached")) {
        ("running", true) => t.forbid(&["plug"], Failure::new("DEVICE_ALREADY_ATTACHED", [vif])),
        ("running", false) => t.forbid(&["unplug"], Failure::new("DEVICE_ALREADY_DETACHED", [vif])),
        (actual, _) => {
            t.forbid(&["plug", "unplug"], Failure::new("VM_BAD_POWER_STATE", [vm.as_str(), "running", actual]))
        }
    }
    if power == "running" && is_hvm(db, &vm) {
        if let Some(f) = hotplug_refusal(db, &vm, "VIF") {
            t.forbid(&["plug", "unplug"], f);
        }
    }
    Ok(t)
}

/// Recomputes a VIF's allowed operations.
pub fn refresh_vif_ops(db: &mut Db, vif: &str) {
    if let Ok(t) = vif_table(db, vif) {
        let ops = t.allowed(VIF_LISTED_OPS);
        db.set_named(vif, "allowed_operations", ops);
    }
}

/// Marks a VIF plugged into (or unplugged from) its running VM. VM
/// lifecycle code may call this too.
pub fn mark_vif_attached(db: &mut Db, vif: &str, attached: bool) {
    db.set_named(vif, "currently_attached", Value::Bool(attached));
    refresh_vif_ops(db, vif);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_clash_across_spellings() {
        assert_eq!(aliases("1"), vec!["1", "xvdb", "hdb", "sdb"]);
        assert_eq!(aliases("xvdc"), vec!["2", "xvdc", "hdc", "sdc"]);
        assert_eq!(disk_device("0"), "xvda");
        assert_eq!(disk_device("25"), "xvdz");
        assert_eq!(disk_device("26"), "");
    }
}
