//! `vm-cd-eject`: empty the CD drive of the selected VMs.

use super::vbd_refs;
use crate::commands::args::s;
use crate::commands::select::{self, Selector};
use crate::commands::{CommandSpec, Run};
use crate::connect::CallError;
use crate::context::Context;
use crate::error::{CliError, CmdResult};

pub const SPEC: CommandSpec = CommandSpec {
    name: "vm-cd-eject",
    help: "Eject the disc from the only CD drive of a VM.",
    run: Run::Fn(vm_cd_eject),
};

/// `vm-cd-eject`: the VM must have exactly one CD drive.
fn vm_cd_eject(ctx: &mut Context) -> CmdResult {
    let vms = select::select(ctx, Selector::VM)?;
    select::run_each(ctx, &vms, |api, vm| {
        let mut drives = Vec::new();
        for vbd in vbd_refs(vm) {
            if api.call("VBD.get_type", vec![s(&vbd)])?.as_str() == Some("CD") {
                drives.push(vbd);
            }
        }
        match drives.as_slice() {
            [] => Err(CallError::Cli(CliError::failure("No CDs found"))),
            [one] => api.call("VBD.eject", vec![s(one)]).map(|_| None),
            _ => Err(CallError::Cli(CliError::failure("Two or more CDs found. Please use vbd-eject"))),
        }
    })?;
    Ok(())
}
