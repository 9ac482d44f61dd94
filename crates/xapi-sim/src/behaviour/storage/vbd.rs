//! `VBD.*`: block devices of VMs. The checks follow xapi's VBD operation
//! table (xapi_vbd_helpers.valid_operations): the first failure listing an
//! operation is the one a call gets, and `allowed_operations` is what none
//! forbids.

use super::common::*;
use super::refresh_vdi_ops;
use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::record::parse_record;
use crate::values::is_null;
use std::collections::HashMap;
use xenapi::{Value, NULL_REF};

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("VBD.create", Handler::Sync(create));
    t.insert("VBD.destroy", Handler::Sync(destroy));
    t.insert("VBD.plug", Handler::Sync(plug));
    t.insert("VBD.unplug", Handler::Sync(|c, db| unplug(c, db, false)));
    t.insert("VBD.unplug_force", Handler::Sync(|c, db| unplug(c, db, true)));
    t.insert("VBD.insert", Handler::Sync(insert));
    t.insert("VBD.eject", Handler::Sync(eject));
    t.insert("VBD.set_mode", Handler::Sync(set_mode));
    t.insert("VBD.assert_attachable", Handler::Sync(assert_attachable));
}

/// Operations listed in `allowed_operations`, in xapi's order.
const LISTED_OPS: &[&str] = &["attach", "insert", "eject", "plug", "unplug", "unplug_force"];
const ALL_OPS: &[&str] = &["attach", "eject", "insert", "plug", "unplug", "unplug_force", "pause", "unpause"];
const PLUG_OPS: &[&str] = &["plug", "unplug", "unplug_force"];
/// VDI types a VBD may attach.
const ATTACHABLE_TYPES: &[&str] = &["system", "user", "ephemeral", "suspend", "crashdump", "metadata"];

fn is_system_domain(db: &Db, vm: &str) -> bool {
    db.bool(vm, "is_control_domain") || db.map_get(vm, "other_config", "is_system_domain").as_deref() == Some("true")
}

/// The operation table of a VBD.
pub(crate) fn table(db: &Db, vbd: &str) -> ApiResult<OpTable> {
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
                if actual == "paused" { PLUG_OPS } else { &["plug", "unplug", "unplug_force", "pause", "unpause"] };
            t.forbid(ops, Failure::new("VM_BAD_POWER_STATE", [vm.as_str(), "running", actual]));
        }
    }
    if state == "running" && is_hvm(db, &vm) {
        if let Some(f) = hotplug_refusal(db, &vm, "VBD") {
            t.forbid(PLUG_OPS, f);
        }
        if cd {
            let why = "HVM CDROMs cannot be hotplugged/unplugged, only inserted or ejected";
            t.forbid(PLUG_OPS, Failure::new("OPERATION_NOT_ALLOWED", [why]));
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
            t.forbid(ALL_OPS, Failure::new("VDI_NOT_MANAGED", [vbd]));
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
pub(crate) fn refresh_vbd_ops(db: &mut Db, vbd: &str) {
    if let Ok(t) = table(db, vbd) {
        let ops = t.allowed(LISTED_OPS);
        db.set_named(vbd, "allowed_operations", ops);
    }
}

/// Marks a VBD plugged into (or unplugged from) its running VM: the guest
/// device name, the VDI's `host_<ref>` attachment mark in sm_config, and
/// the allowed operations of both. VM lifecycle code may call this too.
pub(crate) fn mark_vbd_attached(db: &mut Db, vbd: &str, attached: bool) {
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
fn aliases(dev: &str) -> Vec<String> {
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
fn used_devices(db: &Db, vm: &str) -> Vec<String> {
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
pub(crate) fn allowed_vbd_devices(db: &Db, vm: &str) -> Vec<String> {
    let max = if is_hvm(db, vm) { 15 } else { 254 };
    let used = used_devices(db, vm);
    (0..=max).map(|n: u32| n.to_string()).filter(|d| !used.contains(d)).collect()
}

/// xapi's valid_device: a number, a Linux disk name, or "autodetect".
fn valid_device(dev: &str, ty: &str) -> bool {
    if dev == "autodetect" {
        return true;
    }
    let named = |prefix: &str, last: char| {
        dev.strip_prefix(prefix).is_some_and(|rest| {
            let mut cs = rest.chars();
            cs.next().is_some_and(|c| ('a'..=last).contains(&c)) && cs.all(|c| c.is_ascii_digit())
        })
    };
    if named("sd", 'p') || named("xvd", 'p') || named("hd", 'p') || named("fd", 'b') {
        return true;
    }
    ty != "Floppy" && dev.parse::<u32>().is_ok()
}

fn create(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let mut rec = parse_record(db, db.cls("VBD"), &call.args[0])?;
    let vm = rec.str("VM").to_string();
    db.expect_is(&vm, "VM")?;
    let vdi = rec.str("VDI").to_string();
    let empty = rec.bool("empty");
    let ty = rec.str("type").to_string();
    let mode = rec.str("mode").to_string();
    if !empty {
        db.expect_is(&vdi, "VDI")?;
        let vdi_type = db.string(&vdi, "type");
        if !ATTACHABLE_TYPES.contains(&vdi_type.as_str()) {
            return Err(Failure::new("VDI_INCOMPATIBLE_TYPE", [vdi.clone(), vdi_type]));
        }
    }
    if ty == "CD" && mode != "RO" {
        return Err(Failure::new::<&str>("VBD_CDS_MUST_BE_READONLY", []));
    }
    if ty != "CD" && empty {
        return Err(Failure::new("VBD_NOT_REMOVABLE_MEDIA", ["in constructor"]));
    }
    if ty == "CD" && !empty {
        let ct = db.string(db.field_str(&vdi, "SR"), "content_type");
        if ct != "iso" {
            return Err(Failure::new("VDI_IS_NOT_ISO", [vdi.clone(), ct]));
        }
    }
    if mode == "RW" && !empty && db.bool(&vdi, "read_only") {
        return Err(Failure::new("VDI_READONLY", [vdi.as_str()]));
    }
    let requested = rec.str("userdevice").to_string();
    let free = allowed_vbd_devices(db, &vm);
    if !valid_device(&requested, &ty) || (requested == "autodetect" && free.is_empty()) {
        return Err(Failure::new("INVALID_DEVICE", [requested]));
    }
    let userdevice = if requested == "autodetect" { free[0].clone() } else { requested };
    let used = used_devices(db, &vm);
    if aliases(&userdevice).iter().any(|d| used.contains(d)) {
        return Err(Failure::new("DEVICE_ALREADY_EXISTS", [userdevice]));
    }
    rec.set("userdevice", Value::str(&userdevice))
        .set("device", Value::str(""))
        .set("currently_attached", Value::Bool(false))
        .set("storage_lock", Value::Bool(false))
        .set("status_code", Value::Int(0))
        .set("status_detail", Value::str(""))
        .set("metrics", Value::str(NULL_REF));
    let vbd = rec.insert(db);
    refresh_vbd_ops(db, &vbd);
    Ok(Value::String(vbd))
}

fn destroy(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vbd = call.str(0);
    db.expect_is(vbd, "VBD")?;
    if db.bool(vbd, "currently_attached") {
        let vm = db.string(vbd, "VM");
        let why = format!("VBD '{}' still attached to '{}'", db.string(vbd, "uuid"), db.string(&vm, "uuid"));
        return Err(Failure::new("OPERATION_NOT_ALLOWED", [why]));
    }
    db.destroy(vbd);
    Ok(Value::str(""))
}

fn plug(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vbd = call.str(0);
    db.expect_is(vbd, "VBD")?;
    table(db, vbd)?.check("plug")?;
    let vdi = db.string(vbd, "VDI");
    if !db.bool(vbd, "empty") && db.is(&vdi, "VDI") {
        // The disk's SR must be reachable from the VM's host.
        let sr = db.string(&vdi, "SR");
        let host = db.string(db.field_str(vbd, "VM"), "resident_on");
        let reachable =
            db.strings(&sr, "PBDs").iter().any(|p| db.field_str(p, "host") == host && db.bool(p, "currently_attached"));
        if !reachable {
            return Err(Failure::new("SR_NOT_ATTACHED", [sr]));
        }
    }
    mark_vbd_attached(db, vbd, true);
    Ok(Value::str(""))
}

fn unplug(call: &Call, db: &mut Db, force: bool) -> ApiResult<Value> {
    let vbd = call.str(0);
    db.expect_is(vbd, "VBD")?;
    table(db, vbd)?.check(if force { "unplug_force" } else { "unplug" })?;
    if !force {
        simulated_detach_rejection(db, "VBD", vbd)?;
    }
    mark_vbd_attached(db, vbd, false);
    Ok(Value::str(""))
}

fn insert(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let (vbd, vdi) = (call.str(0), call.str(1));
    db.expect_is(vbd, "VBD")?;
    table(db, vbd)?.check("insert")?;
    db.expect_is(vdi, "VDI")?;
    let ct = db.string(db.field_str(vdi, "SR"), "content_type");
    if ct != "iso" {
        return Err(Failure::new("VDI_IS_NOT_ISO", [vdi.to_string(), ct]));
    }
    if !db.bool(vdi, "managed") {
        return Err(Failure::new("VDI_NOT_MANAGED", [vdi]));
    }
    db.set_named(vbd, "VDI", Value::str(vdi));
    db.set_named(vbd, "empty", Value::Bool(false));
    refresh_vbd_ops(db, vbd);
    refresh_vdi_ops(db, vdi);
    Ok(Value::str(""))
}

fn eject(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vbd = call.str(0);
    db.expect_is(vbd, "VBD")?;
    table(db, vbd)?.check("eject")?;
    let vdi = db.string(vbd, "VDI");
    db.set_named(vbd, "VDI", Value::str(NULL_REF));
    db.set_named(vbd, "empty", Value::Bool(true));
    refresh_vbd_ops(db, vbd);
    if db.is(&vdi, "VDI") {
        refresh_vdi_ops(db, &vdi);
    }
    Ok(Value::str(""))
}

fn set_mode(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vbd = call.str(0);
    db.expect_is(vbd, "VBD")?;
    let vm = db.string(vbd, "VM");
    let p = power(db, &vm);
    if p != "halted" {
        return Err(Failure::new("VM_BAD_POWER_STATE", [vm.as_str(), "halted", p.as_str()]));
    }
    db.set_named(vbd, "mode", call.args[1].clone());
    refresh_vbd_ops(db, vbd);
    Ok(Value::str(""))
}

fn assert_attachable(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vbd = call.str(0);
    db.expect_is(vbd, "VBD")?;
    table(db, vbd)?.check("attach")?;
    Ok(Value::str(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_clash_across_spellings() {
        assert_eq!(aliases("1"), vec!["1", "xvdb", "hdb", "sdb"]);
        assert_eq!(aliases("xvdc"), vec!["2", "xvdc", "hdc", "sdc"]);
        assert!(valid_device("autodetect", "Disk"));
        assert!(valid_device("xvda1", "Disk"));
        assert!(valid_device("7", "CD"));
        assert!(!valid_device("7", "Floppy"));
        assert!(!valid_device("disk0", "Disk"));
        assert!(!valid_device("xvdz", "Disk"));
    }
}
