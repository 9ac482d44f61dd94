//! Storage rules: the operations SRs and VDIs allow (what the SR's driver
//! supports, whether it is plugged, whether a disk is in use), SR usage
//! recomputed from its VDIs, and free space.

use crate::db::{ApiResult, Db, Failure};
use crate::values::sset;
use xenapi::Value;

/// SR operations of disk SRs, as xapi lists them for the VHD drivers.
pub const SR_DISK_OPS: &[&str] = &[
    "vdi_enable_cbt",
    "vdi_list_changed_blocks",
    "unplug",
    "plug",
    "pbd_create",
    "vdi_disable_cbt",
    "update",
    "pbd_destroy",
    "vdi_resize",
    "vdi_clone",
    "vdi_data_destroy",
    "scan",
    "vdi_snapshot",
    "vdi_mirror",
    "vdi_create",
    "vdi_destroy",
    "vdi_set_on_boot",
];
pub const SR_ISO_OPS: &[&str] = &["unplug", "plug", "pbd_create", "update", "pbd_destroy", "scan", "vdi_introduce"];
pub const SR_UDEV_OPS: &[&str] = &["unplug", "plug", "pbd_create", "pbd_destroy", "scan"];

pub const VDI_IDLE_OPS: &[&str] =
    &["clone", "copy", "destroy", "forget", "generate_config", "mirror", "resize", "snapshot", "update", "enable_cbt"];
pub const VDI_IN_USE_OPS: &[&str] =
    &["clone", "copy", "forget", "generate_config", "mirror", "snapshot", "update", "enable_cbt"];
/// Operations on a VDI in an ISO library.
pub const VDI_ISO_OPS: &[&str] = &["copy", "destroy", "forget", "update"];

/// Whether any PBD of the SR is plugged.
pub fn sr_attached(db: &Db, sr: &str) -> bool {
    db.strings(sr, "PBDs").iter().any(|p| db.bool(p, "currently_attached"))
}

/// xapi's `Sm.assert_pbd_is_plugged`.
pub fn assert_sr_plugged(db: &Db, sr: &str) -> ApiResult<()> {
    if sr_attached(db, sr) {
        Ok(())
    } else {
        Err(Failure::new("SR_HAS_NO_PBDS", [sr]))
    }
}

/// Checks that the SR's driver supports an operation (its allowed_operations).
pub fn sr_allows(db: &Db, sr: &str, op: &str) -> ApiResult<()> {
    let ops = db.strings(sr, "allowed_operations");
    if ops.iter().any(|o| o == op) {
        Ok(())
    } else {
        Err(Failure::new("SR_OPERATION_NOT_SUPPORTED", [sr]))
    }
}

/// Recomputes an SR's allowed operations: what its driver supports, plus
/// forget/destroy when no PBD is plugged (destroy also needs PBDs and no disks).
pub fn refresh_sr_ops(db: &mut Db, sr: &str) {
    let base = match db.field_str(sr, "type") {
        "iso" => SR_ISO_OPS,
        "udev" => SR_UDEV_OPS,
        _ => SR_DISK_OPS,
    };
    let mut ops: Vec<&str> = base.to_vec();
    // The dummy driver can also take in VDIs it did not create.
    if db.field_str(sr, "type") == "dummy" {
        ops.push("vdi_introduce");
    }
    if !sr_attached(db, sr) {
        ops.push("forget");
        let pbds = !db.strings(sr, "PBDs").is_empty();
        let managed = db.strings(sr, "VDIs").iter().any(|v| db.bool(v, "managed"));
        if pbds && !managed {
            ops.push("destroy");
        }
    }
    db.set_named(sr, "allowed_operations", sset(&ops));
}

/// Recomputes an SR's usage from its VDIs: every VDI's physical size, and
/// the virtual sizes of the managed (visible) ones. Unscanned SRs are left alone.
pub fn refresh_sr_usage(db: &mut Db, sr: &str) {
    let size = db.int(sr, "physical_size");
    if size < 0 {
        return;
    }
    let (mut phys, mut virt) = (0i64, 0i64);
    for v in db.strings(sr, "VDIs") {
        phys += db.int(&v, "physical_utilisation");
        if db.bool(&v, "managed") {
            virt += db.int(&v, "virtual_size");
        }
    }
    db.set_named(sr, "physical_utilisation", Value::Int(phys));
    db.set_named(sr, "virtual_allocation", Value::Int(virt));
    // Removable media SRs are as big as what is in them.
    if db.field_str(sr, "type") == "udev" && size < phys {
        db.set_named(sr, "physical_size", Value::Int(phys));
    }
}

/// Sets a disk's `physical_utilisation` after a write left `blocks` blocks
/// of its own (not shared with its VHD parent), and its SR's usage.
pub fn record_written(db: &mut Db, vdi: &str, blocks: u64) {
    let sr = db.string(vdi, "SR");
    let alloc = crate::rules::sm::alloc_of(db, &sr);
    let phys = crate::rules::sm::written_size(alloc, db.int(vdi, "virtual_size"), blocks as i64);
    db.set_named(vdi, "physical_utilisation", Value::Int(phys));
    refresh_sr_usage(db, &sr);
}

/// Fails with SR_FULL when `extra` more bytes do not fit in the SR.
pub fn ensure_space(db: &Db, sr: &str, extra: i64) -> ApiResult<()> {
    let size = db.int(sr, "physical_size");
    let used = db.int(sr, "physical_utilisation").max(0);
    if extra > 0 && size >= 0 && used + extra > size {
        return Err(Failure::new("SR_FULL", [(used + extra).to_string(), size.to_string()]));
    }
    Ok(())
}

/// The VBDs of a VDI that are plugged (or reserved) into a domain.
pub fn active_vbds(db: &Db, vdi: &str) -> Vec<String> {
    db.strings(vdi, "VBDs").into_iter().filter(|b| db.bool(b, "currently_attached")).collect()
}

/// Recomputes a VDI's allowed operations from its SR and its use.
pub fn refresh_vdi_ops(db: &mut Db, vdi: &str) {
    let sr = db.string(vdi, "SR");
    let mut ops: Vec<&str> = if !db.bool(vdi, "managed") {
        Vec::new()
    } else if db.bool(&sr, "is_tools_sr") {
        vec!["copy"]
    } else {
        match db.field_str(&sr, "type") {
            "udev" => vec!["forget", "update"],
            "iso" => VDI_ISO_OPS.to_vec(),
            _ if !active_vbds(db, vdi).is_empty() => VDI_IN_USE_OPS.to_vec(),
            _ => VDI_IDLE_OPS.to_vec(),
        }
    };
    if db.bool(vdi, "sharable") || db.field_str(vdi, "on_boot") == "reset" {
        ops.retain(|o| *o != "snapshot");
    }
    // What the SR's driver cannot do is not allowed on its disks either.
    let sr_ops = db.strings(&sr, "allowed_operations");
    let supported = |op: &str| sr_ops.iter().any(|o| o == op);
    ops.retain(|o| match *o {
        "clone" => supported("vdi_clone"),
        "snapshot" => supported("vdi_snapshot"),
        "destroy" => supported("vdi_destroy"),
        "resize" => supported("vdi_resize"),
        _ => true,
    });
    db.set_named(vdi, "allowed_operations", sset(&ops));
}
