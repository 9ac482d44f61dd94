//! The VM commands: power and copy operations over xe's VM selectors,
//! install and uninstall, and the VM-centric disk, CD and VIF commands.
//! Shared here: the selectors and the per-VM runner these commands use.

mod cd_add;
mod cd_eject;
mod cd_insert;
mod cd_remove;
mod clone;
mod compute_maximum_memory;
mod destroy;
mod disk_add;
mod disk_list;
mod disk_remove;
mod export;
mod import;
mod install;
mod migrate;
mod no_hosts;
mod power;
mod resume;
mod start;
mod uninstall;
mod vif_list;

use crate::argv::parse_bool;
use crate::commands::select::{self, Selector, Target};
use crate::commands::CommandSpec;
use crate::connect::{wrong_answer, Api, CallError};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] = &[
    start::SPEC,
    power::SHUTDOWN,
    power::REBOOT,
    power::SUSPEND,
    resume::SPEC,
    power::PAUSE,
    power::UNPAUSE,
    power::RESET_POWERSTATE,
    clone::CLONE,
    clone::COPY,
    clone::SNAPSHOT,
    clone::CHECKPOINT,
    migrate::SPEC,
    compute_maximum_memory::SPEC,
    destroy::SPEC,
    install::SPEC,
    uninstall::VM,
    uninstall::TEMPLATE,
    uninstall::SNAPSHOT,
    disk_add::SPEC,
    disk_list::VM_DISK_LIST,
    disk_remove::SPEC,
    cd_add::SPEC,
    disk_list::VM_CD_LIST,
    cd_remove::SPEC,
    cd_insert::SPEC,
    cd_eject::SPEC,
    vif_list::SPEC,
    export::VM,
    export::TEMPLATE,
    export::SNAPSHOT,
    import::SPEC,
];

pub(crate) const DOM0_OK: Selector = Selector { class: "vm", templates: false, dom0: true, single: false };

pub(crate) const TEMPLATES_OK: Selector = Selector { class: "vm", templates: true, dom0: false, single: false };

pub(crate) fn vm(t: &Target) -> Value {
    Value::str(t.r.as_str())
}

/// xe's `get_host_by_name_or_id`: the first host whose name-label or uuid is `name`.
pub(crate) fn host_by_name_or_id(api: &mut dyn Api, name: &str) -> Result<String, CallError> {
    let hosts = match api.call("host.get_all_records", vec![])? {
        Value::Struct(m) => m,
        other => {
            return Err(CallError::Cli(wrong_answer(&api.server(), "host.get_all_records", "a map of records", &other)))
        }
    };
    hosts
        .iter()
        .find(|(_, h)| ["name_label", "uuid"].iter().any(|k| h.get(k).and_then(Value::as_str) == Some(name)))
        .map(|(r, _)| r.clone())
        .ok_or_else(|| CallError::Cli(CliError::failure(format!("Host {name} not found"))))
}

pub(crate) fn flag(ctx: &Context, name: &str) -> bool {
    ctx.params.get(name).and_then(parse_bool).unwrap_or(false)
}

pub(crate) fn done(_: Value) -> Result<Option<String>, CallError> {
    Ok(None)
}

/// Runs a simple per-VM operation and prints nothing on success.
pub(crate) fn each(
    ctx: &mut Context,
    sel: Selector,
    op: impl Fn(&mut dyn Api, &Target) -> Result<Option<String>, CallError> + Sync,
) -> CmdResult {
    let targets = select::select(ctx, sel)?;
    let out = select::run_each(ctx, &targets, op)?;
    let printed: Vec<String> = out.into_iter().flatten().collect();
    if !printed.is_empty() {
        ctx.printer.list(&printed);
    }
    Ok(())
}

/// xe's refusal of a dangerous command without `--force`.
pub const NO_FORCE: &str =
    "This operation is dangerous and may cause data loss. This operation must be forced (use --force).";

/// A VM's VBDs, in the order of its record.
pub(crate) fn vbd_refs(vm: &Target) -> Vec<String> {
    vm.rec
        .get("VBDs")
        .and_then(Value::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

pub(crate) fn text(v: Value) -> String {
    v.as_str().unwrap_or("").to_string()
}
