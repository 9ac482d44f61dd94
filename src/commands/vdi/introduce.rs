//! `vdi-introduce`: a record for a VDI that already exists in an SR.

use super::vdi_type;
use crate::commands::args::{map, s};
use crate::commands::{print_uuid, CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::{Value, NULL_REF};

pub const SPEC: CommandSpec = CommandSpec {
    name: "vdi-introduce",
    help: "Create a record for an existing disk at a location on an SR and print its UUID.",
    run: Run::Fn(vdi_introduce),
};

fn vdi_introduce(ctx: &mut Context) -> CmdResult {
    let sr = ctx.lookup_param("SR", "sr-uuid")?;
    let ty = vdi_type(ctx.params.required("type")?)?;
    let args = vec![
        s(ctx.params.required("uuid")?),
        s(ctx.params.get("name-label").unwrap_or("")),
        s(ctx.params.get("name-description").unwrap_or("")),
        s(&sr),
        s(ty),
        Value::Bool(ctx.params.bool("sharable", false)?),
        Value::Bool(ctx.params.bool("read-only", false)?),
        map(ctx.params.map("other-config")),
        s(ctx.params.required("location")?),
        map(ctx.params.map("xenstore-data")),
        map(ctx.params.map("sm-config")),
        Value::Bool(ctx.params.bool("managed", false)?),
        Value::Int(0),
        Value::Int(0),
        s(NULL_REF),
        Value::Bool(false),
        Value::DateTime(xenapi::datetime::EPOCH.to_string()),
        s(NULL_REF),
    ];
    let vdi = ctx.call("VDI.introduce", args)?;
    print_uuid(ctx, "VDI", &vdi)
}
