//! The devices a VM lifecycle touches: VBDs and VIFs plugged or unplugged with
//! the domain (through the device rules' own bookkeeping),
//! devices copied with the VM, consoles, and the disks made through the
//! storage API.

use crate::call::Call;
use crate::db::{ApiResult, Db};
use crate::relations::RELATIONS;
use crate::rules::devices::{mark_vbd_attached, mark_vif_attached, refresh_vbd_ops, refresh_vif_ops};
use crate::rules::sm::{alloc_of, leaf_size, round_virtual};
use crate::values::{empty_map, null, smap};
use xenapi::{Value, NULL_REF};

/// Copies an object: same fields, fresh uuid, empty relation sets and current
/// operations, then `overrides`. Returns the new ref.
pub(super) fn copy_object(db: &mut Db, src: &str, overrides: Vec<(&str, Value)>) -> String {
    let Some((c, o)) = db.get(src) else {
        return NULL_REF.to_string();
    };
    let mut fields = o.fields.clone();
    let class = db.class(c);
    for rel in RELATIONS.iter().filter(|r| r.set_class == class.name()) {
        if let Some(p) = class.field_pos(rel.set_field) {
            fields[p] = Value::Array(Vec::new());
        }
    }
    for (name, v) in [("uuid", Value::str("")), ("current_operations", Value::Struct(Vec::new()))] {
        if let Some(p) = class.field_pos(name) {
            fields[p] = v;
        }
    }
    for (name, v) in overrides {
        if let Some(p) = class.field_pos(name) {
            fields[p] = v;
        }
    }
    let r = db.new_ref();
    db.insert(c, r, fields)
}

// --- plugging -------------------------------------------------------------------

/// Plugs the VM's VBDs and VIFs into its new domain (the VM is already
/// resident on its host, so disks get their `host_<ref>` mark).
pub(super) fn plug_all(db: &mut Db, vm: &str) {
    for vbd in db.strings(vm, "VBDs") {
        mark_vbd_attached(db, &vbd, true);
    }
    for vif in db.strings(vm, "VIFs") {
        mark_vif_attached(db, &vif, true);
    }
}

/// Unplugs everything when the domain goes away (call while the VM is still
/// resident, so the disks' host marks can be found and removed).
pub(super) fn unplug_all(db: &mut Db, vm: &str) {
    for vbd in db.strings(vm, "VBDs") {
        mark_vbd_attached(db, &vbd, false);
    }
    for vif in db.strings(vm, "VIFs") {
        mark_vif_attached(db, &vif, false);
    }
}

/// Refreshes the devices' allowed operations after the VM's state changed.
pub(super) fn refresh_devices(db: &mut Db, vm: &str) {
    for vbd in db.strings(vm, "VBDs") {
        refresh_vbd_ops(db, &vbd);
    }
    for vif in db.strings(vm, "VIFs") {
        refresh_vif_ops(db, &vif);
    }
}

// --- consoles --------------------------------------------------------------

/// Gives a new domain its RFB console on `host`.
pub(super) fn create_console(db: &mut Db, vm: &str, host: &str) {
    let uuid = db.new_uuid();
    let location = format!("https://{}/console?uuid={uuid}", db.field_str(host, "address"));
    let c = db.cls("console");
    db.create(
        c,
        vec![
            ("uuid", Value::String(uuid)),
            ("protocol", Value::str("rfb")),
            ("location", Value::String(location)),
            ("VM", Value::str(vm)),
            ("other_config", empty_map()),
        ],
    );
}

/// Points the VM's consoles at `host`.
pub(super) fn move_consoles(db: &mut Db, vm: &str, host: &str) {
    let address = db.string(host, "address");
    for con in db.strings(vm, "consoles") {
        let uuid = db.string(&con, "uuid");
        db.set_named(&con, "location", Value::String(format!("https://{address}/console?uuid={uuid}")));
    }
}

pub(super) fn destroy_consoles(db: &mut Db, vm: &str) {
    for con in db.strings(vm, "consoles") {
        db.destroy(&con);
    }
}

// --- disks -----------------------------------------------------------------

/// Space a new disk of `size` bytes takes on `sr`, as its driver allocates it.
pub(super) fn new_disk_size(db: &Db, sr: &str, size: i64) -> i64 {
    let alloc = alloc_of(db, sr);
    leaf_size(alloc, round_virtual(alloc, size))
}

/// Free space of an SR.
pub(super) fn sr_free(db: &Db, sr: &str) -> i64 {
    db.int(sr, "physical_size") - db.int(sr, "physical_utilisation")
}

/// What a VDI.create record needs besides its SR, size, type and names.
pub(super) fn vdi_record(
    sr: &str,
    label: &str,
    description: &str,
    ty: &str,
    size: i64,
    sm_config: &[(&str, &str)],
) -> Value {
    Value::Struct(vec![
        ("name_label".into(), Value::str(label)),
        ("name_description".into(), Value::str(description)),
        ("SR".into(), Value::str(sr)),
        ("virtual_size".into(), Value::Int(size)),
        ("type".into(), Value::str(ty)),
        ("sharable".into(), Value::Bool(false)),
        ("read_only".into(), Value::Bool(false)),
        ("other_config".into(), Value::Struct(Vec::new())),
        ("xenstore_data".into(), Value::Struct(Vec::new())),
        ("sm_config".into(), smap(sm_config)),
        ("tags".into(), Value::Array(Vec::new())),
    ])
}

/// Creates a disk through the storage API.
pub(super) async fn create_vdi(call: &Call, record: Value) -> ApiResult<String> {
    let v = call.api("VDI.create", vec![record]).await?;
    Ok(v.as_str().unwrap_or(NULL_REF).to_string())
}

/// How a disk is duplicated, by the VDI call xapi makes for it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum DiskOp {
    Clone,
    Copy,
    Snapshot,
}

/// Duplicates a disk through the storage API (copies go to `sr`, or the disk's own SR).
pub(super) async fn duplicate_vdi(call: &Call, vdi: &str, op: DiskOp, sr: Option<&str>) -> ApiResult<String> {
    let v = match op {
        DiskOp::Clone => call.api("VDI.clone", vec![Value::str(vdi), Value::Struct(Vec::new())]).await?,
        DiskOp::Snapshot => call.api("VDI.snapshot", vec![Value::str(vdi), Value::Struct(Vec::new())]).await?,
        DiskOp::Copy => {
            let sr = match sr {
                Some(s) => s.to_string(),
                None => call.core.db.read().string(vdi, "SR"),
            };
            call.api("VDI.copy", vec![Value::str(vdi), Value::String(sr), null(), null()]).await?
        }
    };
    Ok(v.as_str().unwrap_or(NULL_REF).to_string())
}

// --- device copies ------------------------------------------------------------

/// Copies a VBD to `vm` with `vdi` behind it, unplugged.
pub(super) fn copy_vbd(db: &mut Db, vbd: &str, vm: &str, vdi: &str) -> String {
    let cd = db.string(vbd, "type") == "CD";
    let empty = vdi == NULL_REF;
    let mut other = db.string_map(vbd, "other_config");
    if !cd && !other.iter().any(|(k, _)| k == "owner") {
        // CA-58405: the new VM owns its new disks, whoever owned the originals.
        other.push(("owner".to_string(), String::new()));
    }
    let new = copy_object(
        db,
        vbd,
        vec![
            ("VM", Value::str(vm)),
            ("VDI", Value::str(vdi)),
            ("empty", Value::Bool(empty)),
            ("currently_attached", Value::Bool(false)),
            ("other_config", smap(&other)),
            ("status_code", Value::Int(0)),
            ("status_detail", Value::str("")),
            ("runtime_properties", empty_map()),
            ("metrics", null()),
            ("storage_lock", Value::Bool(false)),
        ],
    );
    refresh_vbd_ops(db, &new);
    new
}

/// A locally administered unicast MAC no VIF uses yet.
pub(super) fn fresh_mac(db: &mut Db) -> String {
    let vif_c = db.cls("VIF");
    loop {
        let hex: String = db.new_uuid().chars().filter(char::is_ascii_hexdigit).take(12).collect();
        let first = u8::from_str_radix(&hex[0..2], 16).unwrap_or(0);
        let mac = format!(
            "{:02x}:{}:{}:{}:{}:{}",
            (first & 0xfc) | 0x02,
            &hex[2..4],
            &hex[4..6],
            &hex[6..8],
            &hex[8..10],
            &hex[10..12]
        );
        if !db.iter(vif_c).any(|(r, _)| db.field_str(r, "MAC") == mac) {
            return mac;
        }
    }
}

/// Copies a VIF to `vm`, keeping the MAC for snapshots and making a new one otherwise.
pub(super) fn copy_vif(db: &mut Db, vif: &str, vm: &str, keep_mac: bool) -> String {
    let (mac, auto) =
        if keep_mac { (db.string(vif, "MAC"), db.bool(vif, "MAC_autogenerated")) } else { (fresh_mac(db), true) };
    let new = copy_object(
        db,
        vif,
        vec![
            ("VM", Value::str(vm)),
            ("MAC", Value::String(mac)),
            ("MAC_autogenerated", Value::Bool(auto)),
            ("currently_attached", Value::Bool(false)),
            ("status_code", Value::Int(0)),
            ("status_detail", Value::str("")),
            ("runtime_properties", empty_map()),
            ("metrics", null()),
        ],
    );
    refresh_vif_ops(db, &new);
    new
}

/// The disks behind a VM's VBDs (not CD media).
pub(super) fn owned_disks(db: &Db, vm: &str) -> Vec<String> {
    db.strings(vm, "VBDs")
        .iter()
        .filter(|vbd| db.string(vbd, "type") != "CD" && !db.bool(vbd, "empty"))
        .map(|vbd| db.string(vbd, "VDI"))
        .filter(|vdi| db.is(vdi, "VDI"))
        .collect()
}
