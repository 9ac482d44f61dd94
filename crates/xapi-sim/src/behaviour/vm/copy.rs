//! VMs made from VMs: clone, copy, snapshot, checkpoint, revert; templates
//! provisioned into VMs; creation and destruction of VM records.

use super::disks::{self, DiskOp};
use super::messages::{self, Note};
use super::power::{ensure_metrics, force_halt, suspend_image_record, suspend_sr};
use super::{
    begin_op, drop_vdis, end_op, end_op_then, step, void, CHECKPOINT_SECS, CLONE_SECS, COPY_SECS, PROVISION_SECS,
    REVERT_SECS, SNAPSHOT_SECS,
};
use crate::call::{BoxFuture, Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::rules::memory;
use crate::rules::vm::{assert_operation_valid, update_allowed_operations};
use crate::values::{empty_map, empty_set, null, smap};
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

/// What a duplication does with each of the source's VBDs: duplicate its
/// disk (onto the copy's SR), or keep the VDI (CD media) or none (empty drive).
#[derive(Clone)]
enum Plan {
    Disk(String),
    Same(String),
}

/// Everything a duplication needs, decided under the lock before any disk moves.
#[derive(Clone)]
struct Duplication {
    vbds: Vec<(String, Plan)>,
    target_sr: Option<String>,
    /// A checkpoint's memory image: its VDI.create record.
    memory_image: Option<Value>,
    /// The source's suspend image, copied along when the duplicate stays suspended.
    suspend_image: Option<String>,
}

fn plan(db: &Db, vm: &str, kind: Kind, target_sr: Option<String>, ignore: &[String]) -> ApiResult<Duplication> {
    if let Some(s) = &target_sr {
        if db.string(s, "content_type") == "iso" {
            return Err(Failure::new("OPERATION_NOT_ALLOWED", ["Cannot copy a VM's disks to an ISO SR"]));
        }
    }
    let mut vbds = Vec::new();
    for vbd in db.strings(vm, "VBDs") {
        let vdi = db.string(&vbd, "VDI");
        let has_vdi = db.is(&vdi, "VDI") && !db.bool(&vbd, "empty");
        if kind.is_snapshot() && has_vdi && ignore.contains(&vdi) {
            continue;
        }
        let plan = if !has_vdi {
            Plan::Same(NULL_REF.to_string())
        } else if db.string(&vbd, "type") == "CD" {
            Plan::Same(vdi)
        } else {
            Plan::Disk(vdi)
        };
        vbds.push((vbd, plan));
    }
    let memory_image = match kind {
        Kind::Checkpoint => Some(suspend_image_record(db, vm, &suspend_sr(db, vm)?)),
        _ => None,
    };
    let image = db.string(vm, "suspend_VDI");
    let keeps_image = new_power_state(db, vm, kind) == "Suspended" && kind != Kind::Checkpoint;
    let suspend_image = (keeps_image && db.is(&image, "VDI")).then_some(image);
    Ok(Duplication { vbds, target_sr, memory_image, suspend_image })
}

/// The power state of a duplicate: checkpoints are suspended, snapshots
/// halted, clones and copies keep a suspended source's state (copies of
/// snapshots are always halted).
fn new_power_state(db: &Db, vm: &str, kind: Kind) -> &'static str {
    let suspended = db.field_str(vm, "power_state") == "Suspended";
    match kind {
        Kind::Checkpoint => "Suspended",
        Kind::Clone if suspended => "Suspended",
        Kind::Copy if suspended && !db.bool(vm, "is_a_snapshot") => "Suspended",
        _ => "Halted",
    }
}

/// The disks made for a duplicate so far.
#[derive(Default)]
struct Made {
    vbds: Vec<(String, String)>,
    suspend_image: Option<String>,
}

impl Made {
    fn vdis(&self, plan: &Duplication) -> Vec<String> {
        let mut out: Vec<String> = self
            .vbds
            .iter()
            .zip(&plan.vbds)
            .filter(|(_, (_, p))| matches!(p, Plan::Disk(_)))
            .map(|((_, v), _)| v.clone())
            .collect();
        out.extend(self.suspend_image.clone());
        out
    }
}

/// Duplicates the disks through the storage API, as xapi's
/// `safe_clone_disks` does: one VDI call per disk, progress between them.
async fn duplicate_disks(call: &Call, kind: Kind, d: &Duplication, made: &mut Made) -> ApiResult<()> {
    let total = d.vbds.len() + usize::from(d.memory_image.is_some() || d.suspend_image.is_some());
    for (done, (vbd, plan)) in d.vbds.iter().enumerate() {
        step(call, 0.5 + 0.45 * done as f64 / total.max(1) as f64).await?;
        let vdi = match plan {
            Plan::Disk(vdi) => disks::duplicate_vdi(call, vdi, kind.disk_op(), d.target_sr.as_deref()).await?,
            Plan::Same(vdi) => vdi.clone(),
        };
        made.vbds.push((vbd.clone(), vdi));
    }
    if let Some(record) = &d.memory_image {
        made.suspend_image = Some(disks::create_vdi(call, record.clone()).await?);
    } else if let Some(image) = &d.suspend_image {
        let op = if kind == Kind::Copy { DiskOp::Copy } else { DiskOp::Clone };
        made.suspend_image = Some(disks::duplicate_vdi(call, image, op, d.target_sr.as_deref()).await?);
    }
    Ok(())
}

/// The `other_config` of a duplicate, as xapi rewrites it.
fn duplicate_other_config(db: &mut Db, vm: &str, kind: Kind) -> Value {
    let mut oc = db.string_map(vm, "other_config");
    if !kind.is_snapshot() {
        let seed = db.new_uuid();
        match oc.iter_mut().find(|(k, _)| k == "mac_seed") {
            Some((_, v)) => *v = seed,
            None => oc.insert(0, ("mac_seed".to_string(), seed)),
        }
    }
    oc.retain(|(k, _)| k != "default_template" && k != "xensource_internal");
    if db.bool(vm, "is_a_template") && !oc.iter().any(|(k, _)| k == "base_template_name") {
        oc.insert(0, ("base_template_name".to_string(), db.string(vm, "name_label")));
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
fn make_duplicate(db: &mut Db, vm: &str, new_name: &str, kind: Kind, made: Made) -> String {
    let power = db.string(vm, "power_state");
    let new_power = new_power_state(db, vm, kind);
    let snap = kind.is_snapshot();
    let other_config = duplicate_other_config(db, vm, kind);
    let metrics = db.string(vm, "metrics");
    let metrics = if db.is(&metrics, "VM_metrics") { disks::copy_object(db, &metrics, vec![]) } else { null_s() };
    let gm = db.string(vm, "guest_metrics");
    let gm = if db.is(&gm, "VM_guest_metrics") { disks::copy_object(db, &gm, vec![]) } else { null_s() };
    let snapshot_info = if snap {
        smap(&[("power-state-at-snapshot", power.as_str()), ("disk-snapshot-type", "crash_consistent")])
    } else {
        empty_map()
    };
    let genid = fresh_genid(db);
    let template = snap || db.bool(vm, "is_a_template");
    let time = if snap { db.now() } else { Value::DateTime(xenapi::datetime::EPOCH.to_string()) };
    let parent = if snap { Value::String(db.string(vm, "parent")) } else { null() };
    let image = made.suspend_image.clone().filter(|_| new_power == "Suspended");
    let new = disks::copy_object(
        db,
        vm,
        vec![
            ("name_label", Value::str(new_name)),
            ("power_state", Value::str(if image.is_some() { new_power } else { "Halted" })),
            ("allowed_operations", empty_set()),
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
            ("suspend_VDI", Value::String(image.unwrap_or_else(null_s))),
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
            ("pending_guidances", empty_set()),
            ("pending_guidances_recommended", empty_set()),
            ("pending_guidances_full", empty_set()),
        ],
    );
    for (vbd, vdi) in made.vbds {
        disks::copy_vbd(db, &vbd, &new, &vdi);
    }
    for vif in db.strings(vm, "VIFs") {
        disks::copy_vif(db, &vif, &new, snap);
    }
    if snap {
        db.set_named(vm, "parent", Value::String(new.clone()));
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
    let targets = [(vm.as_str(), kind.op())];
    let (op, d) = begin_op(call, &targets, |db| {
        // VM.copy to a missing SR copies each disk onto its own SR, as xapi does.
        let sr = sr.filter(|s| db.is(s, "SR"));
        plan(db, &vm, kind, sr, &ignore)
    })?;
    let call = &op.call;
    let mut made = Made::default();
    let mut result = crate::tasks::work(call, kind.seconds(), 0.0, 0.5).await;
    if result.is_ok() {
        result = duplicate_disks(call, kind, &d, &mut made).await;
    }
    let created = made.vdis(&d);
    let apply = |db: &mut Db| {
        result?;
        db.expect_is(&vm, "VM")?;
        Ok(make_duplicate(db, &vm, &new_name, kind, made))
    };
    let new = end_op_then(&op, &targets, apply, |db, _| match kind {
        Kind::Snapshot => messages::file(db, &vm, Note::Snapshotted(&new_name)),
        Kind::Checkpoint => messages::file(db, &vm, Note::Checkpointed(&new_name)),
        Kind::Clone | Kind::Copy => {}
    });
    match new {
        Ok(new) => Ok(Value::String(new)),
        Err(e) => {
            // xapi's delete_disks: what was made for a failed duplicate goes.
            drop_vdis(call, created).await;
            Err(e)
        }
    }
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
            db.expect_is(&snapshot, "VM")?;
            if !db.bool(&snapshot, "is_a_snapshot") {
                return Err(Failure::new::<&str>("REVERT_ONLY_ALLOWED_ON_SNAPSHOT", []));
            }
            let vm = db.string(&snapshot, "snapshot_of");
            if !db.is(&vm, "VM") {
                return Err(Failure::new("VM_REVERT_FAILED", [vm.as_str(), snapshot.as_str()]));
            }
            vm
        };
        let targets = [(snapshot.as_str(), "revert"), (vm.as_str(), "reverting")];
        let (op, (sources, image)) = begin_op(&call, &targets, |db| {
            let image = db.string(&snapshot, "suspend_VDI");
            let image = (db.string(&snapshot, "power_state") == "Suspended" && db.is(&image, "VDI")).then_some(image);
            Ok((disks::owned_disks(db, &snapshot), image))
        })?;
        let call = &op.call;
        let mut clones: Vec<(String, String)> = Vec::new();
        let mut clone_image = None;
        let mut result = crate::tasks::work(call, REVERT_SECS, 0.0, 0.5).await;
        for src in &sources {
            if result.is_err() {
                break;
            }
            result = match disks::duplicate_vdi(call, src, DiskOp::Clone, None).await {
                Ok(c) => {
                    clones.push((src.clone(), c));
                    Ok(())
                }
                Err(e) => Err(e),
            };
        }
        if let (Ok(()), Some(image)) = (&result, &image) {
            match disks::duplicate_vdi(call, image, DiskOp::Clone, None).await {
                Ok(c) => clone_image = Some(c),
                Err(e) => result = Err(e),
            }
        }
        let mut made: Vec<String> = clones.iter().map(|(_, c)| c.clone()).collect();
        made.extend(clone_image.clone());
        let apply = |db: &mut Db| {
            result?;
            if !db.is(&vm, "VM") || !db.is(&snapshot, "VM") {
                return Err(Failure::new("VM_REVERT_FAILED", [vm.as_str(), snapshot.as_str()]));
            }
            let was_up = db.string(&vm, "power_state") != "Halted";
            Ok((apply_revert(db, &snapshot, &vm, &clones, clone_image), was_up))
        };
        let old = end_op_then(&op, &targets, apply, |db, &(_, was_up)| {
            // xapi halts a VM that is not halted with a VM.hard_shutdown call
            // of its own, which files that operation's message first.
            if was_up {
                messages::file(db, &vm, Note::ShutdownForcibly);
            }
            messages::file(db, &vm, Note::Reverted(&snapshot));
        });
        match old {
            Ok((old, _)) => {
                drop_vdis(call, old).await;
                Ok(void())
            }
            Err(e) => {
                drop_vdis(call, made).await;
                Err(e)
            }
        }
    })
}

/// xapi's `Xapi_vm_snapshot.revert`: halt the VM, take the snapshot's
/// settings, replace its disks with clones of the snapshot's, its VIFs with
/// the snapshot's, and come back suspended when the snapshot is a checkpoint.
/// Returns the disks (and suspend image) the VM no longer has, to destroy.
fn apply_revert(
    db: &mut Db,
    snapshot: &str,
    vm: &str,
    clones: &[(String, String)],
    image: Option<String>,
) -> Vec<String> {
    let mut dropped: Vec<String> = Vec::new();
    if db.string(vm, "power_state") != "Halted" {
        dropped.extend(force_halt(db, vm));
    }
    for f in REVERTED_FIELDS {
        if let Some(v) = db.field(snapshot, f).cloned() {
            db.set_named(vm, f, v);
        }
    }
    // Old devices go; the disks they used go once nothing else uses them.
    let old_disks = disks::owned_disks(db, vm);
    for vbd in db.strings(vm, "VBDs") {
        db.destroy(&vbd);
    }
    for vif in db.strings(vm, "VIFs") {
        db.destroy(&vif);
    }
    for vbd in db.strings(snapshot, "VBDs") {
        let vdi = db.string(&vbd, "VDI");
        let new_vdi = match clones.iter().find(|(src, _)| *src == vdi) {
            Some((_, clone)) => {
                // Snapshots of the disk being replaced now descend from its replacement.
                let of = db.string(&vdi, "snapshot_of");
                if old_disks.contains(&of) {
                    for s in db.strings(&of, "snapshots") {
                        db.set_named(&s, "snapshot_of", Value::String(clone.clone()));
                    }
                }
                clone.clone()
            }
            None if db.string(&vbd, "type") == "CD" => vdi,
            None => NULL_REF.to_string(),
        };
        disks::copy_vbd(db, &vbd, vm, &new_vdi);
    }
    for vif in db.strings(snapshot, "VIFs") {
        disks::copy_vif(db, &vif, vm, true);
    }
    dropped.extend(old_disks.into_iter().filter(|d| db.strings(d, "VBDs").is_empty()));
    db.set_named(vm, "parent", Value::str(snapshot));
    if let Some(image) = image {
        // The VM is halted by now, so it has no suspend image of its own.
        db.set_named(vm, "suspend_VDI", Value::String(image));
        db.set_named(vm, "power_state", Value::str("Suspended"));
    }
    disks::refresh_devices(db, vm);
    update_allowed_operations(db, vm);
    dropped
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
        let pool_c = db.cls("pool");
        let default = db.iter(pool_c).next().map(|(p, _)| db.string(p, "default_SR")).unwrap_or_default();
        if db.is(&default, "SR") {
            return Ok(default);
        }
    }
    db.by_uuid(db.cls("SR"), sr).map(str::to_string).ok_or_else(|| Failure::new("UUID_INVALID", ["sr", sr]))
}

/// Reads the VM's provisioning spec and places its disks, checking the space.
fn plan_provision(db: &Db, vm: &str) -> ApiResult<Vec<(DiskSpec, String)>> {
    let spec = db.string_map(vm, "other_config").into_iter().find(|(k, _)| k == "disks").map(|(_, v)| v);
    let Some(spec) = spec else { return Ok(Vec::new()) };
    let specs = parse_provision(&spec).ok_or_else(|| {
        Failure::new("INTERNAL_ERROR", ["Xapi_templates.Parse_failure: cannot parse other-config:disks"])
    })?;
    let mut placed = Vec::new();
    let mut needs: Vec<(String, i64)> = Vec::new();
    for d in specs {
        let sr = provision_sr(db, &d.sr)?;
        let size = disks::new_disk_size(db, &sr, d.size);
        match needs.iter_mut().find(|(s, _)| *s == sr) {
            Some((_, n)) => *n += size,
            None => needs.push((sr.clone(), size)),
        }
        placed.push((d, sr));
    }
    if needs.iter().any(|(sr, n)| *n > disks::sr_free(db, sr)) {
        return Err(Failure::new::<&str>("PROVISION_FAILED_OUT_OF_SPACE", []));
    }
    Ok(placed)
}

/// Creates one provisioned disk and its VBD through the API, as xapi's
/// `Xapi_templates.create_disk` does. Returns the VDI.
async fn create_disk(call: &Call, vm: &str, vm_uuid: &str, d: &DiskSpec, sr: &str) -> ApiResult<String> {
    let record = disks::vdi_record(sr, "", "Created by template provisioner", &d.ty, d.size, &[("vmhint", vm_uuid)]);
    let vdi = disks::create_vdi(call, record).await?;
    let vbd = Value::Struct(vec![
        ("VM".into(), Value::str(vm)),
        ("VDI".into(), Value::str(&vdi)),
        ("userdevice".into(), Value::str(&d.device)),
        ("bootable".into(), Value::Bool(d.bootable)),
        ("mode".into(), Value::str("RW")),
        ("type".into(), Value::str("Disk")),
        ("unpluggable".into(), Value::Bool(d.ty != "system")),
        ("empty".into(), Value::Bool(false)),
        ("other_config".into(), smap(&[("owner", "")])),
        ("qos_algorithm_type".into(), Value::str("")),
        ("qos_algorithm_params".into(), Value::Struct(Vec::new())),
    ]);
    let made = call.api("VBD.create", vec![vbd]).await;
    let made = match made {
        Ok(v) => v,
        Err(e) => {
            drop_vdis(call, vec![vdi]).await;
            return Err(e);
        }
    };
    // The disk is named after the device it ended up as.
    let userdevice = call.core.db.read().string(made.as_str().unwrap_or(""), "userdevice");
    call.api("VDI.set_name_label", vec![Value::str(&vdi), Value::String(userdevice)]).await?;
    Ok(vdi)
}

fn provision(call: Call) -> BoxFuture {
    Box::pin(async move {
        let vm = call.str(0).to_string();
        let targets = [(vm.as_str(), "provision")];
        let (op, (placed, vm_uuid)) =
            begin_op(&call, &targets, |db| Ok((plan_provision(db, &vm)?, db.string(&vm, "uuid"))))?;
        let call = &op.call;
        let mut result = crate::tasks::work(call, PROVISION_SECS, 0.0, 0.5).await;
        let mut made: Vec<String> = Vec::new();
        for (i, (d, sr)) in placed.iter().enumerate() {
            if result.is_ok() {
                result = step(call, 0.5 + 0.45 * i as f64 / placed.len() as f64).await;
            }
            if result.is_err() {
                break;
            }
            match create_disk(call, &vm, &vm_uuid, d, sr).await {
                Ok(vdi) => made.push(vdi),
                Err(e) => result = Err(e),
            }
        }
        let done = end_op(&op, &targets, |db| {
            result?;
            db.expect_is(&vm, "VM")?;
            set_template_flag(db, &vm, false);
            let mut oc = db.string_map(&vm, "other_config");
            oc.retain(|(k, _)| k != "disks" && k != "postinstall");
            db.set_named(&vm, "other_config", smap(&oc));
            Ok(())
        });
        if let Err(e) = done {
            drop_vdis(call, made).await;
            return Err(e);
        }
        Ok(void())
    })
}

// --- create / destroy / templates -------------------------------------------------

/// `VM.create`: the generic constructor, then what xapi adds: a metrics
/// object, no domain, the memory overhead and the allowed operations.
fn create(call: Call) -> BoxFuture {
    Box::pin(async move {
        let core = call.core.clone();
        let vm = crate::implicit::serve(&call)?;
        let r = vm.as_str().unwrap_or("").to_string();
        core.write(|db| {
            if db.is(&r, "VM") {
                ensure_metrics(db, &r);
                db.set_named(&r, "domid", Value::Int(-1));
                let overhead = memory::vm_overhead_of(db, &r);
                db.set_named(&r, "memory_overhead", Value::Int(overhead));
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
    db.expect_is(vm, "VM")?;
    if db.bool(vm, "is_default_template") {
        return Err(Failure::new("VM_CANNOT_DELETE_DEFAULT_TEMPLATE", [vm]));
    }
    assert_operation_valid(db, vm, "destroy")?;
    let parent = db.string(vm, "parent");
    for child in db.strings(vm, "children") {
        db.set_named(&child, "parent", Value::String(parent.clone()));
    }
    for f in ["VBDs", "VIFs", "consoles", "crash_dumps", "VTPMs", "VUSBs", "VGPUs"] {
        for r in db.strings(vm, f) {
            db.destroy(&r);
        }
    }
    for f in ["metrics", "guest_metrics"] {
        let r = db.string(vm, f);
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
        db.set_named(&m, "install_time", db.now());
    }
    db.set_named(vm, "is_a_template", Value::Bool(value));
    update_allowed_operations(db, vm);
}

fn set_is_a_template(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0);
    let value = call.bool(1);
    db.expect_is(vm, "VM")?;
    if value && !db.bool(vm, "is_a_template") {
        assert_operation_valid(db, vm, "make_into_template")?;
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
