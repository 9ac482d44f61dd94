//! `vm-uninstall`, `template-uninstall`, `snapshot-uninstall`: list what will
//! go (the VMs, the disks they own, their suspend images), ask unless
//! `--force`, then shut down and destroy each VM and its disks. Only
//! `vm-uninstall` takes the VMs' snapshots along.

use crate::commands::select::{self, Selector};
use crate::commands::{CommandSpec, Run};
use crate::connect::Api;
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::{Value, NULL_REF};

pub const VM: CommandSpec = CommandSpec {
    name: "vm-uninstall",
    help: "Destroy a VM, its snapshots and the disks they own; asks for confirmation unless --force.",
    run: Run::Fn(vm_uninstall),
};
pub const TEMPLATE: CommandSpec = CommandSpec {
    name: "template-uninstall",
    help: "Destroy a template and the disks it owns; asks for confirmation unless --force.",
    run: Run::Fn(template_uninstall),
};
pub const SNAPSHOT: CommandSpec = CommandSpec {
    name: "snapshot-uninstall",
    help: "Destroy a snapshot and the disks it owns; asks for confirmation unless --force.",
    run: Run::Fn(snapshot_uninstall),
};

/// What one VM takes with it, and the lines that announce it.
struct Plan {
    vm: String,
    owned: Vec<String>,
    suspend: Option<String>,
    lines: Vec<String>,
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

/// The VBD's disk if the VBD owns it. A VBD or disk that cannot be read
/// (gone meanwhile, or an empty drive) is skipped, as xe skips it.
fn owned_disk(ctx: &mut Context, vbd: &Value) -> Option<String> {
    let other = Api::call(ctx, "VBD.get_other_config", vec![vbd.clone()]).ok()?;
    let vdi = Api::call(ctx, "VBD.get_VDI", vec![vbd.clone()]).ok()?;
    Api::call(ctx, "VDI.get_uuid", vec![vdi.clone()]).ok()?;
    other.get("owner").is_some().then(|| vdi.as_str().unwrap_or("").to_string())
}

/// The VM's suspend image, if it has one that exists.
fn suspend_disk(ctx: &mut Context, vm: &Value) -> Option<String> {
    let vdi = Api::call(ctx, "VM.get_suspend_VDI", vec![vm.clone()]).ok()?;
    Api::call(ctx, "VDI.get_uuid", vec![vdi.clone()]).ok()?;
    vdi.as_str().filter(|r| *r != NULL_REF).map(str::to_string)
}

fn disk_line(ctx: &mut Context, vdi: &str) -> CmdResult<String> {
    let rec = ctx.call("VDI.get_record", vec![Value::str(vdi)])?;
    let shared = rec.get("VBDs").and_then(Value::as_array).is_some_and(|v| v.len() > 1);
    let note = if shared { " ** WARNING: disk is shared by other VMs" } else { "" };
    Ok(format!("VDI: {} ({}) {note}", s(&rec, "uuid"), s(&rec, "name_label")))
}

fn plan(ctx: &mut Context, vm: &str) -> CmdResult<Plan> {
    let v = Value::str(vm);
    let vbds = ctx.call("VM.get_VBDs", vec![v.clone()])?;
    let mut owned = Vec::new();
    for vbd in vbds.as_array().unwrap_or(&[]) {
        owned.extend(owned_disk(ctx, vbd));
    }
    let suspend = suspend_disk(ctx, &v);
    // xe reads the records for the listing last line first: the suspend
    // image, then the owned disks, then the VM.
    let suspend_line = match &suspend {
        Some(r) => Some(disk_line(ctx, r)?),
        None => None,
    };
    let mut disk_lines = Vec::with_capacity(owned.len());
    for r in &owned {
        disk_lines.push(disk_line(ctx, r)?);
    }
    let rec = ctx.call("VM.get_record", vec![v])?;
    let mut lines = vec![format!("VM : {} ({})", s(&rec, "uuid"), s(&rec, "name_label"))];
    lines.extend(disk_lines);
    lines.extend(suspend_line);
    Ok(Plan { vm: vm.to_string(), owned, suspend, lines })
}

/// Shuts the VM down if needed and destroys it, its owned disks (a failure
/// stops everything) and its suspend image (a failure is ignored).
fn destroy(ctx: &mut Context, p: &Plan) -> CmdResult {
    let vm = Value::str(p.vm.as_str());
    let state = ctx.call("VM.get_power_state", vec![vm.clone()])?;
    if !state.as_str().is_some_and(|st| st.eq_ignore_ascii_case("halted")) {
        ctx.call("VM.hard_shutdown", vec![vm.clone()])?;
    }
    ctx.call("VM.destroy", vec![vm])?;
    for vdi in &p.owned {
        ctx.call("VDI.destroy", vec![Value::str(vdi.as_str())])?;
    }
    if let Some(vdi) = &p.suspend {
        let _ = Api::call(ctx, "VDI.destroy", vec![Value::str(vdi.as_str())]);
    }
    Ok(())
}

fn uninstall(ctx: &mut Context, vms: Vec<String>) -> CmdResult {
    let mut plans = Vec::with_capacity(vms.len());
    for vm in &vms {
        plans.push(plan(ctx, vm)?);
    }
    let mut listing = String::from("The following items are about to be destroyed\n");
    for line in plans.iter().flat_map(|p| &p.lines) {
        listing.push_str(line);
        listing.push('\n');
    }
    ctx.printer.raw(&listing);
    // Read only now: xe shows the listing before it looks at `force`.
    if !ctx.params.bool("force", false)? && !crate::commands::confirm::user_says_yes(ctx)? {
        return Ok(());
    }
    for p in &plans {
        destroy(ctx, p)?;
    }
    ctx.printer.raw("All objects destroyed\n");
    Ok(())
}

/// The selected VMs, then all their snapshots. Like xe, several VMs
/// selected with `--multiple` come last first.
fn vm_uninstall(ctx: &mut Context) -> CmdResult {
    let mut vms: Vec<String> = select::select(ctx, Selector::VM)?.into_iter().map(|t| t.r).collect();
    if vms.len() > 1 {
        vms.reverse();
    }
    let mut all = vms.clone();
    for vm in &vms {
        let snaps = ctx.call("VM.get_snapshots", vec![Value::str(vm.as_str())])?;
        all.extend(snaps.as_array().unwrap_or(&[]).iter().filter_map(Value::as_str).map(str::to_string));
    }
    uninstall(ctx, all)
}

fn template_uninstall(ctx: &mut Context) -> CmdResult {
    let uuid = ctx.params.required("template-uuid")?.to_string();
    let r = ctx.lookup_uuid("VM", &uuid)?;
    let is_template = ctx.call("VM.get_is_a_template", vec![Value::str(r.as_str())])?;
    if is_template.as_bool() != Some(true) {
        return Err(CliError::failure(format!(
            "This operation can only be performed on a VM template. {uuid} is not a VM template."
        )));
    }
    uninstall(ctx, vec![r])
}

fn snapshot_uninstall(ctx: &mut Context) -> CmdResult {
    let r = crate::commands::snapshot::snapshot_arg(ctx)?;
    uninstall(ctx, vec![r])
}
