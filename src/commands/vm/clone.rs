//! The clone-like commands, one new VM per selected VM: `vm-clone`,
//! `vm-copy`, `vm-snapshot`, `vm-checkpoint`.

use super::{vm, TEMPLATES_OK};
use crate::commands::select::{self, Selector, Target};
use crate::commands::{CommandSpec, Run};
use crate::connect::{wrong_answer, Api, CallError};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::{Value, NULL_REF};

/// The clone-like commands: `op` makes one new VM per selected VM and
/// returns its ref. As in xe, the new VMs are listed in the order xe
/// collects them (reversed under `--multiple`), and `new-name-description`
/// is applied once, to the first of that list.
fn clone_like(
    ctx: &mut Context,
    sel: Selector,
    op: impl Fn(&mut dyn Api, &Target) -> Result<String, CallError> + Sync,
) -> CmdResult {
    let desc = ctx.params.get("new-name-description").map(str::to_string);
    let targets = select::select(ctx, sel)?;
    let mut new: Vec<String> =
        select::run_each(ctx, &targets, |api, t| op(api, t).map(Some))?.into_iter().flatten().collect();
    if targets.len() > 1 {
        new.reverse();
    }
    if let (Some(d), Some(first)) = (desc, new.first()) {
        ctx.call("VM.set_name_description", vec![Value::str(first.as_str()), Value::String(d)])?;
    }
    let mut uuids = Vec::with_capacity(new.len());
    for r in new {
        uuids.push(ctx.call_string("VM.get_uuid", vec![Value::String(r)])?);
    }
    ctx.printer.list(&uuids);
    Ok(())
}

/// Runs `Async.<method>`, whose task's result is the new VM's ref.
fn async_ref(api: &mut dyn Api, method: &str, args: Vec<Value>) -> Result<String, CallError> {
    match api.call_async(method, args)? {
        Value::String(r) => Ok(r),
        other => Err(CallError::Cli(wrong_answer(&api.server(), method, "a VM ref as the task's result", &other))),
    }
}

pub const CLONE: CommandSpec = CommandSpec {
    name: "vm-clone",
    help: "Clone a VM or template, using fast disk clones where possible, and print the new UUID.",
    run: Run::Fn(clone),
};

fn clone(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("new-name-label")?.to_string();
    clone_like(ctx, TEMPLATES_OK, move |api, t| async_ref(api, "VM.clone", vec![vm(t), Value::str(name.as_str())]))
}

pub const COPY: CommandSpec = CommandSpec {
    name: "vm-copy",
    help: "Copy a VM or template with full disk copies, optionally to another SR, and print the new UUID.",
    run: Run::Fn(copy),
};

fn copy(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("new-name-label")?.to_string();
    let sr = match ctx.params.get("sr-uuid").map(str::to_string) {
        Some(u) => ctx.lookup_uuid("SR", &u)?,
        None => NULL_REF.to_string(),
    };
    let sel = Selector { single: true, ..TEMPLATES_OK };
    clone_like(ctx, sel, move |api, t| {
        async_ref(api, "VM.copy", vec![vm(t), Value::str(name.as_str()), Value::str(sr.as_str())])
    })
}

pub const SNAPSHOT: CommandSpec = CommandSpec {
    name: "vm-snapshot",
    help: "Snapshot the disks of a VM, optionally skipping some VDIs, and print the snapshot's UUID.",
    run: Run::Fn(snapshot),
};

fn snapshot(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("new-name-label")?.to_string();
    let mut ignore = Vec::new();
    if let Some(list) = ctx.params.get("ignore-vdi-uuids").map(str::to_string) {
        for u in list.split(',') {
            ignore.push(Value::String(ctx.lookup_uuid("VDI", u)?));
        }
    }
    clone_like(ctx, Selector::VM, move |api, t| {
        async_ref(api, "VM.snapshot", vec![vm(t), Value::str(name.as_str()), Value::Array(ignore.clone())])
    })
}

pub const CHECKPOINT: CommandSpec = CommandSpec {
    name: "vm-checkpoint",
    help: "Snapshot a VM's disks and memory together and print the checkpoint's UUID.",
    run: Run::Fn(checkpoint),
};

fn checkpoint(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("new-name-label")?.to_string();
    clone_like(ctx, Selector::VM, move |api, t| async_ref(api, "VM.checkpoint", vec![vm(t), Value::str(name.as_str())]))
}
