//! `vm-uninstall`, `template-uninstall`, `snapshot-uninstall`: list what will
//! go (the VM, its snapshots, the disks it owns), ask unless `--force`, then
//! shut down, destroy the VMs and their owned disks.

use super::select::{self, Selector};
use super::CommandSpec;
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use std::io::BufRead;
use xenapi::{Value, NULL_REF};

pub const VM: CommandSpec = CommandSpec { name: "vm-uninstall", help: "", run: vm_uninstall };
pub const TEMPLATE: CommandSpec = CommandSpec { name: "template-uninstall", help: "", run: template_uninstall };
pub const SNAPSHOT: CommandSpec = CommandSpec { name: "snapshot-uninstall", help: "", run: snapshot_uninstall };

/// What one VM takes with it.
struct Plan {
    vm: String,
    uuid: String,
    name: String,
    vdis: Vec<String>,
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

/// Gathers a VM's owned disks (VBDs marked `owner`) and its suspend image.
fn plan(ctx: &mut Context, r: &str) -> CmdResult<Plan> {
    let rec = ctx.call("VM.get_record", vec![Value::str(r)])?;
    let mut vdis = Vec::new();
    for vbd in rec.get("VBDs").and_then(Value::as_array).unwrap_or(&[]).to_vec() {
        let other = ctx.call("VBD.get_other_config", vec![vbd.clone()])?;
        if other.get("owner").is_none() {
            continue;
        }
        let vdi = ctx.call("VBD.get_VDI", vec![vbd])?;
        if let Some(v) = vdi.as_str().filter(|v| *v != NULL_REF) {
            vdis.push(v.to_string());
        }
    }
    let suspend = s(&rec, "suspend_VDI");
    if !suspend.is_empty() && suspend != NULL_REF {
        vdis.push(suspend);
    }
    Ok(Plan { vm: r.to_string(), uuid: s(&rec, "uuid"), name: s(&rec, "name_label"), vdis })
}

fn uninstall(ctx: &mut Context, vms: Vec<String>) -> CmdResult {
    let mut plans = Vec::new();
    for r in &vms {
        let snaps = ctx.call("VM.get_snapshots", vec![Value::str(r.as_str())])?;
        plans.push(plan(ctx, r)?);
        for snap in snaps.as_array().unwrap_or(&[]).iter().filter_map(Value::as_str) {
            plans.push(plan(ctx, snap)?);
        }
    }
    let mut listing = String::from("The following items are about to be destroyed\n");
    for p in &plans {
        listing.push_str(&format!("VM : {} ({})\n", p.uuid, p.name));
        for vdi in &p.vdis {
            let rec = ctx.call("VDI.get_record", vec![Value::str(vdi.as_str())])?;
            let shared = rec.get("VBDs").and_then(Value::as_array).is_some_and(|v| v.len() > 1);
            let note = if shared { "(this disk is shared with other VMs)" } else { "" };
            listing.push_str(&format!("VDI: {} ({}) {note}\n", s(&rec, "uuid"), s(&rec, "name_label")));
        }
    }
    ctx.printer.raw(&listing);
    if !ctx.params.flag("force") {
        ctx.printer.raw("Type 'yes' to continue\n");
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !answer.trim().eq_ignore_ascii_case("yes") {
            ctx.printer.raw("Aborted\n");
            return Ok(());
        }
    }
    for p in &plans {
        let state = ctx.call("VM.get_power_state", vec![Value::str(p.vm.as_str())])?;
        if state.as_str() != Some("Halted") {
            ctx.call("VM.hard_shutdown", vec![Value::str(p.vm.as_str())])?;
        }
        ctx.call("VM.destroy", vec![Value::str(p.vm.as_str())])?;
        for vdi in &p.vdis {
            // A disk that is already gone (e.g. shared and destroyed earlier) is fine.
            let _ = ctx.call("VDI.destroy", vec![Value::str(vdi.as_str())]);
        }
    }
    ctx.printer.raw("All objects destroyed\n");
    Ok(())
}

fn vm_uninstall(ctx: &mut Context) -> CmdResult {
    let targets = select::select(ctx, Selector::VM)?;
    uninstall(ctx, targets.into_iter().map(|t| t.r).collect())
}

fn template_uninstall(ctx: &mut Context) -> CmdResult {
    let uuid = ctx.params.required("template-uuid")?.to_string();
    let r = ctx.lookup_uuid("VM", &uuid)?;
    let is_template = ctx.call("VM.get_is_a_template", vec![Value::str(r.as_str())])?;
    if is_template.as_bool() != Some(true) {
        return Err(CliError::failure(format!("{uuid} is not a template")));
    }
    uninstall(ctx, vec![r])
}

fn snapshot_uninstall(ctx: &mut Context) -> CmdResult {
    let r = super::vm::snapshot_arg(ctx)?;
    uninstall(ctx, vec![r])
}
