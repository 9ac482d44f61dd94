//! `vdi-create`: a new VDI in an SR.

use super::{vdi_record, vdi_type};
use crate::commands::args::map;
use crate::commands::sizes::parse_size;
use crate::commands::{print_uuid, CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "vdi-create",
    help: "Create a VDI of a given size on an SR and print its UUID.",
    run: Run::Fn(vdi_create),
};

fn vdi_create(ctx: &mut Context) -> CmdResult {
    let sr = ctx.lookup_param("SR", "sr-uuid")?;
    let name = ctx.params.required("name-label")?.to_string();
    let size = parse_size("virtual-size", ctx.params.required("virtual-size")?)?;
    let ty = vdi_type(ctx.params.get("type").unwrap_or("user"))?;
    let sharable = ctx.params.bool("sharable", false)?;
    // `tags:<tag>` names a tag by its key; the value is not used.
    let tags: Vec<Value> = ctx.params.map("tags").into_iter().map(|(k, _)| Value::String(k)).collect();
    let rec = vdi_record(&name, &sr, size, ty, sharable, map(ctx.params.map("sm-config")), tags);
    let vdi = ctx.call("VDI.create", vec![rec])?;
    print_uuid(ctx, "VDI", &vdi)
}
