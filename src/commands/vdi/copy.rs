//! `vdi-copy`: copy a VDI into an SR or into another VDI.

use crate::commands::args::s;
use crate::commands::{print_uuid, CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::NULL_REF;

pub const SPEC: CommandSpec = CommandSpec {
    name: "vdi-copy",
    help: "Copy a VDI to an SR, or into an existing VDI, optionally only the blocks changed since a base.",
    run: Run::Fn(vdi_copy),
};

fn vdi_copy(ctx: &mut Context) -> CmdResult {
    let vdi = ctx.lookup_param("VDI", "uuid")?;
    let base = match ctx.params.get("base-vdi-uuid").map(str::to_string) {
        Some(u) => ctx.lookup_uuid("VDI", &u)?,
        None => NULL_REF.to_string(),
    };
    let (sr, into) =
        match (ctx.params.get("sr-uuid").map(str::to_string), ctx.params.get("into-vdi-uuid").map(str::to_string)) {
            (Some(sr), None) => (ctx.lookup_uuid("SR", &sr)?, NULL_REF.to_string()),
            (None, Some(into)) => (NULL_REF.to_string(), ctx.lookup_uuid("VDI", &into)?),
            _ => {
                return Err(CliError::failure(
                    "Please specify one but not both of: a destination sr-uuid (I will create a fresh VDI); \
                 or a destination into-vdi-uuid (I will copy the blocks into this VDI)",
                ))
            }
        };
    let new = ctx.call_async("VDI.copy", vec![s(&vdi), s(&sr), s(&base), s(&into)])?;
    print_uuid(ctx, "VDI", &new)
}
