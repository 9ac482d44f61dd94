//! `message-create` and `message-destroy`: messages are kept apart from the
//! object database on a real host and reached through the `message` class's
//! explicit calls (`message-list` and friends are generic commands).

use super::network::ocaml_int64;
use super::CommandSpec;
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

pub const CREATE: CommandSpec = CommandSpec {
    name: "message-create",
    help: "Create a message about a VM, host, SR or pool with a name, priority and body.",
    run: create,
};

/// Attaches a message to one VM, pool, SR or host (the first of those
/// parameters given, in xe's order). Prints nothing, as xe does.
fn create(ctx: &mut Context) -> CmdResult {
    let body = ctx.params.required("body")?.to_string();
    let priority = ocaml_int64(ctx.params.required("priority")?)
        .ok_or_else(|| CliError::failure("Priority field should be an integer"))?;
    let name = ctx.params.required("name")?.to_string();
    let target = [("vm-uuid", "VM"), ("pool-uuid", "Pool"), ("sr-uuid", "SR"), ("host-uuid", "Host")]
        .iter()
        .find_map(|(key, class)| ctx.params.get(key).map(|u| (u.to_string(), *class)));
    let Some((uuid, class)) = target else {
        return Err(CliError::failure("Need one of: vm-uuid, host-uuid, sr-uuid or pool-uuid"));
    };
    let args =
        vec![Value::String(name), Value::Int(priority), Value::str(class), Value::String(uuid), Value::String(body)];
    ctx.call("message.create", args)?;
    Ok(())
}

pub const DESTROY: CommandSpec = CommandSpec {
    name: "message-destroy",
    help: "Delete one message (uuid) or a comma-separated list of messages (uuids).",
    run: destroy,
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
