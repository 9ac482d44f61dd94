//! `vm-cd-insert`: put an ISO into the empty CD drive of the selected VMs.

use super::vbd_refs;
use crate::commands::args::s;
use crate::commands::select::{self, Selector};
use crate::commands::vdi::iso_vdis_named;
use crate::commands::{CommandSpec, Run};
use crate::connect::CallError;
use crate::context::Context;
use crate::error::{CliError, CmdResult};

pub const SPEC: CommandSpec = CommandSpec {
    name: "vm-cd-insert",
    help: "Insert a named ISO from the CD library into the only empty CD drive of a VM.",
    run: Run::Fn(vm_cd_insert),
};

/// `vm-cd-insert`: the ISO must be unique by name, and the VM must have
/// exactly one empty CD drive.
fn vm_cd_insert(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("cd-name")?.to_string();
    let cds = iso_vdis_named(ctx, &name)?;
    let cd = match cds.as_slice() {
        [] => return Err(CliError::failure(format!("CD {name} not found"))),
        [one] => one.clone(),
        _ => {
            return Err(CliError::failure(format!(
                "Multiple CDs named {name} found. Please use vbd-insert and specify uuids"
            )))
        }
    };
    let vms = select::select(ctx, Selector::VM)?;
    select::run_each(ctx, &vms, |api, vm| {
        let mut empty = Vec::new();
        for vbd in vbd_refs(vm) {
            if api.call("VBD.get_type", vec![s(&vbd)])?.as_str() == Some("CD")
                && api.call("VBD.get_empty", vec![s(&vbd)])?.as_bool() == Some(true)
            {
                empty.push(vbd);
            }
        }
        match empty.as_slice() {
            [] => Err(CallError::Api("VM_NO_EMPTY_CD_VBD".into(), vec![vm.r.clone()])),
            [one] => api.call("VBD.insert", vec![s(one), s(&cd)]).map(|_| None),
            _ => Err(CallError::Cli(CliError::failure("Two or more empty CD devices found. Please use vbd-insert"))),
        }
    })?;
    Ok(())
}
