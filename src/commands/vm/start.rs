//! `vm-start`: start the selected VMs, optionally paused or on a named host.

use super::no_hosts::Reports;
use super::{done, each, flag, host_by_name_or_id, vm, DOM0_OK};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "vm-start",
    help: "Start a VM, optionally paused or on a chosen host; --force skips safety checks.",
    run: Run::Fn(start),
};

fn start(ctx: &mut Context) -> CmdResult {
    let paused = flag(ctx, "paused");
    let force = flag(ctx, "force");
    let on = ctx.params.get("on").map(str::to_string);
    let reports = Reports::default();
    let result = each(ctx, DOM0_OK, |api, t| {
        let started = match &on {
            Some(h) => {
                let host = host_by_name_or_id(api, h)?;
                api.call_async("VM.start_on", vec![vm(t), Value::String(host), paused.into(), force.into()])
            }
            None => api.call_async("VM.start", vec![vm(t), paused.into(), force.into()]),
        };
        reports.on_no_host(api, t, started).and_then(done)
    });
    reports.print(ctx);
    result
}
