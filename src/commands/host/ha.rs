//! `host-emergency-ha-disable`: the host the session is local to leaves
//! HA at once (`soft=true` is no error when HA is off); needs `--force`.

use crate::commands::vm::NO_FORCE;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

pub const EMERGENCY_DISABLE: CommandSpec = CommandSpec {
    name: "host-emergency-ha-disable",
    help: "Disable HA on this host in an emergency, using a local session; requires --force.",
    run: Run::Fn(emergency_disable),
};

fn emergency_disable(ctx: &mut Context) -> CmdResult {
    let soft = ctx.params.bool("soft", false)?;
    if !ctx.params.bool("force", false)? {
        return Err(CliError::failure(NO_FORCE));
    }
    ctx.use_local_session();
    ctx.call("host.emergency_ha_disable", vec![Value::Bool(soft)])?;
    Ok(())
}
