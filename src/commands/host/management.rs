//! The management interface: `host-management-reconfigure`,
//! `pool-management-reconfigure`, and the local-session commands
//! `host-management-disable`, `host-emergency-management-reconfigure` and
//! `host-is-in-emergency-mode`, which act on the host xe is connected to.

use crate::commands::args::s;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;

pub const RECONFIGURE: CommandSpec = CommandSpec {
    name: "host-management-reconfigure",
    help: "Move a host's management interface to the given PIF; the host then answers at that PIF's address.",
    run: Run::Fn(reconfigure),
};

pub const POOL_RECONFIGURE: CommandSpec = CommandSpec {
    name: "pool-management-reconfigure",
    help: "Move the management interface of every host of the pool to its PIF on the given network.",
    run: Run::Fn(pool_reconfigure),
};

pub const DISABLE: CommandSpec = CommandSpec {
    name: "host-management-disable",
    help: "Turn off the management interface of the host xe is connected to, using a local session.",
    run: Run::Fn(disable),
};

pub const EMERGENCY_RECONFIGURE: CommandSpec = CommandSpec {
    name: "host-emergency-management-reconfigure",
    help: "Move this host's management interface to a network device in an emergency, using a local session.",
    run: Run::Fn(emergency_reconfigure),
};

pub const IN_EMERGENCY: CommandSpec = CommandSpec {
    name: "host-is-in-emergency-mode",
    help: "Print true if the host xe is connected to is in emergency mode (cut off from its master).",
    run: Run::Fn(in_emergency),
};

fn reconfigure(ctx: &mut Context) -> CmdResult {
    let pif = ctx.lookup_param("PIF", "pif-uuid")?;
    ctx.call("host.management_reconfigure", vec![s(&pif)])?;
    Ok(())
}

fn pool_reconfigure(ctx: &mut Context) -> CmdResult {
    let network = ctx.lookup_param("network", "network-uuid")?;
    ctx.call("pool.management_reconfigure", vec![s(&network)])?;
    Ok(())
}

fn disable(ctx: &mut Context) -> CmdResult {
    ctx.use_local_session();
    ctx.call("host.management_disable", vec![])?;
    Ok(())
}

fn emergency_reconfigure(ctx: &mut Context) -> CmdResult {
    let interface = ctx.params.required("interface")?.to_string();
    ctx.use_local_session();
    ctx.call("host.local_management_reconfigure", vec![s(&interface)])?;
    Ok(())
}

fn in_emergency(ctx: &mut Context) -> CmdResult {
    ctx.use_local_session();
    let mode = ctx.call("host.is_in_emergency_mode", vec![])?;
    let text = if mode.as_bool() == Some(true) { "true" } else { "false" };
    ctx.printer.message(text);
    Ok(())
}
