//! `update-upload` and `patch-upload`: an update file sent over HTTP, as xe
//! sends it. `update-upload` puts it into a new VDI through `/import_raw_vdi`
//! (in `sr-uuid=`'s SR or the pool's default SR) and introduces it as an
//! update, destroying the VDI if that fails; `patch-upload` sends it to
//! `/pool_patch_upload` with the pool's default SR, which answers the
//! legacy patch. Both name the VDI `Update: <name>` and print the uuid.

use crate::commands::args::s;
use crate::commands::transfer::{self, encode, Direction, Request};
use crate::commands::{CommandSpec, Run};
use crate::connect::Api;
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use std::path::PathBuf;
use xenapi::Value;

pub const UPDATE: CommandSpec = CommandSpec {
    name: "update-upload",
    help: "Upload an update file to an SR, by default the pool default SR, and print its UUID.",
    run: Run::Fn(update_upload),
};

pub const PATCH: CommandSpec = CommandSpec {
    name: "patch-upload",
    help: "Upload a legacy patch file to the pool and print its UUID.",
    run: Run::Fn(patch_upload),
};

const LABEL: &str = "host patch upload";

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The ref a task's result names (a bare ref, or one XML-RPC string).
fn result_ref(v: &Value) -> String {
    text(v).trim_start_matches("<value>").trim_end_matches("</value>").to_string()
}

/// Names the update's VDI after it, as xe does.
fn name_vdi(ctx: &mut Context, update: &str) -> CmdResult {
    let vdi = ctx.call("pool_update.get_vdi", vec![s(update)])?;
    let name = ctx.call_string("pool_update.get_name_label", vec![s(update)])?;
    ctx.call("VDI.set_name_label", vec![vdi, Value::String(format!("Update: {name}"))])?;
    Ok(())
}

fn update_upload(ctx: &mut Context) -> CmdResult {
    let filename = PathBuf::from(ctx.params.required("file-name")?);
    let sr = match ctx.params.get("sr-uuid").map(str::to_string) {
        Some(uuid) => ctx.lookup_uuid("SR", &uuid)?,
        None => {
            let pools = ctx.call_refs("pool.get_all", vec![])?;
            let pool = pools.first().cloned().unwrap_or_default();
            let sr = ctx.call("pool.get_default_SR", vec![s(&pool)])?;
            match Api::call(ctx, "SR.get_uuid", vec![sr]) {
                Ok(uuid) => ctx.lookup_uuid("SR", &text(&uuid))?,
                Err(_) => {
                    return Err(CliError::failure(
                        "No sr-uuid parameter was given, and the pool's default SR is unspecified or invalid. \
                         Please explicitly specify the SR to use in the sr-uuid parameter, or set the pool's \
                         default SR.",
                    ))
                }
            }
        }
    };
    let vdi = upload(ctx, "import_raw_vdi", &sr, filename)?;
    let update = match ctx.call_string("pool_update.introduce", vec![s(&vdi)]) {
        Ok(u) => u,
        Err(e) => {
            ctx.call("VDI.destroy", vec![s(&vdi)])?;
            return Err(e);
        }
    };
    let uuid = ctx.call_string("pool_update.get_uuid", vec![s(&update)])?;
    name_vdi(ctx, &update)?;
    ctx.printer.list(&[uuid]);
    Ok(())
}

/// Sends the file to `/<handler>` into the SR under a task labelled as
/// xe labels it; returns the ref the task ends with.
fn upload(ctx: &mut Context, handler: &str, sr: &str, filename: PathBuf) -> CmdResult<String> {
    let path =
        |session: &str, task: &str| format!("/{handler}?session_id={session}&sr_id={}&task_id={task}", encode(sr));
    let request = Request {
        label: LABEL,
        direction: Direction::Upload(filename),
        path: &path,
        expected: None,
        report_time: false,
    };
    let result = transfer::run(ctx, request)?;
    Ok(result_ref(&result))
}

fn patch_upload(ctx: &mut Context) -> CmdResult {
    let filename = PathBuf::from(ctx.params.required("file-name")?);
    let pools = ctx.call_refs("pool.get_all", vec![])?;
    let pool = pools.first().cloned().unwrap_or_default();
    let sr = ctx.call_string("pool.get_default_SR", vec![s(&pool)])?;
    let patch = upload(ctx, "pool_patch_upload", &sr, filename)?;
    let uuid = ctx.call_string("pool_patch.get_uuid", vec![s(&patch)])?;
    let update = ctx.call_string("pool_patch.get_pool_update", vec![s(&patch)])?;
    name_vdi(ctx, &update)?;
    ctx.printer.list(&[uuid]);
    Ok(())
}
