//! `vbd-insert`: put a VDI into an empty removable drive.

use crate::commands::args::s;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;

pub const SPEC: CommandSpec =
    CommandSpec { name: "vbd-insert", help: "Insert a VDI into an empty removable drive.", run: Run::Fn(vbd_insert) };

fn vbd_insert(ctx: &mut Context) -> CmdResult {
    let vbd = ctx.lookup_param("VBD", "uuid")?;
    let vdi = ctx.lookup_param("VDI", "vdi-uuid")?;
    ctx.call("VBD.insert", vec![s(&vbd), s(&vdi)])?;
    Ok(())
}
