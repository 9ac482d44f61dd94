//! `pbd-create`: a PBD joining a host to an SR.

use crate::commands::args::{map, s};
use crate::commands::{print_uuid, CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "pbd-create",
    help: "Create a PBD connecting a host to an SR with a device configuration and print its UUID.",
    run: Run::Fn(pbd_create),
};

fn pbd_create(ctx: &mut Context) -> CmdResult {
    let host = ctx.lookup_param("host", "host-uuid")?;
    let sr = ctx.lookup_param("SR", "sr-uuid")?;
    let rec = Value::Struct(vec![
        ("host".into(), s(&host)),
        ("SR".into(), s(&sr)),
        ("device_config".into(), map(ctx.params.map("device-config"))),
        ("other_config".into(), Value::Struct(Vec::new())),
    ]);
    let pbd = ctx.call("PBD.create", vec![rec])?;
    print_uuid(ctx, "PBD", &pbd)
}
