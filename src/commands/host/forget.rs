//! `host-forget` and `host-declare-dead`: for a host that is gone for good,
//! after xe's warnings and its confirmation prompt (skipped with `--force`).

use crate::commands::args::s;
use crate::commands::confirm::user_says_yes;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;

pub const FORGET: CommandSpec = CommandSpec {
    name: "host-forget",
    help: "Remove an unrecoverable host from the pool database, after a confirmation.",
    run: Run::Fn(|ctx| careful(ctx, "host.destroy", FORGET_WARNINGS)),
};

pub const DECLARE_DEAD: CommandSpec = CommandSpec {
    name: "host-declare-dead",
    help: "Declare an offline host dead, resetting its VMs to halted, after a confirmation.",
    run: Run::Fn(|ctx| careful(ctx, "host.declare_dead", DEAD_WARNINGS)),
};

const FORGET_WARNINGS: &[&str] = &[
    "WARNING: A host should only be forgotten if it is physically unrecoverable;",
    "WARNING: if possible, Hosts should be 'ejected' from the Pool instead.",
    "WARNING: Once a host has been forgotten it will have to be re-installed.",
    "WARNING: This operation is irreversible.",
];

const DEAD_WARNINGS: &[&str] = &[
    "WARNING: A host should only be declared dead if it is verified offline.",
    "WARNING: Performing this operation if the host is still online and has any",
    "WARNING: running VMs may lead to possible data loss and/or corruption.",
];

/// xe's `host_careful_op`: the host by `uuid=`, then the warnings (each a
/// line, as xe prints them without newlines between) and the prompt.
fn careful(ctx: &mut Context, method: &str, warnings: &[&str]) -> CmdResult {
    let host = ctx.lookup_param("host", "uuid")?;
    if !ctx.params.bool("force", false)? {
        for w in warnings {
            ctx.printer.raw(&format!("{w}\n"));
        }
        if !user_says_yes(ctx)? {
            return Ok(());
        }
    }
    ctx.call(method, vec![s(&host)])?;
    Ok(())
}
