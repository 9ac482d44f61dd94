//! `vdi-resize`: change the virtual size of a VDI.

use crate::commands::args::s;
use crate::commands::sizes::parse_size;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "vdi-resize",
    help: "Change the size of a VDI; online=true resizes it while attached.",
    run: Run::Fn(vdi_resize),
};

fn vdi_resize(ctx: &mut Context) -> CmdResult {
    let vdi = ctx.lookup_param("VDI", "uuid")?;
    let size = parse_size("disk-size", ctx.params.required("disk-size")?)?;
    // Only the exact word `true` asks for an online resize, as in xe.
    let method = if ctx.params.get("online") == Some("true") { "VDI.resize_online" } else { "VDI.resize" };
    ctx.call_async(method, vec![s(&vdi), Value::Int(size)])?;
    Ok(())
}
