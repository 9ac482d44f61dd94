//! VM rules: which operations a VM allows in its state, after xapi's
//! `Xapi_vm_lifecycle` (`allowed_operations`, `current_operations`), and
//! the BIOS strings of HVM guests.

use crate::db::{ApiResult, Db, Failure};
use crate::values::{smap, sset};

const ALL_STATES: &[&str] = &["halted", "paused", "suspended", "running"];

/// Power states (lowercase, in xapi's order) in which an operation may start.
fn allowed_power_states(op: &str, snapshot: bool) -> &'static [&'static str] {
    match op {
        "import" => &[],
        "changing_VCPUs"
        | "changing_static_range"
        | "changing_memory_limits"
        | "changing_shadow_memory"
        | "changing_NVRAM"
        | "make_into_template"
        | "provision"
        | "start"
        | "start_on"
        | "create_vtpm" => &["halted"],
        "unpause" => &["paused"],
        "csvm" | "resume" | "resume_on" => &["suspended"],
        "awaiting_memory_live"
        | "call_plugin"
        | "clean_reboot"
        | "clean_shutdown"
        | "changing_memory_live"
        | "changing_shadow_memory_live"
        | "changing_VCPUs_live"
        | "data_source_op"
        | "pause"
        | "pool_migrate"
        | "send_sysrq"
        | "send_trigger"
        | "snapshot_with_quiesce"
        | "suspend" => &["running"],
        "changing_dynamic_range" => &["halted", "running"],
        "clone" | "copy" | "export" => &["halted", "suspended"],
        // Only halted VMs are destroyed; checkpoints are suspended snapshots and may go.
        "destroy" if snapshot => &["halted", "suspended"],
        "destroy" => &["halted"],
        "hard_reboot" | "checkpoint" => &["paused", "running"],
        "shutdown" | "hard_shutdown" => &["paused", "suspended", "running"],
        "migrate_send" => &["halted", "suspended", "running"],
        _ => ALL_STATES,
    }
}

/// Whether `op` may run while `current` operations are in progress.
fn allowed_concurrently(op: &str, current: &[(String, String)]) -> bool {
    let all_in = |set: &[&str]| set.contains(&op) && current.iter().all(|(_, o)| set.contains(&o.as_str()));
    if all_in(&["clone", "copy", "export"]) || all_in(&["snapshot", "checkpoint"]) || all_in(&["get_boot_record"]) {
        return true;
    }
    let ops: Vec<&str> = current.iter().map(|(_, o)| o.as_str()).collect();
    match op {
        "hard_shutdown" => !ops.contains(&"hard_shutdown"),
        "hard_reboot" => !ops.iter().any(|o| *o == "hard_shutdown" || *o == "hard_reboot"),
        _ => matches!(
            (ops.as_slice(), op),
            (["snapshot_with_quiesce"], "snapshot")
                | (["migrate_send"], "metadata_export" | "clean_shutdown" | "clean_reboot")
        ),
    }
}

/// Operations a template (not a snapshot) supports.
const TEMPLATE_OPS: &[&str] = &[
    "changing_dynamic_range",
    "changing_static_range",
    "changing_memory_limits",
    "changing_shadow_memory",
    "changing_VCPUs",
    "changing_NVRAM",
    "clone",
    "copy",
    "export",
    "metadata_export",
    "provision",
];

/// Operations a snapshot supports.
const SNAPSHOT_OPS: &[&str] = &["revert", "clone", "copy", "export", "destroy", "hard_shutdown", "metadata_export"];

/// Operations allowed on a control domain.
const CONTROL_DOMAIN_OPS: &[&str] = &[
    "data_source_op",
    "changing_memory_live",
    "awaiting_memory_live",
    "metadata_export",
    "changing_dynamic_range",
    "start",
    "start_on",
];

/// The operations `allowed_operations` is computed from, in xapi's order (the
/// field lists them reversed, as xapi's fold leaves them).
const CANDIDATE_OPS: &[&str] = &[
    "snapshot",
    "copy",
    "clone",
    "revert",
    "checkpoint",
    "snapshot_with_quiesce",
    "start",
    "start_on",
    "pause",
    "unpause",
    "clean_shutdown",
    "clean_reboot",
    "hard_shutdown",
    "hard_reboot",
    "suspend",
    "resume",
    "resume_on",
    "export",
    "destroy",
    "provision",
    "changing_VCPUs_live",
    "pool_migrate",
    "migrate_send",
    "make_into_template",
    "changing_static_range",
    "changing_shadow_memory",
    "changing_dynamic_range",
    "changing_NVRAM",
];

/// What the operation checks need to know about a VM.
struct VmFacts {
    vm: String,
    power: String,
    template: bool,
    default_template: bool,
    snapshot: bool,
    control: bool,
    dom0: bool,
    blocked: Vec<(String, String)>,
    current: Vec<(String, String)>,
    quiesce: bool,
    reset_on_boot: bool,
}

fn truthy(v: &str) -> bool {
    v == "1" || v.eq_ignore_ascii_case("true")
}

/// The VM's current operations whose tasks still exist: after a restart
/// (tasks die with the process) the rest are stale, as xapi's startup finds.
pub fn live_operations(db: &Db, vm: &str) -> Vec<(String, String)> {
    let task_c = db.cls("task");
    let mut ops = db.string_map(vm, "current_operations");
    ops.retain(|(t, _)| db.is_a(t, task_c));
    ops
}

fn facts(db: &Db, vm: &str) -> VmFacts {
    let other = db.string_map(vm, "other_config");
    let gm = db.string(vm, "guest_metrics");
    let quiesce = db.is(&gm, "VM_guest_metrics")
        && db.string_map(&gm, "other").iter().any(|(k, _)| k == "feature-quiesce" || k == "feature-snapshot");
    let reset_on_boot = db.strings(vm, "VBDs").iter().any(|vbd| {
        let vdi = db.string(vbd, "VDI");
        db.is(&vdi, "VDI") && db.string(&vdi, "on_boot") == "reset"
    });
    let control = db.bool(vm, "is_control_domain");
    VmFacts {
        vm: vm.to_string(),
        power: db.string(vm, "power_state").to_ascii_lowercase(),
        template: db.bool(vm, "is_a_template"),
        default_template: db.bool(vm, "is_default_template")
            || other.iter().any(|(k, v)| k == "default_template" && truthy(v)),
        snapshot: db.bool(vm, "is_a_snapshot"),
        control,
        dom0: control && db.int(vm, "domid") == 0,
        blocked: db.string_map(vm, "blocked_operations"),
        current: live_operations(db, vm),
        quiesce,
        reset_on_boot,
    }
}

/// The first reason `op` may not run now, as xapi's `check_operation_error` finds it.
fn operation_error(f: &VmFacts, op: &str) -> Option<Failure> {
    let vm = f.vm.as_str();
    if let Some((_, why)) = f.blocked.iter().find(|(k, _)| k == op) {
        return Some(Failure::new("OPERATION_BLOCKED", [vm, why.as_str()]));
    }
    let states = allowed_power_states(op, f.snapshot);
    if !states.contains(&f.power.as_str()) {
        return Some(Failure::new("VM_BAD_POWER_STATE", [vm, &states.join(", "), &f.power]));
    }
    if !f.current.is_empty() && !allowed_concurrently(op, &f.current) {
        let (ops, tasks) = match f.current.as_slice() {
            [(task, cur)] => (cur.clone(), task.clone()),
            many => {
                let ops: Vec<&str> = many.iter().map(|(_, o)| o.as_str()).collect();
                let tasks: Vec<&str> = many.iter().map(|(t, _)| t.as_str()).collect();
                (format!("{{{}}}", ops.join(",")), format!("{{{}}}", tasks.join(",")))
            }
        };
        return Some(Failure::new("OTHER_OPERATION_IN_PROGRESS", ["VM", vm, &ops, &tasks]));
    }
    if f.template && !f.snapshot {
        let ok = TEMPLATE_OPS.contains(&op) || (matches!(op, "destroy" | "migrate_send") && !f.default_template);
        if !ok {
            return Some(Failure::new("VM_IS_TEMPLATE", [vm, op]));
        }
    }
    if f.snapshot && !SNAPSHOT_OPS.contains(&op) {
        return Some(Failure::new("VM_IS_SNAPSHOT", [vm, op]));
    }
    if op == "provision" && !f.template {
        return Some(Failure::new::<&str>("PROVISION_ONLY_ALLOWED_ON_TEMPLATE", []));
    }
    if op == "revert" && !f.snapshot {
        return Some(Failure::new::<&str>("REVERT_ONLY_ALLOWED_ON_SNAPSHOT", []));
    }
    if f.dom0 && matches!(op, "changing_VCPUs" | "destroy") {
        return Some(Failure::new("OPERATION_NOT_ALLOWED", ["This operation is not allowed on dom0"]));
    }
    if f.control && !CONTROL_DOMAIN_OPS.contains(&op) {
        return Some(Failure::new("OPERATION_NOT_ALLOWED", ["This operation is not allowed on a control domain"]));
    }
    if op == "snapshot_with_quiesce" && !f.quiesce {
        return Some(Failure::new("VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED", [vm, ""]));
    }
    if f.reset_on_boot && matches!(op, "checkpoint" | "snapshot" | "suspend" | "snapshot_with_quiesce") {
        return Some(Failure::new::<&str>("VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION", []));
    }
    None
}

/// Fails with the reason `op` may not run on `vm` now.
pub fn assert_operation_valid(db: &Db, vm: &str, op: &str) -> ApiResult<()> {
    db.expect_is(vm, "VM")?;
    match operation_error(&facts(db, vm), op) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Recomputes `allowed_operations` from the VM's state, as xapi does after every change.
pub fn update_allowed_operations(db: &mut Db, vm: &str) {
    if !db.is(vm, "VM") {
        return;
    }
    let f = facts(db, vm);
    let ops: Vec<&str> = CANDIDATE_OPS.iter().rev().copied().filter(|op| operation_error(&f, op).is_none()).collect();
    db.set_named(vm, "allowed_operations", sset(&ops));
}

/// Marks `op` as running on `vm` under `task`.
pub fn enter(db: &mut Db, vm: &str, op: &str, task: &str) {
    let mut cur = live_operations(db, vm);
    cur.push((task.to_string(), op.to_string()));
    db.set_named(vm, "current_operations", smap(&cur));
    update_allowed_operations(db, vm);
}

/// Removes `task`'s operation (and any stale ones) from `vm`, if it is still there.
pub fn leave(db: &mut Db, vm: &str, task: &str) {
    if !db.is(vm, "VM") {
        return;
    }
    let before = db.string_map(vm, "current_operations").len();
    let mut cur = live_operations(db, vm);
    cur.retain(|(t, _)| t != task);
    if cur.len() != before {
        db.set_named(vm, "current_operations", smap(&cur));
    }
    update_allowed_operations(db, vm);
}

// --- BIOS strings -----------------------------------------------------------

/// The BIOS strings xapi gives an HVM guest that has none.
pub const GENERIC_BIOS_STRINGS: &[(&str, &str)] = &[
    ("bios-vendor", "Xen"),
    ("bios-version", ""),
    ("system-manufacturer", "Xen"),
    ("system-product-name", "HVM domU"),
    ("system-version", ""),
    ("system-serial-number", ""),
    ("baseboard-manufacturer", ""),
    ("baseboard-product-name", ""),
    ("baseboard-version", ""),
    ("baseboard-serial-number", ""),
    ("baseboard-asset-tag", ""),
    ("baseboard-location-in-chassis", ""),
    ("enclosure-asset-tag", ""),
    ("hp-rombios", ""),
    ("oem-1", "Xen"),
    ("oem-2", "MS_VM_CERT/SHA1/bdbeb6e0a816d43fa6d3fe8aaef04c2bad9d3e3d"),
];

// BIOS strings a user may set: a fact of the API, shared with xe.
pub use xenapi::model::SETTABLE_BIOS_STRINGS;
