//! Master changes: `pool-designate-new-master`, the emergency commands
//! that run on a member with a session local to it (xe's
//! `No_fd_local_session`), `pool-recover-slaves` and `pool-sync-database`.

use super::membership::FUSE_TIME;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const DESIGNATE: CommandSpec = CommandSpec {
    name: "pool-designate-new-master",
    help: "Hand the master role over to another host of the pool.",
    run: Run::Fn(designate),
};

pub const RESET_MASTER: CommandSpec = CommandSpec {
    name: "pool-emergency-reset-master",
    help: "Point this host at a new master address after the old master is lost.",
    run: Run::Fn(reset_master),
};

pub const TRANSITION: CommandSpec = CommandSpec {
    name: "pool-emergency-transition-to-master",
    help: "Make this pool member the master; does nothing on the master itself unless --force.",
    run: Run::Fn(transition),
};

pub const RECOVER: CommandSpec = CommandSpec {
    name: "pool-recover-slaves",
    help: "Reclaim members stuck in emergency mode and print the UUIDs of those recovered.",
    run: Run::Fn(recover),
};

pub const SYNC: CommandSpec =
    CommandSpec { name: "pool-sync-database", help: "Copy the pool database to every host now.", run: Run::Fn(sync) };

fn designate(ctx: &mut Context) -> CmdResult {
    let uuid = ctx.params.required("host-uuid")?.to_string();
    let host = ctx.lookup_uuid("host", &uuid)?;
    ctx.call("pool.designate_new_master", vec![Value::String(host)])?;
    Ok(())
}

fn reset_master(ctx: &mut Context) -> CmdResult {
    let address = ctx.params.required("master-address")?.to_string();
    ctx.use_local_session();
    ctx.call("pool.emergency_reset_master", vec![Value::str(&address)])?;
    ctx.printer.list(&[format!("Host agent will restart and become slave of {address} in {FUSE_TIME} seconds...")]);
    Ok(())
}

/// Whether the host reached is the pool's master, as xe's server side
/// knows of itself: the master's address is the one xe talks to.
fn reached_master(ctx: &mut Context) -> CmdResult<bool> {
    let pools = ctx.call_refs("pool.get_all", vec![])?;
    let Some(pool) = pools.first() else { return Ok(false) };
    let master = ctx.call_string("pool.get_master", vec![Value::str(pool)])?;
    let address = ctx.call_string("host.get_address", vec![Value::String(master)])?;
    let server = ctx.server();
    let host = server.rsplit_once(':').map_or(server.as_str(), |(h, _)| h).trim_matches(['[', ']']);
    Ok(address == host)
}

fn transition(ctx: &mut Context) -> CmdResult {
    let force = ctx.params.bool("force", false)?;
    ctx.use_local_session();
    if force || !reached_master(ctx)? {
        ctx.call("pool.emergency_transition_to_master", vec![])?;
        ctx.printer.list(&[format!("Host agent will restart and transition to master in {FUSE_TIME} seconds...")]);
    } else {
        ctx.printer.list(&["Host agent is already master. Use '--force' to execute the operation anyway.".to_string()]);
    }
    Ok(())
}

fn recover(ctx: &mut Context) -> CmdResult {
    let hosts = ctx.call_refs("pool.recover_slaves", vec![])?;
    let mut uuids = Vec::with_capacity(hosts.len());
    for h in hosts {
        uuids.push(ctx.call_string("host.get_uuid", vec![Value::String(h)])?);
    }
    ctx.printer.list(&uuids);
    Ok(())
}

fn sync(ctx: &mut Context) -> CmdResult {
    ctx.call("pool.sync_database", vec![])?;
    Ok(())
}
