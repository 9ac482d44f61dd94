//! `message-create`: attach a message to a VM, pool, SR or host.

use crate::commands::int64::ocaml_int64;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "message-create",
    help: "Create a message about a VM, host, SR or pool with a name, priority and body.",
    run: Run::Fn(create),
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
