//! `vdi-clone`: a new VDI sharing its blocks with another.

use crate::commands::args::{map, s};
use crate::commands::{print_uuid, CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "vdi-clone",
    help: "Clone a VDI, using a fast storage clone where possible, and print the new VDI's UUID.",
    run: Run::Fn(vdi_clone),
};

fn vdi_clone(ctx: &mut Context) -> CmdResult {
    let vdi = ctx.lookup_param("VDI", "uuid")?;
    let new = ctx.call_async("VDI.clone", vec![s(&vdi), map(ctx.params.map("driver-params"))])?;
    if let Some(name) = ctx.params.get("new-name-label").map(str::to_string) {
        ctx.call("VDI.set_name_label", vec![new.clone(), Value::String(name)])?;
    }
    if let Some(d) = ctx.params.get("new-name-description").map(str::to_string) {
        ctx.call("VDI.set_name_description", vec![new.clone(), Value::String(d)])?;
    }
    print_uuid(ctx, "VDI", &new)
}
