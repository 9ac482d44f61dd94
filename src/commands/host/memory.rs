//! `host-compute-free-memory` and `host-compute-memory-overhead`: one
//! host's figure, in bytes.

use super::maintenance::HOSTS;
use crate::commands::args::s;
use crate::commands::select::{self, Selector};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;

pub const FREE: CommandSpec = CommandSpec {
    name: "host-compute-free-memory",
    help: "Print how much memory of a host is free for starting VMs.",
    run: Run::Fn(|ctx| figure(ctx, "host.compute_free_memory")),
};

pub const OVERHEAD: CommandSpec = CommandSpec {
    name: "host-compute-memory-overhead",
    help: "Print the memory a host uses for virtualisation overhead.",
    run: Run::Fn(|ctx| figure(ctx, "host.compute_memory_overhead")),
};

fn figure(ctx: &mut Context, method: &'static str) -> CmdResult {
    let hosts = select::select(ctx, Selector { single: true, ..HOSTS })?;
    let out = select::run_each(ctx, &hosts, |api, h| {
        let v = api.call(method, vec![s(&h.r)])?;
        Ok(Some(v.as_int().map_or_else(|| v.to_string(), |n| n.to_string())))
    })?;
    for line in out.into_iter().flatten() {
        ctx.printer.message(&line);
    }
    Ok(())
}
