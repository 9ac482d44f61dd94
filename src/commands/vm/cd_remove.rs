//! `vm-cd-remove`: destroy the CD drive holding an ISO.

use super::vbd_refs;
use crate::commands::args::s;
use crate::commands::select::{self, Selector};
use crate::commands::{CommandSpec, Run};
use crate::connect::{Api, CallError};
use crate::context::Context;
use crate::error::{CliError, CmdResult};

pub const SPEC: CommandSpec = CommandSpec {
    name: "vm-cd-remove",
    help: "Remove the CD drive holding a named disc from a VM.",
    run: Run::Fn(vm_cd_remove),
};

/// `vm-cd-remove`: destroys the first drive holding the ISO named `cd-name`
/// (`<EMPTY>` names an empty drive). Like xe it does not eject or unplug.
fn vm_cd_remove(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("cd-name")?.to_string();
    let vms = select::select(ctx, Selector::VM)?;
    select::run_each(ctx, &vms, |api, vm| {
        let holds = |api: &mut dyn Api, vbd: &str| -> Result<bool, CallError> {
            let vdi = api.call("VBD.get_VDI", vec![s(vbd)])?;
            let sr = api.call("VDI.get_SR", vec![vdi.clone()])?;
            Ok(api.call("SR.get_content_type", vec![sr])?.as_str() == Some("iso")
                && api.call("VDI.get_name_label", vec![vdi])?.as_str() == Some(name.as_str()))
        };
        let mut found = None;
        for vbd in vbd_refs(vm) {
            // A drive whose disk cannot be read (an empty one) is `<EMPTY>`.
            let matches = match holds(api, &vbd) {
                Ok(m) => m,
                Err(CallError::Api(..)) => name == "<EMPTY>",
                Err(e) => return Err(e),
            };
            if matches {
                found = Some(vbd);
                break;
            }
        }
        let Some(vbd) = found else { return Err(CallError::Cli(CliError::failure("Disk not found"))) };
        api.call("VBD.destroy", vec![s(&vbd)])?;
        Ok(None)
    })?;
    Ok(())
}
