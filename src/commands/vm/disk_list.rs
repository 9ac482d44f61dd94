//! `vm-disk-list` and `vm-cd-list`: the disks or CD drives of the selected VMs.

use super::{text, vbd_refs};
use crate::commands::args::s;
use crate::commands::generic::record_of;
use crate::commands::select::{self, Selector};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;

/// `vm-disk-list` and `vm-cd-list`: each VBD of the type, in the VM's
/// order, then its VDI unless the drive is empty. `vbd-params=` and
/// `vdi-params=` choose the fields (a plain `params=` given first serves both).
fn disk_list(ctx: &mut Context, ty: &str, label: &str, vbd_default: &str) -> CmdResult {
    let vbd_params = ctx.params.first_of(&["vbd-params", "params"]).map(str::to_string);
    let vdi_params = ctx.params.first_of(&["vdi-params", "params"]).map(str::to_string);
    let vms = select::select(ctx, Selector::VM)?;
    for vm in &vms {
        let mut vbds = Vec::new();
        for vbd in vbd_refs(vm) {
            if ctx.call("VBD.get_type", vec![s(&vbd)])?.as_str() == Some(ty) {
                vbds.push(vbd);
            }
        }
        let mut shown = Vec::new();
        for vbd in vbds {
            let rec = ctx.call_record("VBD.get_record", vec![s(&vbd)])?;
            let vdi = if ctx.call("VBD.get_empty", vec![s(&vbd)])?.as_bool() == Some(true) {
                None
            } else {
                let vdi = text(ctx.call("VBD.get_VDI", vec![s(&vbd)])?);
                let vdi_rec = ctx.call_record("VDI.get_record", vec![s(&vdi)])?;
                Some((vdi, vdi_rec))
            };
            shown.push((vbd, rec, vdi));
        }
        for (n, (vbd, rec, vdi)) in shown.into_iter().enumerate() {
            ctx.printer.message(&format!("{label} {n} VBD:"));
            let r = record_of(ctx, "vbd", &vbd, &rec, vbd_params.as_deref(), vbd_default)?;
            ctx.printer.records(&[r]);
            if let Some((vdi, vdi_rec)) = vdi {
                ctx.printer.message(&format!("{label} {n} VDI:"));
                let default = "uuid,name-label,virtual-size,sr-name-label";
                let r = record_of(ctx, "vdi", &vdi, &vdi_rec, vdi_params.as_deref(), default)?;
                ctx.printer.records(&[r]);
            }
        }
    }
    Ok(())
}

pub const VM_DISK_LIST: CommandSpec = CommandSpec {
    name: "vm-disk-list",
    help: "List the disks of a VM with their VBD and VDI details.",
    run: Run::Fn(|ctx| disk_list(ctx, "Disk", "Disk", "uuid,vm-name-label,userdevice")),
};

pub const VM_CD_LIST: CommandSpec = CommandSpec {
    name: "vm-cd-list",
    help: "List the CD drives of a VM and the discs in them.",
    run: Run::Fn(|ctx| disk_list(ctx, "CD", "CD", "uuid,vm-name-label,userdevice,empty")),
};
