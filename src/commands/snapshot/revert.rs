//! `snapshot-revert`: return a VM to the state of its snapshot.

use super::snapshot_arg;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "snapshot-revert",
    help: "Revert a VM to the state stored in one of its snapshots.",
    run: Run::Fn(snapshot_revert),
};

fn snapshot_revert(ctx: &mut Context) -> CmdResult {
    let r = snapshot_arg(ctx)?;
    ctx.call_async("VM.revert", vec![Value::String(r)])?;
    Ok(())
}
