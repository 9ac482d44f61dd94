//! `VBD.*`: block devices of VMs. The checks follow xapi's VBD operation
//! table (xapi_vbd_helpers.valid_operations, in [`crate::rules::devices`]):
//! the first failure listing an operation is the one a call gets, and
//! `allowed_operations` is what none forbids.

use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::record::parse_record;
use crate::rules::devices::{
    aliases, allowed_vbd_devices, mark_vbd_attached, power, refresh_vbd_ops, simulated_detach_rejection, used_devices,
    vbd_table,
};
use crate::rules::storage::refresh_vdi_ops;
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

/// VDI types a VBD may attach.
const ATTACHABLE_TYPES: &[&str] = &["system", "user", "ephemeral", "suspend", "crashdump", "metadata"];

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
    vbd_table(db, vbd)?.check("plug")?;
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
    vbd_table(db, vbd)?.check(if force { "unplug_force" } else { "unplug" })?;
    if !force {
        simulated_detach_rejection(db, "VBD", vbd)?;
    }
    mark_vbd_attached(db, vbd, false);
    Ok(Value::str(""))
}

fn insert(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let (vbd, vdi) = (call.str(0), call.str(1));
    db.expect_is(vbd, "VBD")?;
    vbd_table(db, vbd)?.check("insert")?;
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
    vbd_table(db, vbd)?.check("eject")?;
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
    vbd_table(db, vbd)?.check("attach")?;
    Ok(Value::str(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_numbers_or_linux_disk_names() {
        assert!(valid_device("autodetect", "Disk"));
        assert!(valid_device("xvda1", "Disk"));
        assert!(valid_device("7", "CD"));
        assert!(!valid_device("7", "Floppy"));
        assert!(!valid_device("disk0", "Disk"));
        assert!(!valid_device("xvdz", "Disk"));
    }
}
