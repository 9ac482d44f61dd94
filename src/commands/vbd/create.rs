//! `vbd-create`: a new VBD joining a VM to a VDI, or an empty CD drive.

use super::VbdSpec;
use crate::commands::{print_uuid, CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};

pub const SPEC: CommandSpec = CommandSpec {
    name: "vbd-create",
    help: "Create a VBD linking a VM to a VDI, or an empty CD drive, without plugging it; print its UUID.",
    run: Run::Fn(vbd_create),
};

fn vbd_create(ctx: &mut Context) -> CmdResult {
    let vm = ctx.lookup_param("VM", "vm-uuid")?;
    let vdi = match ctx.params.get("vdi-uuid").map(str::to_string) {
        Some(u) => Some(ctx.lookup_uuid("VDI", &u)?),
        None => None,
    };
    let bootable = ctx.params.bool("bootable", false)?;
    // xe's texts, unbalanced quotes and brackets included.
    let mode = match ctx.params.get("mode").map(str::to_ascii_lowercase).as_deref() {
        None | Some("rw") => "RW",
        Some("ro") => "RO",
        Some(other) => return Err(CliError::failure(format!("Unknown mode: {other} (should be \"ro\" or \"rw\""))),
    };
    let ty = match ctx.params.get("type").map(str::to_ascii_lowercase).as_deref() {
        None | Some("disk") => "Disk",
        Some("cd") => "CD",
        Some("floppy") => "Floppy",
        Some(other) => {
            return Err(CliError::failure(format!("\"Unknown type: {other} (should be \"cd\", \"disk\" or \"floppy\"")))
        }
    };
    let unpluggable = ctx.params.bool("unpluggable", true)?;
    if vdi.is_none() && ty == "Disk" {
        return Err(CliError::failure("Empty VBDs can only be made for type=CD"));
    }
    let device = ctx.params.required("device")?.to_string();
    let rec = VbdSpec { vm: &vm, vdi: vdi.as_deref(), device: &device, mode, ty, bootable, unpluggable, owner: false }
        .record();
    let vbd = ctx.call("VBD.create", vec![rec])?;
    print_uuid(ctx, "VBD", &vbd)
}
