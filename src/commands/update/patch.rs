//! `patch-precheck` and `patch-apply`: a legacy patch on the host of
//! `host-uuid=`; each prints the server's answer (an empty line from a
//! server that maps patches onto updates).

use crate::commands::args::s;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;

pub const PRECHECK: CommandSpec = CommandSpec {
    name: "patch-precheck",
    help: "Check whether a legacy patch can be applied to a host.",
    run: Run::Fn(|ctx| on_host(ctx, "pool_patch.precheck")),
};

pub const APPLY: CommandSpec = CommandSpec {
    name: "patch-apply",
    help: "Apply an uploaded legacy patch to one host.",
    run: Run::Fn(|ctx| on_host(ctx, "pool_patch.apply")),
};

fn on_host(ctx: &mut Context, method: &str) -> CmdResult {
    let patch = ctx.lookup_param("pool_patch", "uuid")?;
    let host = ctx.lookup_param("host", "host-uuid")?;
    let result = ctx.call(method, vec![s(&patch), s(&host)])?;
    ctx.printer.list(&[result.as_str().unwrap_or_default().to_string()]);
    Ok(())
}
