//! The commands on VM snapshots named by `snapshot-uuid=` or `uuid=`.

mod clone;
mod copy;
mod revert;

use crate::commands::CommandSpec;
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] = &[revert::SPEC, clone::SPEC, copy::SPEC];

/// The snapshot named by `snapshot-uuid=` or `uuid=`.
pub(crate) fn snapshot_arg(ctx: &mut Context) -> CmdResult<String> {
    let uuid = ctx
        .params
        .get("snapshot-uuid")
        .or_else(|| ctx.params.get("uuid"))
        .map(str::to_string)
        .ok_or_else(|| CliError::failure("Required parameter not found: snapshot-uuid or uuid."))?;
    let r = ctx.lookup_uuid("VM", &uuid)?;
    let is_snap = ctx.call("VM.get_is_a_snapshot", vec![Value::str(r.as_str())])?;
    if is_snap.as_bool() != Some(true) {
        return Err(CliError::failure(format!(
            "This operation can only be performed on a VM snapshot. {uuid} is not a VM snapshot."
        )));
    }
    Ok(r)
}
