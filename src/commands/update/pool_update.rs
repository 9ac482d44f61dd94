//! `update-introduce`, `update-precheck`, `update-apply` (on the selected
//! hosts, xe's `do_host_op`) and the hidden `update-resync-host`.

use crate::commands::args::s;
use crate::commands::select::{self, Selector};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;

const HOSTS: Selector = Selector { class: "host", templates: false, dom0: false, single: false };

pub const INTRODUCE: CommandSpec = CommandSpec {
    name: "update-introduce",
    help: "Register an update stored in a VDI and print its UUID.",
    run: Run::Fn(introduce),
};

pub const PRECHECK: CommandSpec = CommandSpec {
    name: "update-precheck",
    help: "Check whether an update can be applied to the selected hosts and whether a reboot is needed.",
    run: Run::Fn(precheck),
};

pub const APPLY: CommandSpec =
    CommandSpec { name: "update-apply", help: "Apply an update to the selected hosts.", run: Run::Fn(apply) };

pub const RESYNC_HOST: CommandSpec = CommandSpec {
    name: "update-resync-host",
    help: "Refresh the record of which updates are applied on a host.",
    run: Run::Fn(resync_host),
};

fn introduce(ctx: &mut Context) -> CmdResult {
    let vdi = ctx.lookup_param("VDI", "vdi-uuid")?;
    let update = ctx.call_string("pool_update.introduce", vec![s(&vdi)])?;
    let uuid = ctx.call_string("pool_update.get_uuid", vec![s(&update)])?;
    ctx.printer.list(&[uuid]);
    Ok(())
}

/// xe's words for a `livepatch_status`.
fn status_text(status: &str) -> String {
    match status {
        "ok_livepatch_complete" => "Ok: Patch can be applied without reboot.".into(),
        "ok_livepatch_incomplete" => "Ok: Patch can be applied, but a reboot will be required.".into(),
        "ok" => "Ok.".into(),
        other => other.into(),
    }
}

/// Runs `method(update, host)` on every selected host, the update looked
/// up by `uuid=` for each, as xe does.
fn on_hosts(ctx: &mut Context, method: &'static str) -> CmdResult<Vec<Option<String>>> {
    let uuid = ctx.params.required("uuid")?.to_string();
    let hosts = select::select(ctx, HOSTS)?;
    select::run_each(ctx, &hosts, |api, h| {
        let update = api.call("pool_update.get_by_uuid", vec![s(&uuid)])?;
        let v = api.call(method, vec![update, s(&h.r)])?;
        Ok(Some(v.as_str().unwrap_or_default().to_string()))
    })
}

fn precheck(ctx: &mut Context) -> CmdResult {
    let results = on_hosts(ctx, "pool_update.precheck")?;
    let lines: Vec<String> = results.into_iter().flatten().map(|r| status_text(&r)).collect();
    ctx.printer.list(&lines);
    Ok(())
}

fn apply(ctx: &mut Context) -> CmdResult {
    on_hosts(ctx, "pool_update.apply")?;
    Ok(())
}

fn resync_host(ctx: &mut Context) -> CmdResult {
    let host = ctx.lookup_param("host", "host-uuid")?;
    ctx.call("pool_update.resync_host", vec![s(&host)])?;
    Ok(())
}
