//! `snapshot-clone`: a new VM or template from a snapshot, sharing its disks.

use super::snapshot_arg;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "snapshot-clone",
    help: "Clone a snapshot into a new template, using fast disk clones, and print its UUID.",
    run: Run::Fn(snapshot_clone),
};

fn snapshot_clone(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("new-name-label")?.to_string();
    let r = snapshot_arg(ctx)?;
    let new = ctx.call_async("VM.clone", vec![Value::String(r), Value::String(name)])?;
    if let Some(d) = ctx.params.get("new-name-description").map(str::to_string) {
        ctx.call("VM.set_name_description", vec![new.clone(), Value::String(d)])?;
    }
    let uuid = ctx.call("VM.get_uuid", vec![new])?;
    ctx.printer.list(&[uuid.to_string()]);
    Ok(())
}
