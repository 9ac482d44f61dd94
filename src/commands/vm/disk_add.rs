//! `vm-disk-add`: a new disk for each selected VM.

use super::text;
use crate::commands::args::{map, s};
use crate::commands::select::{self, Selector};
use crate::commands::sizes::parse_size;
use crate::commands::vbd::{attach, VbdSpec};
use crate::commands::vdi::vdi_record;
use crate::commands::{CommandSpec, Run};
use crate::connect::Api;
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::{Value, NULL_REF};

pub const SPEC: CommandSpec = CommandSpec {
    name: "vm-disk-add",
    help: "Create a new disk of a given size and attach it to a VM at the given device position.",
    run: Run::Fn(vm_disk_add),
};

/// The pool's default SR, if it names one that exists.
pub(super) fn default_sr(ctx: &mut Context) -> CmdResult<Option<String>> {
    let pools = ctx.call_refs("pool.get_all", vec![])?;
    let pool = pools.first().map_or(s(NULL_REF), |p| s(p));
    let sr = ctx.call("pool.get_default_SR", vec![pool])?;
    // A null or dangling default is "no default" (xe asks for its uuid).
    match Api::call(ctx, "SR.get_uuid", vec![sr]) {
        Ok(uuid) => Ok(Some(text(uuid))),
        Err(_) => Ok(None),
    }
}

/// `vm-disk-add`: a new VDI named as xe names it, attached through a VBD the
/// VM owns; the VDI is destroyed again when the VBD cannot be made.
fn vm_disk_add(ctx: &mut Context) -> CmdResult {
    let size = parse_size("disk-size", ctx.params.required("disk-size")?)?;
    let device = ctx.params.required("device")?.to_string();
    let sr = match ctx.params.get("sr-uuid").map(str::to_string) {
        Some(u) => ctx.lookup_uuid("SR", &u)?,
        None => match default_sr(ctx)? {
            Some(uuid) => ctx.lookup_uuid("SR", &uuid)?,
            None => return Err(CliError::failure("No default Pool SR set; you must specify an SR on the commandline")),
        },
    };
    let vms = select::select(ctx, Selector::VM)?;
    select::run_each(ctx, &vms, |api, vm| {
        const NAME: &str = "Created by xe";
        let mut rec =
            vdi_record(NAME, &sr, size, "user", false, map(vec![("vmhint".into(), vm.uuid.clone())]), Vec::new());
        if let Value::Struct(members) = &mut rec {
            for (k, v) in members.iter_mut() {
                if k == "name_description" {
                    *v = s(NAME);
                }
            }
        }
        let vdi = text(api.call("VDI.create", vec![rec])?);
        let spec = VbdSpec {
            vm: &vm.r,
            vdi: Some(&vdi),
            device: &device,
            mode: "RW",
            ty: "Disk",
            bootable: false,
            unpluggable: true,
            owner: true,
        };
        if let Err(e) = attach(api, &spec) {
            // Nothing is left behind: the new disk goes with the failed VBD.
            let _ = api.call("VDI.destroy", vec![s(&vdi)]);
            return Err(e);
        }
        Ok(None)
    })?;
    Ok(())
}
