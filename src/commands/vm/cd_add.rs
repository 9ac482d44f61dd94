//! `vm-cd-add`: a CD drive holding an ISO for each selected VM.

use crate::commands::select::{self, Selector};
use crate::commands::vbd::{attach, VbdSpec};
use crate::commands::vdi::iso_vdis_named;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};

pub const SPEC: CommandSpec = CommandSpec {
    name: "vm-cd-add",
    help: "Add a CD drive holding a named ISO from the CD library to a VM at the given device position.",
    run: Run::Fn(vm_cd_add),
};

/// `vm-cd-add`: a read-only CD drive holding the first ISO named `cd-name`.
fn vm_cd_add(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("cd-name")?.to_string();
    let Some(cd) = iso_vdis_named(ctx, &name)?.into_iter().next() else {
        return Err(CliError::failure(format!("CD {name} not found!")));
    };
    let device = ctx.params.required("device")?.to_string();
    let vms = select::select(ctx, Selector::VM)?;
    select::run_each(ctx, &vms, |api, vm| {
        let spec = VbdSpec {
            vm: &vm.r,
            vdi: Some(&cd),
            device: &device,
            mode: "RO",
            ty: "CD",
            bootable: false,
            unpluggable: true,
            owner: false,
        };
        attach(api, &spec)?;
        Ok(None)
    })?;
    Ok(())
}
