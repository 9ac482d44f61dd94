//! `sr-introduce`: a record for an SR that already exists.

use crate::commands::args::{map, s};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "sr-introduce",
    help: "Create a database record for an existing SR; PBDs are still needed to use it.",
    run: Run::Fn(sr_introduce),
};

fn sr_introduce(ctx: &mut Context) -> CmdResult {
    let shared = ctx.params.bool("shared", false)?;
    let args = vec![
        s(ctx.params.required("uuid")?),
        s(ctx.params.required("name-label")?),
        s(ctx.params.get("name-description").unwrap_or("")),
        s(ctx.params.required("type")?),
        s(ctx.params.get("content-type").unwrap_or("")),
        Value::Bool(shared),
        map(ctx.params.map("sm-config")),
    ];
    ctx.call("SR.introduce", args)?;
    // xe prints the uuid it was given.
    let uuid = ctx.params.required("uuid")?.to_string();
    ctx.printer.list(&[uuid]);
    Ok(())
}
