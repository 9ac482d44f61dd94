//! `vm-compute-maximum-memory`: the most memory each selected VM could be given.

use super::{each, flag, vm, DOM0_OK};
use crate::commands::sizes::parse_size;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "vm-compute-maximum-memory",
    help: "Print the largest memory a VM could be given from a total, allowing for overhead.",
    run: Run::Fn(compute_maximum_memory),
};

fn compute_maximum_memory(ctx: &mut Context) -> CmdResult {
    let total = parse_size("total", ctx.params.required("total")?)?;
    let approximate = flag(ctx, "approximate");
    each(ctx, DOM0_OK, move |api, t| {
        let v = api.call("VM.maximise_memory", vec![vm(t), Value::Int(total), approximate.into()])?;
        Ok(Some(v.to_string()))
    })
}
