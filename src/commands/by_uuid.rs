//! The commands that are one API call, `<class>.<method>`, on the object
//! named by `uuid=`, declared as data: one row each, printing nothing.

use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;

/// One row: the command's name, the class and method it calls, its help.
pub(crate) const fn row(
    name: &'static str,
    class: &'static str,
    method: &'static str,
    help: &'static str,
) -> CommandSpec {
    CommandSpec { name, help, run: Run::ByUuid { class, method } }
}

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] = &[
    row("sr-forget", "SR", "forget", "Remove an SR from the pool database, leaving its contents intact."),
    row("sr-destroy", "SR", "destroy", "Destroy an SR and delete all the data stored on it."),
    row("sr-scan", "SR", "scan", "Rescan an SR for VDIs and size changes made outside the toolstack."),
    row("pbd-plug", "PBD", "plug", "Attach an SR to a host through a PBD."),
    row("pbd-unplug", "PBD", "unplug", "Detach an SR from a host through a PBD."),
    row("pbd-destroy", "PBD", "destroy", "Destroy a PBD."),
    row("vdi-destroy", "VDI", "destroy", "Destroy a VDI and delete its data."),
    row("vdi-forget", "VDI", "forget", "Remove a VDI from the database without deleting its data."),
    row("vbd-plug", "VBD", "plug", "Hot-plug a VBD into its running VM."),
    row("vbd-destroy", "VBD", "destroy", "Destroy a VBD, leaving its VDI in place."),
    row("vbd-eject", "VBD", "eject", "Eject the media from a removable drive, leaving it empty."),
    row("network-destroy", "network", "destroy", "Destroy a network."),
    row("vif-plug", "VIF", "plug", "Hot-plug a VIF into its running VM."),
    row("vif-destroy", "VIF", "destroy", "Destroy a VIF."),
    row("pif-plug", "PIF", "plug", "Bring a PIF up."),
    row("pif-unplug", "PIF", "unplug", "Bring a PIF down."),
    row("secret-destroy", "secret", "destroy", "Delete a stored secret."),
    row("task-cancel", "task", "cancel", "Ask a running task to stop; it ends as cancelled if it can."),
];

/// Runs `<class>.<method>` on the object named by `uuid=`, printing nothing.
pub fn call(ctx: &mut Context, class: &str, method: &str) -> CmdResult {
    let r = ctx.lookup_param(class, "uuid")?;
    ctx.call(&format!("{class}.{method}"), vec![xenapi::Value::String(r)])?;
    Ok(())
}
