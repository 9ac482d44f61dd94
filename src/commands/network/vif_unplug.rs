//! `vif-unplug`: detach a VIF from its running VM, forcibly with `--force`.

use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;

pub const SPEC: CommandSpec = CommandSpec {
    name: "vif-unplug",
    help: "Hot-unplug a VIF from its running VM; --force forces it.",
    run: Run::Fn(vif_unplug),
};

fn vif_unplug(ctx: &mut Context) -> CmdResult {
    let method = if ctx.params.bool("force", false)? { "unplug_force" } else { "unplug" };
    crate::commands::by_uuid::call(ctx, "VIF", method)
}
