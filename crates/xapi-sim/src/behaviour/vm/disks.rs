//! The devices a VM lifecycle touches: VBDs and VIFs plugged or unplugged with
//! the domain, disks cloned, copied or snapshotted with the VM, suspend
//! images, consoles, and the SR usage figures that follow every disk.

use super::{cls, get_b, get_i, get_map, get_s, get_set, now, null, set, smap, sset, valid};
use crate::db::{ApiResult, Db, Failure};
use crate::relations::RELATIONS;
use xenapi::{Value, NULL_REF};

const MIB: i64 = 1 << 20;

/// A disk that is in use cannot be destroyed; everything else is allowed (as the fixture has it).
const VDI_IDLE_OPS: &[&str] =
    &["clone", "copy", "destroy", "forget", "generate_config", "mirror", "resize", "snapshot", "update", "enable_cbt"];
const VDI_IN_USE_OPS: &[&str] =
    &["clone", "copy", "forget", "generate_config", "mirror", "snapshot", "update", "enable_cbt"];

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

/// The device name a userdevice number maps to (`0` → `xvda`).
fn device_name(userdevice: &str) -> String {
    match userdevice.parse::<u8>() {
        Ok(n) if n < 26 => format!("xvd{}", (b'a' + n) as char),
        _ => String::new(),
    }
}

fn vbd_ops(attached: bool, cd: bool, empty: bool) -> &'static [&'static str] {
    match (attached, cd, empty) {
        (true, false, _) => &["attach", "unplug", "unplug_force"],
        (_, true, true) => &["attach", "insert"],
        (_, true, false) => &["attach", "eject"],
        (false, false, _) => &["attach"],
    }
}

/// Whether a VDI is media on an ISO library or a drive, which attaching leaves alone.
fn is_media(db: &Db, vdi: &str) -> bool {
    let sr = get_s(db, vdi, "SR");
    valid(db, &sr, "SR") && get_s(db, &sr, "content_type") == "iso"
}

/// Whether any VBD other than `except` has the VDI attached.
fn vdi_attached_elsewhere(db: &Db, vdi: &str, except: &str) -> bool {
    get_set(db, vdi, "VBDs").iter().any(|v| v != except && get_b(db, v, "currently_attached"))
}

/// Sets a disk's per-host attach key and its allowed operations.
fn mark_vdi(db: &mut Db, vdi: &str, host: Option<&str>) {
    let mut sm = get_map(db, vdi, "sm_config");
    sm.retain(|(k, _)| !k.starts_with("host_"));
    if let Some(h) = host {
        sm.push((format!("host_{h}"), "RW".to_string()));
    }
    set(db, vdi, "sm_config", smap(&sm));
    set(db, vdi, "allowed_operations", sset(if host.is_some() { VDI_IN_USE_OPS } else { VDI_IDLE_OPS }));
}

/// Plugs the VM's VBDs and VIFs into a new domain on `host`.
pub(super) fn plug_all(db: &mut Db, vm: &str, host: &str) {
    for vbd in get_set(db, vm, "VBDs") {
        set(db, &vbd, "currently_attached", Value::Bool(true));
        if get_s(db, &vbd, "device").is_empty() {
            let name = device_name(db.field_str(&vbd, "userdevice"));
            set(db, &vbd, "device", Value::String(name));
        }
        let cd = get_s(db, &vbd, "type") == "CD";
        let vdi = get_s(db, &vbd, "VDI");
        let empty = get_b(db, &vbd, "empty") || !valid(db, &vdi, "VDI");
        set(db, &vbd, "allowed_operations", sset(vbd_ops(true, cd, empty)));
        if !empty && !cd && !is_media(db, &vdi) {
            mark_vdi(db, &vdi, Some(host));
        }
    }
    for vif in get_set(db, vm, "VIFs") {
        set(db, &vif, "currently_attached", Value::Bool(true));
        set(db, &vif, "allowed_operations", sset(&["attach", "unplug"]));
    }
}

/// Moves the per-host attach keys of a running VM's disks to `host`.
pub(super) fn move_all(db: &mut Db, vm: &str, host: &str) {
    for vbd in get_set(db, vm, "VBDs") {
        let vdi = get_s(db, &vbd, "VDI");
        let attached = get_b(db, &vbd, "currently_attached") && get_s(db, &vbd, "type") != "CD";
        if attached && valid(db, &vdi, "VDI") && !is_media(db, &vdi) {
            mark_vdi(db, &vdi, Some(host));
        }
    }
}

/// Unplugs everything when the domain goes away.
pub(super) fn unplug_all(db: &mut Db, vm: &str) {
    for vbd in get_set(db, vm, "VBDs") {
        set(db, &vbd, "currently_attached", Value::Bool(false));
        let cd = get_s(db, &vbd, "type") == "CD";
        let vdi = get_s(db, &vbd, "VDI");
        let empty = get_b(db, &vbd, "empty") || !valid(db, &vdi, "VDI");
        set(db, &vbd, "allowed_operations", sset(vbd_ops(false, cd, empty)));
        if !empty && !cd && !is_media(db, &vdi) && !vdi_attached_elsewhere(db, &vdi, &vbd) {
            mark_vdi(db, &vdi, None);
        }
    }
    for vif in get_set(db, vm, "VIFs") {
        set(db, &vif, "currently_attached", Value::Bool(false));
        set(db, &vif, "allowed_operations", sset(&["attach"]));
    }
}

// --- consoles --------------------------------------------------------------

/// Gives a new domain its RFB console on `host`.
pub(super) fn create_console(db: &mut Db, vm: &str, host: &str) {
    let uuid = db.new_uuid();
    let location = format!("https://{}/console?uuid={uuid}", db.field_str(host, "address"));
    let c = cls(db, "console");
    db.create(
        c,
        vec![
            ("uuid", Value::String(uuid)),
            ("protocol", Value::str("rfb")),
            ("location", Value::String(location)),
            ("VM", Value::str(vm)),
            ("other_config", smap::<&str, &str>(&[])),
        ],
    );
}

/// Points the VM's consoles at `host`.
pub(super) fn move_consoles(db: &mut Db, vm: &str, host: &str) {
    let address = get_s(db, host, "address");
    for con in get_set(db, vm, "consoles") {
        let uuid = get_s(db, &con, "uuid");
        set(db, &con, "location", Value::String(format!("https://{address}/console?uuid={uuid}")));
    }
}

pub(super) fn destroy_consoles(db: &mut Db, vm: &str) {
    for con in get_set(db, vm, "consoles") {
        db.destroy(&con);
    }
}

// --- disks -----------------------------------------------------------------

/// Whether an SR allocates disks in full up front (thick LVM).
fn thick(db: &Db, sr: &str) -> bool {
    let ty = get_s(db, sr, "type");
    matches!(ty.as_str(), "lvm" | "lvmoiscsi" | "lvmohba")
        && !get_map(db, sr, "sm_config").iter().any(|(k, v)| k == "allocation" && v == "thin")
}

/// The space a new disk takes on an SR: all of it on thick SRs, else `thin`.
pub(super) fn physical_for(db: &Db, sr: &str, virtual_size: i64, thin: i64) -> i64 {
    if thick(db, sr) {
        virtual_size
    } else {
        thin.min(virtual_size)
    }
}

/// Free space of an SR.
pub(super) fn sr_free(db: &Db, sr: &str) -> i64 {
    get_i(db, sr, "physical_size") - get_i(db, sr, "physical_utilisation")
}

/// Fails with SR_FULL unless each SR has room for what `needs` asks of it.
pub(super) fn assert_space(db: &Db, needs: &[(String, i64)]) -> ApiResult<()> {
    let mut per_sr: Vec<(String, i64)> = Vec::new();
    for (sr, n) in needs {
        match per_sr.iter_mut().find(|(s, _)| s == sr) {
            Some((_, t)) => *t += n,
            None => per_sr.push((sr.clone(), *n)),
        }
    }
    for (sr, n) in per_sr {
        let free = sr_free(db, &sr);
        if n > free {
            return Err(Failure::new("SR_FULL", [n.to_string(), free.max(0).to_string()]));
        }
    }
    Ok(())
}

/// Adds (or with `sign` -1 removes) a disk's sizes to its SR's totals.
fn account(db: &mut Db, vdi: &str, sign: i64) {
    let sr = get_s(db, vdi, "SR");
    if !valid(db, &sr, "SR") {
        return;
    }
    let virt = get_i(db, &sr, "virtual_allocation") + sign * get_i(db, vdi, "virtual_size");
    let phys = get_i(db, &sr, "physical_utilisation") + sign * get_i(db, vdi, "physical_utilisation");
    set(db, &sr, "virtual_allocation", Value::Int(virt.max(0)));
    set(db, &sr, "physical_utilisation", Value::Int(phys.max(0)));
}

/// A disk to create.
pub(super) struct NewVdi<'a> {
    pub sr: &'a str,
    pub label: &'a str,
    pub description: &'a str,
    pub ty: &'a str,
    pub virtual_size: i64,
    pub physical: i64,
    pub sm_config: Vec<(String, String)>,
}

/// Creates a disk, as the storage backend would, and counts it on its SR.
pub(super) fn create_vdi(db: &mut Db, d: NewVdi) -> String {
    let NewVdi { sr, label, description, ty, virtual_size, physical, sm_config } = d;
    let uuid = db.new_uuid();
    let mut sm = vec![("vdi_type".to_string(), "vhd".to_string())];
    sm.extend(sm_config);
    let c = cls(db, "VDI");
    let vdi = db.create(
        c,
        vec![
            ("uuid", Value::String(uuid.clone())),
            ("name_label", Value::str(label)),
            ("name_description", Value::str(description)),
            ("allowed_operations", sset(VDI_IDLE_OPS)),
            ("SR", Value::str(sr)),
            ("virtual_size", Value::Int(virtual_size)),
            ("physical_utilisation", Value::Int(physical)),
            ("type", Value::str(ty)),
            ("sharable", Value::Bool(false)),
            ("read_only", Value::Bool(false)),
            ("other_config", smap::<&str, &str>(&[])),
            ("location", Value::String(uuid)),
            ("managed", Value::Bool(true)),
            ("sm_config", smap(&sm)),
            ("on_boot", Value::str("persist")),
            ("parent", null()),
        ],
    );
    account(db, &vdi, 1);
    vdi
}

/// Destroys a disk and uncounts it.
pub(super) fn destroy_vdi(db: &mut Db, vdi: &str) {
    if !valid(db, vdi, "VDI") {
        return;
    }
    account(db, vdi, -1);
    for vbd in get_set(db, vdi, "VBDs") {
        // A VBD cannot point at a disk that is gone; empty it, as a CD drive would be.
        set(db, &vbd, "VDI", null());
        set(db, &vbd, "empty", Value::Bool(true));
    }
    db.destroy(vdi);
}

/// How a disk is duplicated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum DiskOp {
    /// A fast clone on the same SR.
    Clone,
    /// A full copy to an SR.
    Copy,
    /// A read-only point-in-time image.
    Snapshot,
}

/// Space a duplicate of `vdi` takes on `sr`.
pub(super) fn duplicate_size(db: &Db, vdi: &str, sr: &str, op: DiskOp) -> i64 {
    let virt = get_i(db, vdi, "virtual_size");
    let used = get_i(db, vdi, "physical_utilisation");
    match op {
        DiskOp::Copy => physical_for(db, sr, virt, used),
        DiskOp::Clone | DiskOp::Snapshot => physical_for(db, sr, virt, 8 * MIB),
    }
}

/// Duplicates a disk onto `sr` (its own SR for clones and snapshots).
pub(super) fn duplicate_vdi(db: &mut Db, vdi: &str, op: DiskOp, sr: Option<&str>) -> String {
    let sr = match (op, sr) {
        (DiskOp::Copy, Some(sr)) => sr.to_string(),
        _ => get_s(db, vdi, "SR"),
    };
    let uuid = db.new_uuid();
    let mut sm = get_map(db, vdi, "sm_config");
    sm.retain(|(k, _)| !k.starts_with("host_"));
    let physical = duplicate_size(db, vdi, &sr, op);
    let snapshot = op == DiskOp::Snapshot;
    let time = if snapshot { now(db) } else { Value::DateTime(xenapi::datetime::EPOCH.to_string()) };
    let new = copy_object(
        db,
        vdi,
        vec![
            ("uuid", Value::String(uuid.clone())),
            ("location", Value::String(uuid)),
            ("SR", Value::String(sr)),
            ("allowed_operations", sset(VDI_IDLE_OPS)),
            ("physical_utilisation", Value::Int(physical)),
            ("sm_config", smap(&sm)),
            ("is_a_snapshot", Value::Bool(snapshot)),
            ("snapshot_of", if snapshot { Value::str(vdi) } else { null() }),
            ("snapshot_time", time),
            ("parent", null()),
            ("storage_lock", Value::Bool(false)),
            ("managed", Value::Bool(true)),
            ("missing", Value::Bool(false)),
            ("is_tools_iso", Value::Bool(false)),
            ("metadata_of_pool", null()),
        ],
    );
    account(db, &new, 1);
    new
}

/// Copies a VBD to `vm` with `vdi` behind it, unplugged.
pub(super) fn copy_vbd(db: &mut Db, vbd: &str, vm: &str, vdi: &str) -> String {
    let cd = get_s(db, vbd, "type") == "CD";
    let empty = vdi == NULL_REF;
    let mut other = get_map(db, vbd, "other_config");
    if !cd && !other.iter().any(|(k, _)| k == "owner") {
        // CA-58405: the new VM owns its new disks, whoever owned the originals.
        other.push(("owner".to_string(), String::new()));
    }
    copy_object(
        db,
        vbd,
        vec![
            ("VM", Value::str(vm)),
            ("VDI", Value::str(vdi)),
            ("empty", Value::Bool(empty)),
            ("currently_attached", Value::Bool(false)),
            ("allowed_operations", sset(vbd_ops(false, cd, empty))),
            ("other_config", smap(&other)),
            ("status_code", Value::Int(0)),
            ("status_detail", Value::str("")),
            ("runtime_properties", smap::<&str, &str>(&[])),
            ("metrics", null()),
            ("storage_lock", Value::Bool(false)),
        ],
    )
}

/// A locally administered unicast MAC no VIF uses yet.
pub(super) fn fresh_mac(db: &mut Db) -> String {
    let vif_c = cls(db, "VIF");
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
        if keep_mac { (get_s(db, vif, "MAC"), get_b(db, vif, "MAC_autogenerated")) } else { (fresh_mac(db), true) };
    copy_object(
        db,
        vif,
        vec![
            ("VM", Value::str(vm)),
            ("MAC", Value::String(mac)),
            ("MAC_autogenerated", Value::Bool(auto)),
            ("currently_attached", Value::Bool(false)),
            ("allowed_operations", sset(&["attach"])),
            ("status_code", Value::Int(0)),
            ("status_detail", Value::str("")),
            ("runtime_properties", smap::<&str, &str>(&[])),
            ("metrics", null()),
        ],
    )
}

/// Destroys a VBD or VIF (its disk or network stays).
pub(super) fn destroy_device(db: &mut Db, r: &str) {
    db.destroy(r);
}
