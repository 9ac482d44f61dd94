//! `vlan-destroy`: destroy a VLAN, or the VLAN PIF named instead.

use crate::commands::args::s;
use crate::commands::{CommandSpec, Run};
use crate::connect::{Api, CallError};
use crate::context::Context;
use crate::error::CmdResult;

pub const SPEC: CommandSpec = CommandSpec {
    name: "vlan-destroy",
    help: "Destroy a VLAN, given its UUID or the UUID of its VLAN PIF.",
    run: Run::Fn(vlan_destroy),
};

/// Destroys a VLAN by its uuid; as in xe, a uuid that is not a VLAN's may
/// be its PIF's, and that PIF is destroyed instead.
fn vlan_destroy(ctx: &mut Context) -> CmdResult {
    let uuid = ctx.params.required("uuid")?.to_string();
    let first = match Api::call(ctx, "VLAN.get_by_uuid", vec![s(&uuid)]) {
        Ok(vlan) => match Api::call(ctx, "VLAN.destroy", vec![vlan]) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        },
        Err(e) => e,
    };
    if let CallError::Api(code, _) = &first {
        if code == "HANDLE_INVALID" || code == "HOST_OFFLINE" {
            return Err(ctx.describe(first));
        }
    }
    match Api::call(ctx, "PIF.get_by_uuid", vec![s(&uuid)]) {
        Ok(pif) => {
            ctx.call("PIF.destroy", vec![pif])?;
            Ok(())
        }
        Err(_) => Err(ctx.describe(first)),
    }
}
