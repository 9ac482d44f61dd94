//! `vlan-create`: a VLAN on a PIF; prints the new untagged PIF.

use crate::commands::args::s;
use crate::commands::int64::ocaml_int64;
use crate::commands::{print_uuid, CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "vlan-create",
    help: "Create a VLAN on a PIF for a network and print the UUID of the new VLAN PIF.",
    run: Run::Fn(vlan_create),
};

fn vlan_create(ctx: &mut Context) -> CmdResult {
    let net = ctx.lookup_param("network", "network-uuid")?;
    let pif = ctx.lookup_param("PIF", "pif-uuid")?;
    let tag = ocaml_int64(ctx.params.required("vlan")?)
        .ok_or_else(|| CliError::failure("Failed to parse parameter 'vlan': expecting an integer"))?;
    let vlan = ctx.call("VLAN.create", vec![s(&pif), Value::Int(tag), s(&net)])?;
    let untagged = ctx.call("VLAN.get_untagged_PIF", vec![vlan])?;
    print_uuid(ctx, "PIF", &untagged)
}
