//! The SR commands with more than one call (the others are in `by_uuid`),
//! and the host an SR command acts on when none is named.

mod create;
mod introduce;
mod probe;

use crate::commands::args::s;
use crate::commands::CommandSpec;
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::NULL_REF;

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] = &[create::SPEC, introduce::SPEC, probe::SPEC];

/// The pool master, used when a command needs a host and none was named.
pub(crate) fn pool_master(ctx: &mut Context) -> CmdResult<String> {
    let pools = ctx.call_refs("pool.get_all", vec![])?;
    let pool = pools.first().map_or(s(NULL_REF), |p| s(p));
    ctx.call_string("pool.get_master", vec![pool])
}

/// xe's `parse_host_uuid`: `host-uuid=`, else the master when the pool has
/// one host or `default_master` holds.
pub(crate) fn parse_host_uuid(ctx: &mut Context, default_master: bool) -> CmdResult<String> {
    if let Some(u) = ctx.params.get("host-uuid").map(str::to_string) {
        return ctx.lookup_uuid("host", &u);
    }
    let hosts = ctx.call_refs("host.get_all", vec![])?;
    if default_master || hosts.len() == 1 {
        pool_master(ctx)
    } else {
        Err(CliError::failure("Required parameter not found: host-uuid"))
    }
}
