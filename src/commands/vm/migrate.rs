//! `vm-migrate`: move the selected VMs to another host of the pool.

use super::{done, each, host_by_name_or_id, vm, DOM0_OK};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "vm-migrate",
    help: "Migrate a VM to another host, or with remote-master to another pool, moving disks when needed.",
    run: Run::Fn(migrate),
};

/// Parameters that make xe's `vm-migrate` a storage (cross-pool) migration.
const SXM_PARAMS: &[&str] =
    &["remote-master", "remote-username", "vif", "remote-password", "remote-network", "vdi", "vgpu", "image-format"];

/// A `vm-migrate` option xe passes as `true`/`false` (default `false`).
fn migrate_flag(ctx: &mut Context, name: &str) -> CmdResult<String> {
    match ctx.params.get(name) {
        None => Ok("false".into()),
        Some(v @ ("true" | "false")) => Ok(v.to_string()),
        // xe reads these with OCaml's bool_of_string, which takes nothing else.
        Some(_) => Err(ctx.api_error("INTERNAL_ERROR", vec!["Invalid_argument(\"bool_of_string\")".into()])),
    }
}

fn migrate(ctx: &mut Context) -> CmdResult {
    // Any storage-migration parameter asks for VM.migrate_send to another
    // host's storage, which this xe cannot do yet: refuse rather than move
    // the VM without its disks.
    if let Some((k, _)) = ctx.params.iter().find(|(k, _)| SXM_PARAMS.iter().any(|p| k.starts_with(p))) {
        return Err(CliError::failure(format!(
            "Storage live migration ({k}) is not supported by this version of xe yet; \
             migrate within the pool with host= alone"
        )));
    }
    // xe reads host-uuid= and host-name= as host=; the first one given wins.
    let host = ctx.params.first_of(&["host", "host-uuid", "host-name"]).map(str::to_string);
    let mut options = Vec::new();
    if let Some(c) = ctx.params.get("compress") {
        // Passed as given: the server decides what it accepts.
        options.push(("compress".to_string(), Value::str(c)));
    }
    for name in ["force", "live", "copy"] {
        options.push((name.to_string(), Value::String(migrate_flag(ctx, name)?)));
    }
    let Some(host) = host else { return Err(CliError::failure("No destination host specified")) };
    let dest = host_by_name_or_id(ctx, &host).map_err(|e| ctx.describe(e))?;
    let options = Value::Struct(options);
    // xe makes the same call synchronously; a task lets Ctrl-C cancel it.
    each(ctx, DOM0_OK, move |api, t| {
        api.call_async("VM.pool_migrate", vec![vm(t), Value::str(dest.as_str()), options.clone()]).and_then(done)
    })
}
