//! `vm-resume`: resume the selected suspended VMs.

use super::no_hosts::Reports;
use super::{done, each, flag, host_by_name_or_id, vm};
use crate::commands::select::Selector;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "vm-resume",
    help: "Resume a suspended VM, optionally on a chosen host; --force skips safety checks.",
    run: Run::Fn(resume),
};

fn resume(ctx: &mut Context) -> CmdResult {
    let force = flag(ctx, "force");
    let on = ctx.params.get("on").map(str::to_string);
    let reports = Reports::default();
    let result = each(ctx, Selector::VM, |api, t| match &on {
        // xe explains a missing host only for a resume without on=.
        Some(h) => {
            let host = host_by_name_or_id(api, h)?;
            api.call_async("VM.resume_on", vec![vm(t), Value::String(host), false.into(), force.into()]).and_then(done)
        }
        None => {
            let resumed = api.call_async("VM.resume", vec![vm(t), false.into(), force.into()]);
            reports.on_no_host(api, t, resumed).and_then(done)
        }
    });
    reports.print(ctx);
    result
}
