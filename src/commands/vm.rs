//! VM power and copy operations over xe's VM selectors: start, shutdown,
//! reboot, suspend, resume, pause, clone, copy, snapshot, migrate, ...

use super::select::{self, Selector, Target};
use super::CommandSpec;
use crate::argv::parse_bool;
use crate::connect::{Api, CallError};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use crate::output::{Field, Record};
use xenapi::{Value, NULL_REF};

const DOM0_OK: Selector = Selector { class: "vm", templates: false, dom0: true, single: false };
const TEMPLATES_OK: Selector = Selector { class: "vm", templates: true, dom0: false, single: false };

fn vm(t: &Target) -> Value {
    Value::str(t.r.as_str())
}

/// xe's `get_host_by_name_or_id`: the first host whose name-label or uuid is `name`.
fn host_by_name_or_id(api: &mut dyn Api, name: &str) -> Result<String, CallError> {
    let hosts = api.call("host.get_all_records", vec![])?;
    hosts
        .as_struct()
        .unwrap_or(&[])
        .iter()
        .find(|(_, h)| ["name_label", "uuid"].iter().any(|k| h.get(k).and_then(Value::as_str) == Some(name)))
        .map(|(r, _)| r.clone())
        .ok_or_else(|| CallError::Cli(CliError::failure(format!("Host {name} not found"))))
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

pub const START: CommandSpec = CommandSpec {
    name: "vm-start",
    help: "Start a VM, optionally paused or on a chosen host; --force skips safety checks.",
    run: start,
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

pub const SHUTDOWN: CommandSpec = CommandSpec {
    name: "vm-shutdown",
    help: "Shut down a VM cleanly; --force does a hard shutdown instead.",
    run: shutdown,
};

fn shutdown(ctx: &mut Context) -> CmdResult {
    // xe's --force means a hard shutdown here (unlike vm-start).
    let method = if flag(ctx, "force") { "VM.hard_shutdown" } else { "VM.clean_shutdown" };
    each(ctx, Selector::VM, move |api, t| api.call_async(method, vec![vm(t)]).and_then(done))
}

pub const REBOOT: CommandSpec =
    CommandSpec { name: "vm-reboot", help: "Reboot a VM cleanly; --force does a hard reboot.", run: reboot };

fn reboot(ctx: &mut Context) -> CmdResult {
    let method = if flag(ctx, "force") { "VM.hard_reboot" } else { "VM.clean_reboot" };
    each(ctx, Selector::VM, move |api, t| api.call(method, vec![vm(t)]).and_then(done))
}

pub const SUSPEND: CommandSpec =
    CommandSpec { name: "vm-suspend", help: "Suspend a running VM to disk.", run: suspend };

fn suspend(ctx: &mut Context) -> CmdResult {
    each(ctx, Selector::VM, |api, t| api.call_async("VM.suspend", vec![vm(t)]).and_then(done))
}

pub const RESUME: CommandSpec = CommandSpec {
    name: "vm-resume",
    help: "Resume a suspended VM, optionally on a chosen host; --force skips safety checks.",
    run: resume,
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

/// xe's answer to NO_HOSTS_AVAILABLE when starting or resuming: why each
/// host cannot run the VM (`VM.assert_can_boot_here`), printed before the error.
#[derive(Default)]
struct Reports(std::sync::Mutex<Vec<(usize, HostTable)>>);

/// Host name-label and verdict, per host.
type HostTable = Vec<(String, String)>;

impl Reports {
    /// Passes `result` through, recording the per-host reasons first when it is NO_HOSTS_AVAILABLE.
    fn on_no_host(&self, api: &mut dyn Api, t: &Target, result: Result<Value, CallError>) -> Result<Value, CallError> {
        if matches!(&result, Err(CallError::Api(code, _)) if code == "NO_HOSTS_AVAILABLE") {
            let table = host_report(api, &t.r);
            if let Ok(mut all) = self.0.lock() {
                all.push((t.index, table));
            }
        }
        result
    }

    /// Prints the recorded reports, one per VM in selection order.
    fn print(self, ctx: &mut Context) {
        let mut all = self.0.into_inner().unwrap_or_default();
        all.sort_by_key(|(index, _)| *index);
        for (_, table) in all {
            ctx.printer.list(&[
                "There are no suitable hosts to start this VM on.".to_string(),
                "The following table provides per-host reasons for why the VM could not be started:".to_string(),
                String::new(),
            ]);
            let fields = table.into_iter().map(|(host, why)| Field::plain(&host, why)).collect();
            ctx.printer.records(&[Record { fields }]);
        }
    }
}

/// `host name-label -> OK | Cannot start here [reason]` for every host.
fn host_report(api: &mut dyn Api, vm_ref: &str) -> Vec<(String, String)> {
    let hosts = api.call("host.get_all", vec![]).ok();
    let mut rows = Vec::new();
    for host in hosts.as_ref().and_then(Value::as_array).unwrap_or(&[]) {
        let name = api.call("host.get_name_label", vec![host.clone()]).map(|v| v.to_string()).unwrap_or_default();
        let why = match api.call("VM.assert_can_boot_here", vec![Value::str(vm_ref), host.clone()]) {
            Ok(_) => "OK".to_string(),
            Err(e) => format!("Cannot start here [{}]", assert_reason(api, e)),
        };
        rows.push((name, why));
    }
    rows
}

/// xe's wording of why a VM cannot boot on a host.
fn assert_reason(api: &mut dyn Api, e: CallError) -> String {
    let CallError::Api(code, params) = e else {
        return match e {
            CallError::Cli(c) => c.message(),
            CallError::Api(..) => String::new(),
        };
    };
    let arg = |n: usize| params.get(n).cloned().unwrap_or_else(|| "<server did not provide reference>".to_string());
    match (code.as_str(), params.as_slice()) {
        ("VM_REQUIRES_SR", _) => format!("VM requires access to SR: {}", ref_text(api, "SR", &arg(1))),
        ("HOST_DISABLED", _) => "Host disabled (use 'xe host-enable' to re-enable)".to_string(),
        ("HOST_DISABLED_INDEFINITELY", _) => {
            "Host disabled indefinitely (use 'xe host-enable' to re-enable)".to_string()
        }
        ("HOST_NOT_LIVE", _) => "Host down".to_string(),
        ("HOST_NOT_ENOUGH_FREE_MEMORY", _) => "Not enough free memory".to_string(),
        ("HOST_NOT_ENOUGH_PCPUS", [vcpus, pcpus]) => {
            format!("Not enough CPUs (VM needs {vcpus}, but host has {pcpus})")
        }
        ("VM_REQUIRES_NET", _) => format!("VM requires access to network: {}", ref_text(api, "network", &arg(1))),
        ("HOST_CANNOT_ATTACH_NETWORK", _) => {
            format!("Host cannot attach to network: {}", ref_text(api, "network", &arg(1)))
        }
        ("VM_HVM_REQUIRED", _) => "HVM not supported".to_string(),
        ("INVALID_VALUE", [key, v]) => format!("Field has invalid value: {key} = {v}"),
        _ => format!("Server_error({code}, [ {} ])", params.join("; ")),
    }
}

/// A ref as xe shows it: `uuid (name-label)`, or the ref itself when unknown.
fn ref_text(api: &mut dyn Api, class: &str, r: &str) -> String {
    let Ok(uuid) = api.call(&format!("{class}.get_uuid"), vec![Value::str(r)]) else { return r.to_string() };
    match api.call(&format!("{class}.get_name_label"), vec![Value::str(r)]) {
        Ok(name) => format!("{uuid} ({name})"),
        Err(_) => uuid.to_string(),
    }
}

pub const PAUSE: CommandSpec = CommandSpec { name: "vm-pause", help: "Pause a running VM.", run: pause };

fn pause(ctx: &mut Context) -> CmdResult {
    each(ctx, Selector::VM, |api, t| api.call("VM.pause", vec![vm(t)]).and_then(done))
}

pub const UNPAUSE: CommandSpec = CommandSpec { name: "vm-unpause", help: "Unpause a paused VM.", run: unpause };

fn unpause(ctx: &mut Context) -> CmdResult {
    each(ctx, Selector::VM, |api, t| api.call("VM.unpause", vec![vm(t)]).and_then(done))
}

/// xe's refusal of a dangerous command without `--force`.
pub const NO_FORCE: &str =
    "This operation is dangerous and may cause data loss. This operation must be forced (use --force).";

pub const RESET_POWERSTATE: CommandSpec = CommandSpec {
    name: "vm-reset-powerstate",
    help: "Mark a VM halted in the database without touching it; requires --force.",
    run: reset_powerstate,
};

fn reset_powerstate(ctx: &mut Context) -> CmdResult {
    if !flag(ctx, "force") {
        return Err(CliError::failure(NO_FORCE));
    }
    each(ctx, Selector::VM, |api, t| api.call("VM.power_state_reset", vec![vm(t)]).and_then(done))
}

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
        uuids.push(ctx.call("VM.get_uuid", vec![Value::String(r)])?.as_str().unwrap_or("").to_string());
    }
    ctx.printer.list(&uuids);
    Ok(())
}

fn new_ref(v: Value) -> Result<String, CallError> {
    Ok(v.as_str().unwrap_or("").to_string())
}

pub const CLONE: CommandSpec = CommandSpec {
    name: "vm-clone",
    help: "Clone a VM or template, using fast disk clones where possible, and print the new UUID.",
    run: clone,
};

fn clone(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("new-name-label")?.to_string();
    clone_like(ctx, TEMPLATES_OK, move |api, t| {
        api.call_async("VM.clone", vec![vm(t), Value::str(name.as_str())]).and_then(new_ref)
    })
}

pub const COPY: CommandSpec = CommandSpec {
    name: "vm-copy",
    help: "Copy a VM or template with full disk copies, optionally to another SR, and print the new UUID.",
    run: copy,
};

fn copy(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("new-name-label")?.to_string();
    let sr = match ctx.params.get("sr-uuid").map(str::to_string) {
        Some(u) => ctx.lookup_uuid("SR", &u)?,
        None => NULL_REF.to_string(),
    };
    let sel = Selector { single: true, ..TEMPLATES_OK };
    clone_like(ctx, sel, move |api, t| {
        api.call_async("VM.copy", vec![vm(t), Value::str(name.as_str()), Value::str(sr.as_str())]).and_then(new_ref)
    })
}

pub const SNAPSHOT: CommandSpec = CommandSpec {
    name: "vm-snapshot",
    help: "Snapshot the disks of a VM, optionally skipping some VDIs, and print the snapshot's UUID.",
    run: snapshot,
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
        api.call_async("VM.snapshot", vec![vm(t), Value::str(name.as_str()), Value::Array(ignore.clone())])
            .and_then(new_ref)
    })
}

pub const CHECKPOINT: CommandSpec = CommandSpec {
    name: "vm-checkpoint",
    help: "Snapshot a VM's disks and memory together and print the checkpoint's UUID.",
    run: checkpoint,
};

fn checkpoint(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("new-name-label")?.to_string();
    clone_like(ctx, Selector::VM, move |api, t| {
        api.call_async("VM.checkpoint", vec![vm(t), Value::str(name.as_str())]).and_then(new_ref)
    })
}

pub const MIGRATE: CommandSpec = CommandSpec {
    name: "vm-migrate",
    help: "Migrate a VM to another host, or with remote-master to another pool, moving disks when needed.",
    run: migrate,
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

pub const COMPUTE_MAX_MEMORY: CommandSpec = CommandSpec {
    name: "vm-compute-maximum-memory",
    help: "Print the largest memory a VM could be given from a total, allowing for overhead.",
    run: compute_maximum_memory,
};

fn compute_maximum_memory(ctx: &mut Context) -> CmdResult {
    let total = crate::commands::sizes::parse_size("total", ctx.params.required("total")?)?;
    let approximate = flag(ctx, "approximate");
    each(ctx, DOM0_OK, move |api, t| {
        let v = api.call("VM.maximise_memory", vec![vm(t), Value::Int(total), approximate.into()])?;
        Ok(Some(v.to_string()))
    })
}

pub const DESTROY: CommandSpec =
    CommandSpec { name: "vm-destroy", help: "Destroy a VM record, leaving its disks in place.", run: destroy };

fn destroy(ctx: &mut Context) -> CmdResult {
    let uuid = ctx.params.required("uuid")?.to_string();
    let r = ctx.lookup_uuid("VM", &uuid)?;
    let dom0 = ctx.call("VM.get_is_control_domain", vec![Value::str(r.as_str())])?;
    if dom0.as_bool() == Some(true) {
        return Err(
            ctx.api_error("OPERATION_NOT_ALLOWED", vec!["You cannot destroy a control domain via the CLI".into()])
        );
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
        .ok_or_else(|| CliError::failure("Required parameter not found: snapshot-uuid or uuid."))?;
    let r = ctx.lookup_uuid("VM", &uuid)?;
    let is_snap = ctx.call("VM.get_is_a_snapshot", vec![Value::str(r.as_str())])?;
    if is_snap.as_bool() != Some(true) {
        return Err(CliError::failure(format!(
            "This operation can only be performed on a VM snapshot. {uuid} is not a VM snapshot."
        )));
    }
    Ok(r)
}

pub const SNAPSHOT_REVERT: CommandSpec = CommandSpec {
    name: "snapshot-revert",
    help: "Revert a VM to the state stored in one of its snapshots.",
    run: snapshot_revert,
};

fn snapshot_revert(ctx: &mut Context) -> CmdResult {
    let r = snapshot_arg(ctx)?;
    ctx.call_async("VM.revert", vec![Value::String(r)])?;
    Ok(())
}

pub const SNAPSHOT_CLONE: CommandSpec = CommandSpec {
    name: "snapshot-clone",
    help: "Clone a snapshot into a new template, using fast disk clones, and print its UUID.",
    run: snapshot_clone,
};

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

pub const SNAPSHOT_COPY: CommandSpec = CommandSpec {
    name: "snapshot-copy",
    help: "Copy a snapshot into a new template with full disk copies, optionally on another SR.",
    run: snapshot_copy,
};

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
