//! `sr-probe`: what an SR driver finds with the given configuration.

use super::parse_host_uuid;
use crate::commands::args::{map, s};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "sr-probe",
    help: "Ask a storage backend what it finds for a device configuration and print the reply.",
    run: Run::Fn(sr_probe),
};

fn sr_probe(ctx: &mut Context) -> CmdResult {
    let host = parse_host_uuid(ctx, true)?;
    let dc = ctx.params.map("device-config");
    let ty = ctx.params.required("type")?.to_string();
    let out = ctx.call("SR.probe", vec![s(&host), map(dc), Value::String(ty), map(ctx.params.map("sm-config"))])?;
    ctx.printer.list(&[out.to_string()]);
    Ok(())
}
