//! `snapshot-copy`: a new VM or template from a snapshot, with copies of its disks.

use super::snapshot_arg;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::{Value, NULL_REF};

pub const SPEC: CommandSpec = CommandSpec {
    name: "snapshot-copy",
    help: "Copy a snapshot into a new template with full disk copies, optionally on another SR.",
    run: Run::Fn(snapshot_copy),
};

fn snapshot_copy(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("new-name-label")?.to_string();
    let r = snapshot_arg(ctx)?;
    let sr = match ctx.params.get("sr-uuid").map(str::to_string) {
        Some(u) => ctx.lookup_uuid("SR", &u)?,
        None => NULL_REF.to_string(),
    };
    let new = ctx.call_async("VM.copy", vec![Value::String(r), Value::String(name), Value::String(sr)])?;
    if let Some(d) = ctx.params.get("new-name-description").map(str::to_string) {
        ctx.call("VM.set_name_description", vec![new.clone(), Value::String(d)])?;
    }
    let uuid = ctx.call("VM.get_uuid", vec![new])?;
    ctx.printer.list(&[uuid.to_string()]);
    Ok(())
}
