//! `vdi-snapshot`: a read-only snapshot of a VDI.

use crate::commands::args::{map, s};
use crate::commands::{print_uuid, CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;

pub const SPEC: CommandSpec = CommandSpec {
    name: "vdi-snapshot",
    help: "Take a snapshot of a VDI and print the snapshot's UUID.",
    run: Run::Fn(vdi_snapshot),
};

fn vdi_snapshot(ctx: &mut Context) -> CmdResult {
    let vdi = ctx.lookup_param("VDI", "uuid")?;
    let new = ctx.call_async("VDI.snapshot", vec![s(&vdi), map(ctx.params.map("driver-params"))])?;
    print_uuid(ctx, "VDI", &new)
}
