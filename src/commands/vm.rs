//! VM power and copy operations over xe's VM selectors: start, shutdown,
//! reboot, suspend, resume, pause, clone, copy, snapshot, migrate, ...

use super::select::{self, Selector, Target};
use super::CommandSpec;
use crate::argv::parse_bool;
use crate::connect::{Api, CallError};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::{Value, NULL_REF};

const DOM0_OK: Selector = Selector { class: "vm", templates: false, dom0: true, single: false };
const TEMPLATES_OK: Selector = Selector { class: "vm", templates: true, dom0: false, single: false };

fn vm(t: &Target) -> Value {
    Value::str(t.r.as_str())
}

/// Looks a host up by name-label, hostname or uuid (first match).
fn host_ref(ctx: &mut Context, key: &str) -> CmdResult<String> {
    let q = format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""));
    let expr = format!("field \"uuid\" = {q} or field \"name__label\" = {q} or field \"hostname\" = {q}");
    let hosts = ctx.call("host.get_all_records_where", vec![Value::String(expr)])?;
    hosts
        .as_struct()
        .and_then(|m| m.first())
        .map(|(r, _)| r.clone())
        .ok_or_else(|| CliError::failure("No matching hosts found"))
}

fn flag(ctx: &Context, name: &str) -> bool {
    ctx.params.get(name).and_then(parse_bool).unwrap_or(false)
}

fn done(_: Value) -> Result<Option<String>, CallError> {
    Ok(None)
}

/// Runs a simple per-VM operation and prints nothing on success.
fn each(
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

pub const START: CommandSpec = CommandSpec { name: "vm-start", help: "", run: start };

fn start(ctx: &mut Context) -> CmdResult {
    let paused = flag(ctx, "paused");
    let force = flag(ctx, "force");
    let on = match ctx.params.get("on").map(str::to_string) {
        Some(h) => Some(host_ref(ctx, &h)?),
        None => None,
    };
    each(ctx, DOM0_OK, move |api, t| match &on {
        Some(h) => api
            .call_async("VM.start_on", vec![vm(t), Value::str(h.as_str()), paused.into(), force.into()])
            .and_then(done),
        None => api.call_async("VM.start", vec![vm(t), paused.into(), force.into()]).and_then(done),
    })
}

pub const SHUTDOWN: CommandSpec = CommandSpec { name: "vm-shutdown", help: "", run: shutdown };

fn shutdown(ctx: &mut Context) -> CmdResult {
    // xe's --force means a hard shutdown here (unlike vm-start).
    let method = if flag(ctx, "force") { "VM.hard_shutdown" } else { "VM.clean_shutdown" };
    each(ctx, Selector::VM, move |api, t| api.call_async(method, vec![vm(t)]).and_then(done))
}

pub const REBOOT: CommandSpec = CommandSpec { name: "vm-reboot", help: "", run: reboot };

fn reboot(ctx: &mut Context) -> CmdResult {
    let method = if flag(ctx, "force") { "VM.hard_reboot" } else { "VM.clean_reboot" };
    each(ctx, Selector::VM, move |api, t| api.call(method, vec![vm(t)]).and_then(done))
}

pub const SUSPEND: CommandSpec = CommandSpec { name: "vm-suspend", help: "", run: suspend };

fn suspend(ctx: &mut Context) -> CmdResult {
    each(ctx, Selector::VM, |api, t| api.call_async("VM.suspend", vec![vm(t)]).and_then(done))
}

pub const RESUME: CommandSpec = CommandSpec { name: "vm-resume", help: "", run: resume };

fn resume(ctx: &mut Context) -> CmdResult {
    let force = flag(ctx, "force");
    let on = match ctx.params.get("on").map(str::to_string) {
        Some(h) => Some(host_ref(ctx, &h)?),
        None => None,
    };
    each(ctx, Selector::VM, move |api, t| match &on {
        Some(h) => api
            .call_async("VM.resume_on", vec![vm(t), Value::str(h.as_str()), false.into(), force.into()])
            .and_then(done),
        None => api.call_async("VM.resume", vec![vm(t), false.into(), force.into()]).and_then(done),
    })
}

pub const PAUSE: CommandSpec = CommandSpec { name: "vm-pause", help: "", run: pause };

fn pause(ctx: &mut Context) -> CmdResult {
    each(ctx, Selector::VM, |api, t| api.call("VM.pause", vec![vm(t)]).and_then(done))
}

pub const UNPAUSE: CommandSpec = CommandSpec { name: "vm-unpause", help: "", run: unpause };

fn unpause(ctx: &mut Context) -> CmdResult {
    each(ctx, Selector::VM, |api, t| api.call("VM.unpause", vec![vm(t)]).and_then(done))
}

pub const RESET_POWERSTATE: CommandSpec = CommandSpec { name: "vm-reset-powerstate", help: "", run: reset_powerstate };

fn reset_powerstate(ctx: &mut Context) -> CmdResult {
    if !flag(ctx, "force") {
        return Err(CliError::failure(
            "Resetting the power state is only safe when the VM is really not running; add --force to confirm",
        ));
    }
    each(ctx, Selector::VM, |api, t| api.call("VM.power_state_reset", vec![vm(t)]).and_then(done))
}

/// Sets the new object's description when asked, for clone-like commands.
fn describe_new(api: &mut dyn Api, new: &Value, desc: Option<&str>) -> Result<(), CallError> {
    if let Some(d) = desc {
        api.call("VM.set_name_description", vec![new.clone(), Value::str(d)])?;
    }
    Ok(())
}

fn new_uuid(api: &mut dyn Api, new: &Value) -> Result<Option<String>, CallError> {
    let uuid = api.call("VM.get_uuid", vec![new.clone()])?;
    Ok(uuid.as_str().map(str::to_string))
}

pub const CLONE: CommandSpec = CommandSpec { name: "vm-clone", help: "", run: clone };

fn clone(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("new-name-label")?.to_string();
    let desc = ctx.params.get("new-name-description").map(str::to_string);
    each(ctx, TEMPLATES_OK, move |api, t| {
        let new = api.call_async("VM.clone", vec![vm(t), Value::str(name.as_str())])?;
        describe_new(api, &new, desc.as_deref())?;
        new_uuid(api, &new)
    })
}

pub const COPY: CommandSpec = CommandSpec { name: "vm-copy", help: "", run: copy };

fn copy(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("new-name-label")?.to_string();
    let desc = ctx.params.get("new-name-description").map(str::to_string);
    let sr = match ctx.params.get("sr-uuid").map(str::to_string) {
        Some(u) => ctx.lookup_uuid("SR", &u)?,
        None => NULL_REF.to_string(),
    };
    let sel = Selector { single: true, ..TEMPLATES_OK };
    each(ctx, sel, move |api, t| {
        let new = api.call_async("VM.copy", vec![vm(t), Value::str(name.as_str()), Value::str(sr.as_str())])?;
        describe_new(api, &new, desc.as_deref())?;
        new_uuid(api, &new)
    })
}

pub const SNAPSHOT: CommandSpec = CommandSpec { name: "vm-snapshot", help: "", run: snapshot };

fn snapshot(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("new-name-label")?.to_string();
    let desc = ctx.params.get("new-name-description").map(str::to_string);
    let mut ignore = Vec::new();
    if let Some(list) = ctx.params.get("ignore-vdi-uuids").map(str::to_string) {
        for u in list.split(',').filter(|s| !s.is_empty()) {
            ignore.push(Value::String(ctx.lookup_uuid("VDI", u)?));
        }
    }
    each(ctx, Selector::VM, move |api, t| {
        let new =
            api.call_async("VM.snapshot", vec![vm(t), Value::str(name.as_str()), Value::Array(ignore.clone())])?;
        describe_new(api, &new, desc.as_deref())?;
        new_uuid(api, &new)
    })
}

pub const CHECKPOINT: CommandSpec = CommandSpec { name: "vm-checkpoint", help: "", run: checkpoint };

fn checkpoint(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("new-name-label")?.to_string();
    let desc = ctx.params.get("new-name-description").map(str::to_string);
    each(ctx, Selector::VM, move |api, t| {
        let new = api.call_async("VM.checkpoint", vec![vm(t), Value::str(name.as_str())])?;
        describe_new(api, &new, desc.as_deref())?;
        new_uuid(api, &new)
    })
}

pub const MIGRATE: CommandSpec = CommandSpec { name: "vm-migrate", help: "", run: migrate };

fn migrate(ctx: &mut Context) -> CmdResult {
    if ctx.params.has("remote-master") {
        return Err(CliError::failure("Migration to another pool (remote-master=) is not supported by this xe yet"));
    }
    let host = match (ctx.params.get("host-uuid").map(str::to_string), ctx.params.get("host").map(str::to_string)) {
        (Some(u), _) => ctx.lookup_uuid("host", &u)?,
        (None, Some(h)) => host_ref(ctx, &h)?,
        (None, None) => return Err(CliError::failure("Choose the destination with host= or host-uuid=")),
    };
    let live = flag(ctx, "live");
    each(ctx, Selector::VM, move |api, t| {
        let options = Value::Struct(vec![("live".into(), Value::str(if live { "true" } else { "false" }))]);
        api.call_async("VM.pool_migrate", vec![vm(t), Value::str(host.as_str()), options]).and_then(done)
    })
}

pub const COMPUTE_MAX_MEMORY: CommandSpec =
    CommandSpec { name: "vm-compute-maximum-memory", help: "", run: compute_maximum_memory };

fn compute_maximum_memory(ctx: &mut Context) -> CmdResult {
    let total = crate::commands::sizes::parse_size(ctx.params.required("total")?)?;
    let approximate = flag(ctx, "approximate");
    each(ctx, DOM0_OK, move |api, t| {
        let v = api.call("VM.maximise_memory", vec![vm(t), Value::Int(total), approximate.into()])?;
        Ok(Some(v.to_string()))
    })
}

pub const DESTROY: CommandSpec = CommandSpec { name: "vm-destroy", help: "", run: destroy };

fn destroy(ctx: &mut Context) -> CmdResult {
    let uuid = ctx.params.required("uuid")?.to_string();
    let r = ctx.lookup_uuid("VM", &uuid)?;
    let dom0 = ctx.call("VM.get_is_control_domain", vec![Value::str(r.as_str())])?;
    if dom0.as_bool() == Some(true) {
        return Err(ctx.api_error("OPERATION_NOT_ALLOWED", vec!["Control domains cannot be destroyed".into()]));
    }
    ctx.call("VM.destroy", vec![Value::String(r)])?;
    Ok(())
}

/// The snapshot named by `snapshot-uuid=` or `uuid=`.
pub(crate) fn snapshot_arg(ctx: &mut Context) -> CmdResult<String> {
    let uuid = ctx
        .params
        .get("snapshot-uuid")
        .or_else(|| ctx.params.get("uuid"))
        .map(str::to_string)
        .ok_or_else(|| CliError::failure("Name the snapshot with snapshot-uuid= (or uuid=)"))?;
    let r = ctx.lookup_uuid("VM", &uuid)?;
    let is_snap = ctx.call("VM.get_is_a_snapshot", vec![Value::str(r.as_str())])?;
    if is_snap.as_bool() != Some(true) {
        return Err(CliError::failure(format!("{uuid} is not a snapshot")));
    }
    Ok(r)
}

pub const SNAPSHOT_REVERT: CommandSpec = CommandSpec { name: "snapshot-revert", help: "", run: snapshot_revert };

fn snapshot_revert(ctx: &mut Context) -> CmdResult {
    let r = snapshot_arg(ctx)?;
    ctx.call_async("VM.revert", vec![Value::String(r)])?;
    Ok(())
}

pub const SNAPSHOT_CLONE: CommandSpec = CommandSpec { name: "snapshot-clone", help: "", run: snapshot_clone };

fn snapshot_clone(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("new-name-label")?.to_string();
    let r = snapshot_arg(ctx)?;
    let new = ctx.call_async("VM.clone", vec![Value::String(r), Value::String(name)])?;
    if let Some(d) = ctx.params.get("new-name-description").map(str::to_string) {
        ctx.call("VM.set_name_description", vec![new.clone(), Value::String(d)])?;
    }
    let uuid = ctx.call("VM.get_uuid", vec![new])?;
    ctx.printer.list(&[uuid.to_string()]);
    Ok(())
}

pub const SNAPSHOT_COPY: CommandSpec = CommandSpec { name: "snapshot-copy", help: "", run: snapshot_copy };

fn snapshot_copy(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("new-name-label")?.to_string();
    let r = snapshot_arg(ctx)?;
    let sr = match ctx.params.get("sr-uuid").map(str::to_string) {
        Some(u) => ctx.lookup_uuid("SR", &u)?,
        None => NULL_REF.to_string(),
    };
    let new = ctx.call_async("VM.copy", vec![Value::String(r), Value::String(name), Value::String(sr)])?;
    if let Some(d) = ctx.params.get("new-name-description").map(str::to_string) {
        ctx.call("VM.set_name_description", vec![new.clone(), Value::String(d)])?;
    }
    let uuid = ctx.call("VM.get_uuid", vec![new])?;
    ctx.printer.list(&[uuid.to_string()]);
    Ok(())
}
