//! VMs made from VMs: clone, copy, snapshot, checkpoint, revert; templates
//! provisioned into VMs; creation and destruction of VM records.

use super::disks::{self, DiskOp};
use super::power::{ensure_metrics, suspend_image_size, suspend_sr, write_suspend_image};
use super::{
    cls, expect_vm, get_b, get_map, get_s, get_set, now, null, run_op, set, smap, sset, update_allowed_operations,
    valid, void, Handler, CHECKPOINT_SECS, CLONE_SECS, COPY_SECS, PROVISION_SECS, REVERT_SECS, SNAPSHOT_SECS,
};
use crate::behaviour::BoxFuture;
use crate::db::{ApiResult, Db, Failure};
use crate::rpc::Call;
use std::collections::HashMap;
use xenapi::{Value, NULL_REF};

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("VM.clone", Handler::Async(|c| Box::pin(async move { duplicate(&c, Kind::Clone).await })));
    t.insert("VM.copy", Handler::Async(|c| Box::pin(async move { duplicate(&c, Kind::Copy).await })));
    t.insert("VM.snapshot", Handler::Async(|c| Box::pin(async move { duplicate(&c, Kind::Snapshot).await })));
    t.insert("VM.checkpoint", Handler::Async(|c| Box::pin(async move { duplicate(&c, Kind::Checkpoint).await })));
    t.insert("VM.revert", Handler::Async(revert));
    t.insert("VM.provision", Handler::Async(provision));
    t.insert("VM.create", Handler::Async(create));
    t.insert("VM.destroy", Handler::Sync(destroy));
    t.insert("VM.set_is_a_template", Handler::Sync(set_is_a_template));
}

/// Which VM-level duplication a call asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Clone,
    Copy,
    Snapshot,
    Checkpoint,
}

impl Kind {
    fn op(self) -> &'static str {
        match self {
            Kind::Clone => "clone",
            Kind::Copy => "copy",
            Kind::Snapshot => "snapshot",
            Kind::Checkpoint => "checkpoint",
        }
    }

    fn seconds(self) -> f64 {
        match self {
            Kind::Clone => CLONE_SECS,
            Kind::Copy => COPY_SECS,
            Kind::Snapshot => SNAPSHOT_SECS,
            Kind::Checkpoint => CHECKPOINT_SECS,
        }
    }

    fn is_snapshot(self) -> bool {
        matches!(self, Kind::Snapshot | Kind::Checkpoint)
    }

    fn disk_op(self) -> DiskOp {
        match self {
            Kind::Clone => DiskOp::Clone,
            Kind::Copy => DiskOp::Copy,
            Kind::Snapshot | Kind::Checkpoint => DiskOp::Snapshot,
        }
    }
}

/// What a duplication will do to each of the source's VBDs.
#[derive(Clone)]
enum Plan {
    /// Duplicate the disk (onto this SR for copies).
    Disk(String, Option<String>),
    /// Keep the same VDI (CD media) or none (empty drive).
    Same(String),
}

#[derive(Clone)]
struct Duplication {
    vbds: Vec<(String, Plan)>,
    suspend_sr: Option<String>,
}

/// Works out the disks to duplicate and checks the space for them.
fn plan(db: &Db, vm: &str, kind: Kind, target_sr: Option<&str>, ignore: &[String]) -> ApiResult<Duplication> {
    let mut vbds = Vec::new();
    let mut needs: Vec<(String, i64)> = Vec::new();
    for vbd in get_set(db, vm, "VBDs") {
        let vdi = get_s(db, &vbd, "VDI");
        let has_vdi = valid(db, &vdi, "VDI") && !get_b(db, &vbd, "empty");
        if kind.is_snapshot() && has_vdi && ignore.contains(&vdi) {
            continue;
        }
        if !has_vdi {
            vbds.push((vbd, Plan::Same(NULL_REF.to_string())));
        } else if get_s(db, &vbd, "type") == "CD" {
            vbds.push((vbd, Plan::Same(vdi)));
        } else {
            let sr = target_sr.map(str::to_string).unwrap_or_else(|| get_s(db, &vdi, "SR"));
            needs.push((sr.clone(), disks::duplicate_size(db, &vdi, &sr, kind.disk_op())));
            vbds.push((vbd, Plan::Disk(vdi, target_sr.map(str::to_string))));
        }
    }
    let mut suspend = None;
    if kind == Kind::Checkpoint {
        let sr = suspend_sr(db, vm)?;
        needs.push((sr.clone(), suspend_image_size(db, vm)));
        suspend = Some(sr);
    }
    disks::assert_space(db, &needs)?;
    Ok(Duplication { vbds, suspend_sr: suspend })
}

/// The `other_config` of a duplicate, as xapi rewrites it.
fn duplicate_other_config(db: &mut Db, vm: &str, kind: Kind) -> Value {
    let mut oc = get_map(db, vm, "other_config");
    if !kind.is_snapshot() {
        let seed = db.new_uuid();
        match oc.iter_mut().find(|(k, _)| k == "mac_seed") {
            Some((_, v)) => *v = seed,
            None => oc.insert(0, ("mac_seed".to_string(), seed)),
        }
    }
    oc.retain(|(k, _)| k != "default_template" && k != "xensource_internal");
    if get_b(db, vm, "is_a_template") && !oc.iter().any(|(k, _)| k == "base_template_name") {
        oc.insert(0, ("base_template_name".to_string(), get_s(db, vm, "name_label")));
    }
    smap(&oc)
}

/// A fresh generation id, as xapi gives every clone.
fn fresh_genid(db: &mut Db) -> String {
    let u = db.new_uuid().replace('-', "");
    let a = u64::from_str_radix(&u[0..15], 16).unwrap_or(0);
    let b = u64::from_str_radix(&u[15..30], 16).unwrap_or(0);
    format!("{a}:{b}")
}

/// Makes the new VM record and its devices (xapi's `Xapi_vm_clone.clone`).
fn make_duplicate(db: &mut Db, vm: &str, new_name: &str, kind: Kind, d: Duplication) -> String {
    let power = get_s(db, vm, "power_state");
    let src_snapshot = get_b(db, vm, "is_a_snapshot");
    let new_power = match (kind, power.as_str()) {
        (Kind::Checkpoint, _) => "Suspended",
        (Kind::Clone, "Suspended") => "Suspended",
        (Kind::Copy, "Suspended") if !src_snapshot => "Suspended",
        _ => "Halted",
    };
    let snap = kind.is_snapshot();
    let other_config = duplicate_other_config(db, vm, kind);
    let metrics = get_s(db, vm, "metrics");
    let metrics = if valid(db, &metrics, "VM_metrics") { disks::copy_object(db, &metrics, vec![]) } else { null_s() };
    let gm = get_s(db, vm, "guest_metrics");
    let gm = if valid(db, &gm, "VM_guest_metrics") { disks::copy_object(db, &gm, vec![]) } else { null_s() };
    let snapshot_info = if snap {
        smap(&[("power-state-at-snapshot", power.as_str()), ("disk-snapshot-type", "crash_consistent")])
    } else {
        smap::<&str, &str>(&[])
    };
    let genid = fresh_genid(db);
    let template = snap || get_b(db, vm, "is_a_template");
    let time = if snap { now(db) } else { Value::DateTime(xenapi::datetime::EPOCH.to_string()) };
    let parent = if snap { Value::String(get_s(db, vm, "parent")) } else { null() };
    let new = disks::copy_object(
        db,
        vm,
        vec![
            ("name_label", Value::str(new_name)),
            ("power_state", Value::str(new_power)),
            ("allowed_operations", sset::<&str>(&[])),
            ("blocked_operations", Value::Struct(Vec::new())),
            ("is_a_template", Value::Bool(template)),
            ("is_default_template", Value::Bool(false)),
            ("is_a_snapshot", Value::Bool(snap)),
            ("snapshot_of", if snap { Value::str(vm) } else { null() }),
            ("snapshot_time", time),
            ("snapshot_info", snapshot_info),
            ("snapshot_metadata", Value::str("")),
            ("transportable_snapshot_id", Value::str("")),
            ("parent", parent),
            ("resident_on", null()),
            ("scheduled_to_be_resident_on", null()),
            ("suspend_VDI", null()),
            ("other_config", other_config),
            ("domid", Value::Int(-1)),
            ("domarch", Value::str("")),
            ("metrics", Value::String(metrics)),
            ("guest_metrics", Value::String(gm)),
            ("blobs", Value::Struct(Vec::new())),
            ("ha_always_run", Value::Bool(false)),
            ("protection_policy", null()),
            ("is_snapshot_from_vmpp", Value::Bool(false)),
            ("is_vmss_snapshot", Value::Bool(false)),
            ("snapshot_schedule", null()),
            ("appliance", null()),
            ("start_delay", Value::Int(0)),
            ("shutdown_delay", Value::Int(0)),
            ("order", Value::Int(0)),
            ("suspend_SR", null()),
            ("version", Value::Int(0)),
            ("generation_id", Value::String(genid)),
            ("requires_reboot", Value::Bool(false)),
            ("pending_guidances", sset::<&str>(&[])),
            ("pending_guidances_recommended", sset::<&str>(&[])),
            ("pending_guidances_full", sset::<&str>(&[])),
        ],
    );
    for (vbd, plan) in d.vbds {
        let vdi = match plan {
            Plan::Disk(vdi, sr) => disks::duplicate_vdi(db, &vdi, kind.disk_op(), sr.as_deref()),
            Plan::Same(vdi) => vdi,
        };
        disks::copy_vbd(db, &vbd, &new, &vdi);
    }
    for vif in get_set(db, vm, "VIFs") {
        disks::copy_vif(db, &vif, &new, snap);
    }
    let image = get_s(db, vm, "suspend_VDI");
    if let Some(sr) = d.suspend_sr {
        let image = write_suspend_image(db, vm, &sr);
        set(db, &new, "suspend_VDI", Value::String(image));
    } else if new_power == "Suspended" && valid(db, &image, "VDI") {
        let copy = disks::duplicate_vdi(db, &image, kind.disk_op(), None);
        set(db, &new, "suspend_VDI", Value::String(copy));
    } else if new_power == "Suspended" {
        set(db, &new, "power_state", Value::str("Halted"));
    }
    if snap {
        set(db, vm, "parent", Value::String(new.clone()));
    }
    update_allowed_operations(db, &new);
    new
}

fn null_s() -> String {
    NULL_REF.to_string()
}

async fn duplicate(call: &Call, kind: Kind) -> ApiResult<Value> {
    let vm = call.str(0).to_string();
    let new_name = call.str(1).to_string();
    let (sr, ignore): (Option<String>, Vec<String>) = match kind {
        Kind::Copy => (Some(call.str(2).to_string()), Vec::new()),
        Kind::Snapshot => (
            None,
            call.args
                .get(2)
                .and_then(Value::as_array)
                .unwrap_or(&[])
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        ),
        _ => (None, Vec::new()),
    };
    let new = run_op(
        call,
        &[(&vm, kind.op())],
        kind.seconds(),
        |db| {
            // VM.copy to a missing SR copies each disk onto its own SR, as xapi does.
            let sr = sr.filter(|s| valid(db, s, "SR"));
            if let Some(s) = &sr {
                if get_s(db, s, "content_type") == "iso" {
                    return Err(Failure::new("OPERATION_NOT_ALLOWED", ["Cannot copy a VM's disks to an ISO SR"]));
                }
            }
            plan(db, &vm, kind, sr.as_deref(), &ignore)
        },
        |db, d| {
            expect_vm(db, &vm)?;
            Ok(make_duplicate(db, &vm, &new_name, kind, d))
        },
        |_, _| {},
    )
    .await?;
    Ok(Value::String(new))
}

// --- revert --------------------------------------------------------------------

/// Settings a revert restores from the snapshot (identity and runtime state stay).
const REVERTED_FIELDS: &[&str] = &[
    "name_description",
    "user_version",
    "affinity",
    "memory_static_max",
    "memory_dynamic_max",
    "memory_dynamic_min",
    "memory_static_min",
    "VCPUs_params",
    "VCPUs_max",
    "VCPUs_at_startup",
    "actions_after_softreboot",
    "actions_after_shutdown",
    "actions_after_reboot",
    "actions_after_crash",
    "PV_bootloader",
    "PV_kernel",
    "PV_ramdisk",
    "PV_args",
    "PV_bootloader_args",
    "PV_legacy_args",
    "HVM_boot_policy",
    "HVM_boot_params",
    "HVM_shadow_multiplier",
    "platform",
    "PCI_bus",
    "other_config",
    "recommendations",
    "xenstore_data",
    "tags",
    "bios_strings",
    "hardware_platform_version",
    "has_vendor_device",
    "domain_type",
    "NVRAM",
    "memory_overhead",
];

fn revert(call: Call) -> BoxFuture {
    Box::pin(async move {
        let snapshot = call.str(0).to_string();
        let vm = {
            let db = call.core.db.read();
            expect_vm(&db, &snapshot)?;
            get_s(&db, &snapshot, "snapshot_of")
        };
        let vm_valid = valid(&call.core.db.read(), &vm, "VM");
        if !get_b(&call.core.db.read(), &snapshot, "is_a_snapshot") {
            return Err(Failure::new::<&str>("REVERT_ONLY_ALLOWED_ON_SNAPSHOT", []));
        }
        if !vm_valid {
            return Err(Failure::new("VM_REVERT_FAILED", [vm.as_str(), snapshot.as_str()]));
        }
        run_op(
            &call,
            &[(&snapshot, "revert"), (&vm, "reverting")],
            REVERT_SECS,
            |db| {
                let needs: Vec<(String, i64)> = get_set(db, &snapshot, "VBDs")
                    .iter()
                    .filter(|vbd| get_s(db, vbd, "type") != "CD")
                    .map(|vbd| get_s(db, vbd, "VDI"))
                    .filter(|vdi| valid(db, vdi, "VDI"))
                    .map(|vdi| {
                        let sr = get_s(db, &vdi, "SR");
                        let n = disks::duplicate_size(db, &vdi, &sr, DiskOp::Clone);
                        (sr, n)
                    })
                    .collect();
                disks::assert_space(db, &needs)
            },
            |db, ()| {
                if !valid(db, &vm, "VM") || !valid(db, &snapshot, "VM") {
                    return Err(Failure::new("VM_REVERT_FAILED", [vm.as_str(), snapshot.as_str()]));
                }
                apply_revert(db, &snapshot, &vm);
                Ok(())
            },
            |_, ()| {},
        )
        .await?;
        Ok(void())
    })
}

/// xapi's `Xapi_vm_snapshot.revert`: halt the VM, take the snapshot's
/// settings, replace its disks with clones of the snapshot's, its VIFs with the
/// snapshot's, and come back suspended when the snapshot is a checkpoint.
fn apply_revert(db: &mut Db, snapshot: &str, vm: &str) {
    if get_s(db, vm, "power_state") != "Halted" {
        super::power::force_halt(db, vm);
    }
    for f in REVERTED_FIELDS {
        if let Some(v) = db.field(snapshot, f).cloned() {
            set(db, vm, f, v);
        }
    }
    // Old devices and the disks they own go.
    let mut old_disks: Vec<String> = Vec::new();
    for vbd in get_set(db, vm, "VBDs") {
        let vdi = get_s(db, &vbd, "VDI");
        if get_s(db, &vbd, "type") != "CD" && valid(db, &vdi, "VDI") {
            old_disks.push(vdi);
        }
        disks::destroy_device(db, &vbd);
    }
    for vif in get_set(db, vm, "VIFs") {
        disks::destroy_device(db, &vif);
    }
    for vbd in get_set(db, snapshot, "VBDs") {
        let vdi = get_s(db, &vbd, "VDI");
        let new_vdi = if get_s(db, &vbd, "type") != "CD" && valid(db, &vdi, "VDI") {
            let clone = disks::duplicate_vdi(db, &vdi, DiskOp::Clone, None);
            // Snapshots of the disk being replaced now descend from its replacement.
            let of = get_s(db, &vdi, "snapshot_of");
            if old_disks.contains(&of) {
                for s in get_set(db, &of, "snapshots") {
                    set(db, &s, "snapshot_of", Value::String(clone.clone()));
                }
            }
            clone
        } else {
            vdi
        };
        disks::copy_vbd(db, &vbd, vm, &new_vdi);
    }
    for vif in get_set(db, snapshot, "VIFs") {
        disks::copy_vif(db, &vif, vm, true);
    }
    for vdi in old_disks {
        if get_set(db, &vdi, "VBDs").is_empty() {
            disks::destroy_vdi(db, &vdi);
        }
    }
    set(db, vm, "parent", Value::str(snapshot));
    let image = get_s(db, snapshot, "suspend_VDI");
    if get_s(db, snapshot, "power_state") == "Suspended" && valid(db, &image, "VDI") {
        let copy = disks::duplicate_vdi(db, &image, DiskOp::Clone, None);
        set(db, vm, "suspend_VDI", Value::String(copy));
        set(db, vm, "power_state", Value::str("Suspended"));
    }
    update_allowed_operations(db, vm);
}

// --- provision -------------------------------------------------------------------

/// One `<disk .../>` of a template's provisioning XML.
#[derive(Clone)]
struct DiskSpec {
    device: String,
    size: i64,
    sr: String,
    bootable: bool,
    ty: String,
}

/// Reads the attributes of one XML start tag body (`a="1" b='2'`).
fn attributes(tag: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = tag.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let quote = after.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let end = after[1..].find(quote)? + 1;
        let value = after[1..end].replace("&quot;", "\"").replace("&apos;", "'").replace("&lt;", "<");
        let value = value.replace("&gt;", ">").replace("&amp;", "&");
        out.push((name.trim().to_string(), value));
        rest = after[end + 1..].trim_start();
    }
    Some(out)
}

/// Parses `<provision><disk device=".." size=".." sr=".." bootable=".." type=".."/>...</provision>`.
fn parse_provision(xml: &str) -> Option<Vec<DiskSpec>> {
    let body = xml.trim();
    let body = body.strip_prefix("<?xml").map_or(body, |r| r.split_once("?>").map_or("", |(_, b)| b.trim()));
    let inner = if let Some(inner) = body.strip_prefix("<provision>") {
        inner.trim_end().strip_suffix("</provision>")?
    } else if body.strip_prefix("<provision").is_some_and(|r| r.trim() == "/>") {
        ""
    } else {
        return None;
    };
    let mut disks = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let tag = rest.strip_prefix("<disk")?;
        let end = tag.find("/>")?;
        let attrs = attributes(&tag[..end])?;
        let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        disks.push(DiskSpec {
            device: get("device")?,
            size: get("size")?.trim().parse().ok()?,
            sr: get("sr")?,
            bootable: get("bootable")? == "true",
            ty: get("type")
                .filter(|t| matches!(t.as_str(), "system" | "user" | "ephemeral" | "suspend" | "crashdump"))
                .unwrap_or_else(|| "system".to_string()),
        });
        rest = tag[end + 2..].trim_start();
    }
    Some(disks)
}

/// The SR a provisioned disk goes to: the one named, or the pool's default for "".
fn provision_sr(db: &Db, sr: &str) -> ApiResult<String> {
    if sr.is_empty() {
        let pool_c = cls(db, "pool");
        let default = db.iter(pool_c).next().map(|(p, _)| get_s(db, p, "default_SR")).unwrap_or_default();
        if valid(db, &default, "SR") {
            return Ok(default);
        }
    }
    db.by_uuid(cls(db, "SR"), sr).map(str::to_string).ok_or_else(|| Failure::new("UUID_INVALID", ["sr", sr]))
}

fn provision(call: Call) -> BoxFuture {
    Box::pin(async move {
        let vm = call.str(0).to_string();
        run_op(
            &call,
            &[(&vm, "provision")],
            PROVISION_SECS,
            |db| {
                let spec = get_map(db, &vm, "other_config").into_iter().find(|(k, _)| k == "disks").map(|(_, v)| v);
                let Some(spec) = spec else { return Ok(Vec::new()) };
                let specs = parse_provision(&spec).ok_or_else(|| {
                    Failure::new("INTERNAL_ERROR", ["Xapi_templates.Parse_failure: cannot parse other-config:disks"])
                })?;
                let mut placed = Vec::new();
                let mut needs: Vec<(String, i64)> = Vec::new();
                for d in specs {
                    let sr = provision_sr(db, &d.sr)?;
                    let physical = disks::physical_for(db, &sr, d.size, 8 << 20);
                    match needs.iter_mut().find(|(s, _)| *s == sr) {
                        Some((_, n)) => *n += physical,
                        None => needs.push((sr.clone(), physical)),
                    }
                    placed.push((d, sr, physical));
                }
                if needs.iter().any(|(sr, n)| *n > disks::sr_free(db, sr)) {
                    return Err(Failure::new::<&str>("PROVISION_FAILED_OUT_OF_SPACE", []));
                }
                Ok(placed)
            },
            |db, placed| {
                expect_vm(db, &vm)?;
                set_template_flag(db, &vm, false);
                let vm_uuid = get_s(db, &vm, "uuid");
                let vbd_c = cls(db, "VBD");
                for (d, sr, physical) in placed {
                    let new = disks::NewVdi {
                        sr: &sr,
                        label: &d.device,
                        description: "Created by template provisioner",
                        ty: &d.ty,
                        virtual_size: d.size,
                        physical,
                        sm_config: vec![("vmhint".to_string(), vm_uuid.clone())],
                    };
                    let vdi = disks::create_vdi(db, new);
                    db.create(
                        vbd_c,
                        vec![
                            ("VM", Value::str(&vm)),
                            ("VDI", Value::String(vdi)),
                            ("userdevice", Value::String(d.device.clone())),
                            ("device", Value::str("")),
                            ("bootable", Value::Bool(d.bootable)),
                            ("mode", Value::str("RW")),
                            ("type", Value::str("Disk")),
                            ("unpluggable", Value::Bool(d.ty != "system")),
                            ("empty", Value::Bool(false)),
                            ("allowed_operations", sset(&["attach"])),
                            ("other_config", smap(&[("owner", "")])),
                            ("qos_algorithm_type", Value::str("")),
                            ("qos_algorithm_params", smap::<&str, &str>(&[])),
                            ("qos_supported_algorithms", sset(&["ionice"])),
                            ("runtime_properties", smap::<&str, &str>(&[])),
                            ("currently_attached", Value::Bool(false)),
                        ],
                    );
                }
                let mut oc = get_map(db, &vm, "other_config");
                oc.retain(|(k, _)| k != "disks" && k != "postinstall");
                set(db, &vm, "other_config", smap(&oc));
                Ok(())
            },
            |_, _| {},
        )
        .await?;
        Ok(void())
    })
}

// --- create / destroy / templates -------------------------------------------------

/// `VM.create`: the generic constructor, then what xapi adds: a metrics
/// object, no domain, the memory overhead and the allowed operations.
fn create(mut call: Call) -> BoxFuture {
    Box::pin(async move {
        // Bypass this table so the generic constructor runs.
        call.method = "VM.create (generic)".to_string();
        let core = call.core.clone();
        let vm = crate::rpc::run(call).await?;
        let r = vm.as_str().unwrap_or("").to_string();
        core.write(|db| {
            if valid(db, &r, "VM") {
                ensure_metrics(db, &r);
                set(db, &r, "domid", Value::Int(-1));
                let overhead = super::place::overhead(db, &r);
                set(db, &r, "memory_overhead", Value::Int(overhead));
                update_allowed_operations(db, &r);
            }
            Ok(())
        })?;
        Ok(vm)
    })
}

/// `VM.destroy`: the record and its devices and metrics, never its disks
/// (`xe vm-uninstall` destroys those itself). Children move up to the VM's parent.
fn destroy(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0);
    expect_vm(db, vm)?;
    if get_b(db, vm, "is_default_template") {
        return Err(Failure::new("VM_CANNOT_DELETE_DEFAULT_TEMPLATE", [vm]));
    }
    super::assert_operation_valid(db, vm, "destroy")?;
    let parent = get_s(db, vm, "parent");
    for child in get_set(db, vm, "children") {
        set(db, &child, "parent", Value::String(parent.clone()));
    }
    for f in ["VBDs", "VIFs", "consoles", "crash_dumps", "VTPMs", "VUSBs", "VGPUs"] {
        for r in get_set(db, vm, f) {
            db.destroy(&r);
        }
    }
    for f in ["metrics", "guest_metrics"] {
        let r = get_s(db, vm, f);
        if r != NULL_REF {
            db.destroy(&r);
        }
    }
    db.destroy(vm);
    Ok(void())
}

/// Flips `is_a_template`; becoming a VM counts as being installed.
fn set_template_flag(db: &mut Db, vm: &str, value: bool) {
    if !value {
        let m = ensure_metrics(db, vm);
        set(db, &m, "install_time", now(db));
    }
    set(db, vm, "is_a_template", Value::Bool(value));
    update_allowed_operations(db, vm);
}

fn set_is_a_template(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0);
    let value = call.bool(1);
    expect_vm(db, vm)?;
    if value && !get_b(db, vm, "is_a_template") {
        super::assert_operation_valid(db, vm, "make_into_template")?;
    }
    set_template_flag(db, vm, value);
    Ok(void())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provision_xml_parses_the_template_form() {
        let d = parse_provision(
            r#"<provision><disk device="0" size="10737418240" sr="" bootable="true" type="system"/></provision>"#,
        )
        .expect("parses");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].device, "0");
        assert_eq!(d[0].size, 10_737_418_240);
        assert!(d[0].bootable);
        assert_eq!(d[0].ty, "system");
        let two = parse_provision(
            "<?xml version=\"1.0\"?><provision>\n <disk device='0' size='1' sr='abc' bootable='false' type='weird'/>\n\
             <disk device=\"1\" size=\"2\" sr=\"\" bootable=\"true\"/></provision>",
        )
        .expect("parses");
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].sr, "abc");
        assert_eq!(two[0].ty, "system");
        assert!(two[1].bootable);
        assert!(parse_provision("<provision/>").is_some_and(|d| d.is_empty()));
        assert!(parse_provision("<provision><disk device=\"0\"/></provision>").is_none());
        assert!(parse_provision("nonsense").is_none());
    }
}
