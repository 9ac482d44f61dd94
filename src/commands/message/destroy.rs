//! `message-destroy`: destroy one message or several in one call.

use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "message-destroy",
    help: "Delete one message (uuid) or a comma-separated list of messages (uuids).",
    run: Run::Fn(destroy),
};

/// Destroys one message (`uuid=`) or several (`uuids=a,b,...`) in one call.
fn destroy(ctx: &mut Context) -> CmdResult {
    let uuids: Vec<String> = match (ctx.params.get("uuid"), ctx.params.get("uuids")) {
        (Some(u), None) => vec![u.to_string()],
        (None, Some(list)) => list.split(',').map(str::to_string).collect(),
        (Some(_), Some(_)) => return Err(CliError::failure("Ambiguous arguments; need one of uuid, uuids")),
        (None, None) => return Err(CliError::failure("Need one of uuid, uuids")),
    };
    let mut refs = Vec::with_capacity(uuids.len());
    for u in &uuids {
        refs.push(Value::String(ctx.lookup_uuid("message", u)?));
    }
    ctx.call("message.destroy_many", vec![Value::Array(refs)])?;
    Ok(())
}
