//! `vm-disk-remove`: destroy a disk of the selected VMs with its VBD.

use crate::commands::args::s;
use crate::commands::select::{self, Selector};
use crate::commands::{CommandSpec, Run};
use crate::connect::CallError;
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "vm-disk-remove",
    help: "Detach the disk at a device position from a VM and destroy it.",
    run: Run::Fn(vm_disk_remove),
};

/// `vm-disk-remove`: destroys the VBD at `device` and then its VDI. It never
/// unplugs: the server refuses to destroy an attached VBD, and the disk and
/// its data stay.
fn vm_disk_remove(ctx: &mut Context) -> CmdResult {
    let device = ctx.params.required("device")?.to_string();
    let vms = select::select(ctx, Selector::VM)?;
    select::run_each(ctx, &vms, |api, vm| {
        let rec = api.call("VM.get_record", vec![s(&vm.r)])?;
        let vbds = rec.get("VBDs").and_then(Value::as_array).unwrap_or(&[]).to_vec();
        let mut found = None;
        for vbd in vbds {
            if api.call("VBD.get_userdevice", vec![vbd.clone()])?.as_str() == Some(device.as_str()) {
                found = Some(vbd);
                break;
            }
        }
        let Some(vbd) = found else { return Err(CallError::Cli(CliError::failure("Disk not found"))) };
        let vdi = api.call("VBD.get_VDI", vec![vbd.clone()])?;
        api.call("VBD.destroy", vec![vbd])?;
        api.call("VDI.destroy", vec![vdi])?;
        Ok(None)
    })?;
    Ok(())
}
