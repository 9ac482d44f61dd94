//! Storage commands: SRs, PBDs, VDIs and VBDs, plus the VM-centric disk and
//! CD helpers (`vm-disk-*`, `vm-cd-*`, `cd-list`).

use super::select::{self, Selector, Target};
use super::sizes::parse_size;
use super::{by_uuid, print_uuid, CommandSpec};
use crate::connect::{Api, CallError};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use crate::output::Record;
use crate::records::{self, ClassView, Obj};
use std::time::{Duration, Instant};
use xenapi::{Value, NULL_REF};

fn s(v: &str) -> Value {
    Value::str(v)
}

fn map(pairs: Vec<(String, String)>) -> Value {
    Value::Struct(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

fn bool_param(ctx: &Context, name: &str, default: bool) -> CmdResult<bool> {
    ctx.params.bool(name, default)
}

macro_rules! simple {
    ($konst:ident, $name:literal, $class:literal, $method:literal, $help:literal) => {
        pub const $konst: CommandSpec =
            CommandSpec { name: $name, help: $help, run: |ctx| by_uuid(ctx, $class, $method) };
    };
}

simple!(SR_FORGET, "sr-forget", "SR", "forget", "Remove an SR from the pool database, leaving its contents intact.");
simple!(SR_DESTROY, "sr-destroy", "SR", "destroy", "Destroy an SR and delete all the data stored on it.");
simple!(SR_SCAN, "sr-scan", "SR", "scan", "Rescan an SR for VDIs and size changes made outside the toolstack.");
simple!(PBD_PLUG, "pbd-plug", "PBD", "plug", "Attach an SR to a host through a PBD.");
simple!(PBD_UNPLUG, "pbd-unplug", "PBD", "unplug", "Detach an SR from a host through a PBD.");
simple!(PBD_DESTROY, "pbd-destroy", "PBD", "destroy", "Destroy a PBD.");
simple!(VDI_DESTROY, "vdi-destroy", "VDI", "destroy", "Destroy a VDI and delete its data.");
simple!(VDI_FORGET, "vdi-forget", "VDI", "forget", "Remove a VDI from the database without deleting its data.");
simple!(VBD_PLUG, "vbd-plug", "VBD", "plug", "Hot-plug a VBD into its running VM.");
simple!(VBD_DESTROY, "vbd-destroy", "VBD", "destroy", "Destroy a VBD, leaving its VDI in place.");
simple!(VBD_EJECT, "vbd-eject", "VBD", "eject", "Eject the media from a removable drive, leaving it empty.");

/// A `VDI.create` record as xe builds it.
fn vdi_record(name: &str, sr: &str, size: i64, ty: &str, sharable: bool, sm_config: Value, tags: Vec<Value>) -> Value {
    Value::Struct(vec![
        ("name_label".into(), s(name)),
        ("name_description".into(), s("")),
        ("SR".into(), s(sr)),
        ("virtual_size".into(), Value::Int(size)),
        ("type".into(), s(ty)),
        ("sharable".into(), Value::Bool(sharable)),
        ("read_only".into(), Value::Bool(false)),
        ("other_config".into(), Value::Struct(Vec::new())),
        ("xenstore_data".into(), Value::Struct(Vec::new())),
        ("sm_config".into(), sm_config),
        ("tags".into(), Value::Array(tags)),
    ])
}

/// A `VBD.create` record; `vdi` None makes an empty (CD) drive.
struct VbdSpec<'a> {
    vm: &'a str,
    vdi: Option<&'a str>,
    device: &'a str,
    mode: &'a str,
    ty: &'a str,
    bootable: bool,
    unpluggable: bool,
    /// Marks the disk as owned by the VM, so `vm-uninstall` destroys it.
    owner: bool,
}

impl VbdSpec<'_> {
    fn record(&self) -> Value {
        // xe marks a disk the VM owns with an empty `owner` key.
        let other = if self.owner { vec![("owner".into(), s(""))] } else { Vec::new() };
        Value::Struct(vec![
            ("VM".into(), s(self.vm)),
            ("VDI".into(), s(self.vdi.unwrap_or(NULL_REF))),
            ("userdevice".into(), s(self.device)),
            ("bootable".into(), Value::Bool(self.bootable)),
            ("mode".into(), s(self.mode)),
            ("type".into(), s(self.ty)),
            ("unpluggable".into(), Value::Bool(self.unpluggable)),
            ("empty".into(), Value::Bool(self.vdi.is_none())),
            ("other_config".into(), Value::Struct(other)),
            ("qos_algorithm_type".into(), s("")),
            ("qos_algorithm_params".into(), Value::Struct(Vec::new())),
            ("device".into(), s("")),
            ("currently_attached".into(), Value::Bool(false)),
        ])
    }
}

/// Creates a VBD for a selected VM and tries to hot-plug it, as xe does:
/// whatever the VM's state, and keeping the VBD when the plug is refused.
fn attach(api: &mut dyn Api, spec: &VbdSpec) -> Result<(), CallError> {
    let vbd = api.call("VBD.create", vec![spec.record()])?;
    match api.call("VBD.plug", vec![vbd]) {
        Ok(_) | Err(CallError::Api(..)) => Ok(()),
        Err(e) => Err(e),
    }
}

pub const SR_CREATE: CommandSpec = CommandSpec {
    name: "sr-create",
    help: "Create a storage repository of the given type and print its UUID.",
    run: sr_create,
};

/// The pool master, used when a command needs a host and none was named.
fn pool_master(ctx: &mut Context) -> CmdResult<String> {
    let pools = ctx.call("pool.get_all", vec![])?;
    let pool = pools.as_array().and_then(|a| a.first()).cloned().unwrap_or(s(NULL_REF));
    Ok(ctx.call("pool.get_master", vec![pool])?.as_str().unwrap_or(NULL_REF).to_string())
}

/// `sr-create`'s `device-config:` entries: keys ending in `-filename` take
/// the contents of a local file (xe does this for sr-create only).
fn device_config_with_files(ctx: &mut Context) -> CmdResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (k, v) in ctx.params.map("device-config") {
        if let Some(key) = k.strip_suffix("-filename") {
            let text = std::fs::metadata(&v)
                .ok()
                .filter(|m| m.len() <= 32 << 20)
                .and_then(|_| std::fs::read_to_string(&v).ok());
            let Some(text) = text else {
                // xe's two messages: the path without a newline, then the error.
                ctx.printer.err_always_raw(&format!("File not found: {v}"));
                return Err(CliError::failure("File not found"));
            };
            out.push((key.to_string(), text));
        } else {
            out.push((k, v));
        }
    }
    Ok(out)
}

/// xe's `parse_host_uuid`: `host-uuid=`, else the master when the pool has
/// one host or `default_master` holds.
fn parse_host_uuid(ctx: &mut Context, default_master: bool) -> CmdResult<String> {
    if let Some(u) = ctx.params.get("host-uuid").map(str::to_string) {
        return ctx.lookup_uuid("host", &u);
    }
    let hosts = ctx.call("host.get_all", vec![])?;
    if default_master || hosts.as_array().map_or(0, <[Value]>::len) == 1 {
        pool_master(ctx)
    } else {
        Err(CliError::failure("Required parameter not found: host-uuid"))
    }
}

fn sr_create(ctx: &mut Context) -> CmdResult {
    let shared = bool_param(ctx, "shared", false)?;
    let host = parse_host_uuid(ctx, shared)?;
    // xe quietly takes a size it cannot read as 0.
    let size = ctx.params.get("physical-size").and_then(|v| parse_size("physical-size", v).ok()).unwrap_or(0);
    let dc = device_config_with_files(ctx)?;
    let args = vec![
        s(&host),
        map(dc),
        Value::Int(size),
        s(ctx.params.required("name-label")?),
        s(ctx.params.get("name-description").unwrap_or("")),
        s(ctx.params.required("type")?),
        s(ctx.params.get("content-type").unwrap_or("")),
        Value::Bool(shared),
        map(ctx.params.map("sm-config")),
    ];
    let sr = ctx.call("SR.create", args)?;
    let uuid = ctx.call("SR.get_uuid", vec![sr])?;
    // xe writes this uuid straight to the terminal, even with --minimal.
    ctx.printer.raw(&format!("{uuid}\n"));
    Ok(())
}

pub const SR_INTRODUCE: CommandSpec = CommandSpec {
    name: "sr-introduce",
    help: "Create a database record for an existing SR; PBDs are still needed to use it.",
    run: sr_introduce,
};

fn sr_introduce(ctx: &mut Context) -> CmdResult {
    let shared = bool_param(ctx, "shared", false)?;
    let args = vec![
        s(ctx.params.required("uuid")?),
        s(ctx.params.required("name-label")?),
        s(ctx.params.get("name-description").unwrap_or("")),
        s(ctx.params.required("type")?),
        s(ctx.params.get("content-type").unwrap_or("")),
        Value::Bool(shared),
        map(ctx.params.map("sm-config")),
    ];
    ctx.call("SR.introduce", args)?;
    // xe prints the uuid it was given.
    let uuid = ctx.params.required("uuid")?.to_string();
    ctx.printer.list(&[uuid]);
    Ok(())
}

pub const SR_PROBE: CommandSpec = CommandSpec {
    name: "sr-probe",
    help: "Ask a storage backend what it finds for a device configuration and print the reply.",
    run: sr_probe,
};

fn sr_probe(ctx: &mut Context) -> CmdResult {
    let host = parse_host_uuid(ctx, true)?;
    let dc = ctx.params.map("device-config");
    let ty = ctx.params.required("type")?.to_string();
    let out = ctx.call("SR.probe", vec![s(&host), map(dc), Value::String(ty), map(ctx.params.map("sm-config"))])?;
    ctx.printer.list(&[out.to_string()]);
    Ok(())
}

pub const PBD_CREATE: CommandSpec = CommandSpec {
    name: "pbd-create",
    help: "Create a PBD connecting a host to an SR with a device configuration and print its UUID.",
    run: pbd_create,
};

fn pbd_create(ctx: &mut Context) -> CmdResult {
    let host = ctx.lookup_param("host", "host-uuid")?;
    let sr = ctx.lookup_param("SR", "sr-uuid")?;
    let rec = Value::Struct(vec![
        ("host".into(), s(&host)),
        ("SR".into(), s(&sr)),
        ("device_config".into(), map(ctx.params.map("device-config"))),
        ("other_config".into(), Value::Struct(Vec::new())),
    ]);
    let pbd = ctx.call("PBD.create", vec![rec])?;
    print_uuid(ctx, "PBD", &pbd)
}

pub const VDI_CREATE: CommandSpec = CommandSpec {
    name: "vdi-create",
    help: "Create a VDI of a given size on an SR and print its UUID.",
    run: vdi_create,
};

/// xe's VDI types, spelt exactly (no case folding).
fn vdi_type(v: &str) -> CmdResult<&'static str> {
    match v {
        "system" => Ok("system"),
        "user" => Ok("user"),
        "suspend" => Ok("suspend"),
        "crashdump" => Ok("crashdump"),
        _ => Err(CliError::failure(format!("Unknown vdi type: {v}"))),
    }
}

fn vdi_create(ctx: &mut Context) -> CmdResult {
    let sr = ctx.lookup_param("SR", "sr-uuid")?;
    let name = ctx.params.required("name-label")?.to_string();
    let size = parse_size("virtual-size", ctx.params.required("virtual-size")?)?;
    let ty = vdi_type(ctx.params.get("type").unwrap_or("user"))?;
    let sharable = bool_param(ctx, "sharable", false)?;
    // `tags:<tag>` names a tag by its key; the value is not used.
    let tags: Vec<Value> = ctx.params.map("tags").into_iter().map(|(k, _)| Value::String(k)).collect();
    let rec = vdi_record(&name, &sr, size, ty, sharable, map(ctx.params.map("sm-config")), tags);
    let vdi = ctx.call("VDI.create", vec![rec])?;
    print_uuid(ctx, "VDI", &vdi)
}

pub const VDI_CLONE: CommandSpec = CommandSpec {
    name: "vdi-clone",
    help: "Clone a VDI, using a fast storage clone where possible, and print the new VDI's UUID.",
    run: vdi_clone,
};

fn vdi_clone(ctx: &mut Context) -> CmdResult {
    let vdi = ctx.lookup_param("VDI", "uuid")?;
    let new = ctx.call_async("VDI.clone", vec![s(&vdi), map(ctx.params.map("driver-params"))])?;
    if let Some(name) = ctx.params.get("new-name-label").map(str::to_string) {
        ctx.call("VDI.set_name_label", vec![new.clone(), Value::String(name)])?;
    }
    if let Some(d) = ctx.params.get("new-name-description").map(str::to_string) {
        ctx.call("VDI.set_name_description", vec![new.clone(), Value::String(d)])?;
    }
    print_uuid(ctx, "VDI", &new)
}

pub const VDI_SNAPSHOT: CommandSpec = CommandSpec {
    name: "vdi-snapshot",
    help: "Take a snapshot of a VDI and print the snapshot's UUID.",
    run: vdi_snapshot,
};

fn vdi_snapshot(ctx: &mut Context) -> CmdResult {
    let vdi = ctx.lookup_param("VDI", "uuid")?;
    let new = ctx.call_async("VDI.snapshot", vec![s(&vdi), map(ctx.params.map("driver-params"))])?;
    print_uuid(ctx, "VDI", &new)
}

pub const VDI_COPY: CommandSpec = CommandSpec {
    name: "vdi-copy",
    help: "Copy a VDI to an SR, or into an existing VDI, optionally only the blocks changed since a base.",
    run: vdi_copy,
};

fn vdi_copy(ctx: &mut Context) -> CmdResult {
    let vdi = ctx.lookup_param("VDI", "uuid")?;
    let base = match ctx.params.get("base-vdi-uuid").map(str::to_string) {
        Some(u) => ctx.lookup_uuid("VDI", &u)?,
        None => NULL_REF.to_string(),
    };
    let (sr, into) =
        match (ctx.params.get("sr-uuid").map(str::to_string), ctx.params.get("into-vdi-uuid").map(str::to_string)) {
            (Some(sr), None) => (ctx.lookup_uuid("SR", &sr)?, NULL_REF.to_string()),
            (None, Some(into)) => (NULL_REF.to_string(), ctx.lookup_uuid("VDI", &into)?),
            _ => {
                return Err(CliError::failure(
                    "Please specify one but not both of: a destination sr-uuid (I will create a fresh VDI); \
                 or a destination into-vdi-uuid (I will copy the blocks into this VDI)",
                ))
            }
        };
    let new = ctx.call_async("VDI.copy", vec![s(&vdi), s(&sr), s(&base), s(&into)])?;
    print_uuid(ctx, "VDI", &new)
}

pub const VDI_RESIZE: CommandSpec = CommandSpec {
    name: "vdi-resize",
    help: "Change the size of a VDI; online=true resizes it while attached.",
    run: vdi_resize,
};

fn vdi_resize(ctx: &mut Context) -> CmdResult {
    let vdi = ctx.lookup_param("VDI", "uuid")?;
    let size = parse_size("disk-size", ctx.params.required("disk-size")?)?;
    // Only the exact word `true` asks for an online resize, as in xe.
    let method = if ctx.params.get("online") == Some("true") { "VDI.resize_online" } else { "VDI.resize" };
    ctx.call_async(method, vec![s(&vdi), Value::Int(size)])?;
    Ok(())
}

pub const VDI_INTRODUCE: CommandSpec = CommandSpec {
    name: "vdi-introduce",
    help: "Create a record for an existing disk at a location on an SR and print its UUID.",
    run: vdi_introduce,
};

fn vdi_introduce(ctx: &mut Context) -> CmdResult {
    let sr = ctx.lookup_param("SR", "sr-uuid")?;
    let ty = vdi_type(ctx.params.required("type")?)?;
    let args = vec![
        s(ctx.params.required("uuid")?),
        s(ctx.params.get("name-label").unwrap_or("")),
        s(ctx.params.get("name-description").unwrap_or("")),
        s(&sr),
        s(ty),
        Value::Bool(bool_param(ctx, "sharable", false)?),
        Value::Bool(bool_param(ctx, "read-only", false)?),
        map(ctx.params.map("other-config")),
        s(ctx.params.required("location")?),
        map(ctx.params.map("xenstore-data")),
        map(ctx.params.map("sm-config")),
        Value::Bool(bool_param(ctx, "managed", false)?),
        Value::Int(0),
        Value::Int(0),
        s(NULL_REF),
        Value::Bool(false),
        Value::DateTime(xenapi::datetime::EPOCH.to_string()),
        s(NULL_REF),
    ];
    let vdi = ctx.call("VDI.introduce", args)?;
    print_uuid(ctx, "VDI", &vdi)
}

pub const VBD_CREATE: CommandSpec = CommandSpec {
    name: "vbd-create",
    help: "Create a VBD linking a VM to a VDI, or an empty CD drive, without plugging it; print its UUID.",
    run: vbd_create,
};

fn vbd_create(ctx: &mut Context) -> CmdResult {
    let vm = ctx.lookup_param("VM", "vm-uuid")?;
    let vdi = match ctx.params.get("vdi-uuid").map(str::to_string) {
        Some(u) => Some(ctx.lookup_uuid("VDI", &u)?),
        None => None,
    };
    let bootable = bool_param(ctx, "bootable", false)?;
    // xe's texts, unbalanced quotes and brackets included.
    let mode = match ctx.params.get("mode").map(str::to_ascii_lowercase).as_deref() {
        None | Some("rw") => "RW",
        Some("ro") => "RO",
        Some(other) => return Err(CliError::failure(format!("Unknown mode: {other} (should be \"ro\" or \"rw\""))),
    };
    let ty = match ctx.params.get("type").map(str::to_ascii_lowercase).as_deref() {
        None | Some("disk") => "Disk",
        Some("cd") => "CD",
        Some("floppy") => "Floppy",
        Some(other) => {
            return Err(CliError::failure(format!("\"Unknown type: {other} (should be \"cd\", \"disk\" or \"floppy\"")))
        }
    };
    let unpluggable = bool_param(ctx, "unpluggable", true)?;
    if vdi.is_none() && ty == "Disk" {
        return Err(CliError::failure("Empty VBDs can only be made for type=CD"));
    }
    let device = ctx.params.required("device")?.to_string();
    let rec = VbdSpec { vm: &vm, vdi: vdi.as_deref(), device: &device, mode, ty, bootable, unpluggable, owner: false }
        .record();
    let vbd = ctx.call("VBD.create", vec![rec])?;
    print_uuid(ctx, "VBD", &vbd)
}

pub const VBD_UNPLUG: CommandSpec = CommandSpec {
    name: "vbd-unplug",
    help: "Hot-unplug a VBD from its running VM; --force forces it and timeout= retries while the guest refuses.",
    run: vbd_unplug,
};

fn vbd_unplug(ctx: &mut Context) -> CmdResult {
    let vbd = ctx.lookup_param("VBD", "uuid")?;
    let timeout = match ctx.params.get("timeout") {
        Some(t) => {
            t.parse::<f64>().map_err(|_| CliError::failure("Failed to parse parameter 'timeout': expecting a float"))?
        }
        None => 0.0,
    };
    let method = if bool_param(ctx, "force", false)? { "VBD.unplug_force" } else { "VBD.unplug" };
    let start = Instant::now();
    match Api::call(ctx, method, vec![s(&vbd)]) {
        Ok(_) => Ok(()),
        // The guest refused: like xe, watch for it letting go until
        // `timeout` seconds after the unplug began, checking every 5 s.
        Err(CallError::Api(code, params)) if code == "DEVICE_DETACH_REJECTED" => {
            let limit = Duration::try_from_secs_f64(timeout).unwrap_or(Duration::ZERO);
            while start.elapsed() < limit {
                std::thread::sleep(Duration::from_secs(5));
                let attached = ctx.call("VBD.get_currently_attached", vec![s(&vbd)])?;
                if attached.as_bool() == Some(false) {
                    return Ok(());
                }
            }
            Err(ctx.api_error(&code, params))
        }
        Err(e) => Err(ctx.describe(e)),
    }
}

pub const VBD_INSERT: CommandSpec =
    CommandSpec { name: "vbd-insert", help: "Insert a VDI into an empty removable drive.", run: vbd_insert };

fn vbd_insert(ctx: &mut Context) -> CmdResult {
    let vbd = ctx.lookup_param("VBD", "uuid")?;
    let vdi = ctx.lookup_param("VDI", "vdi-uuid")?;
    ctx.call("VBD.insert", vec![s(&vbd), s(&vdi)])?;
    Ok(())
}

/// A VM's VBDs, in the order of its record.
fn vbd_refs(vm: &Target) -> Vec<String> {
    vm.rec
        .get("VBDs")
        .and_then(Value::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn text(v: Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

fn record_of(
    ctx: &mut Context,
    cli: &str,
    r: &str,
    rec: &Value,
    params: Option<&str>,
    default: &str,
) -> CmdResult<Record> {
    let view = ClassView::new(cli).ok_or_else(|| CliError::Internal(format!("no record for {cli}")))?;
    let fields = super::generic::selected_fields(&view, Some(params.unwrap_or(default)));
    records::build_record(ctx, &view, &Obj { r, rec }, &fields, false)
}

/// `vm-disk-list` and `vm-cd-list`: each VBD of the type, in the VM's
/// order, then its VDI unless the drive is empty. `vbd-params=` and
/// `vdi-params=` choose the fields (a plain `params=` given first serves both).
fn disk_list(ctx: &mut Context, ty: &str, label: &str, vbd_default: &str) -> CmdResult {
    let vbd_params = ctx.params.first_of(&["vbd-params", "params"]).map(str::to_string);
    let vdi_params = ctx.params.first_of(&["vdi-params", "params"]).map(str::to_string);
    let vms = select::select(ctx, Selector::VM)?;
    for vm in &vms {
        let mut vbds = Vec::new();
        for vbd in vbd_refs(vm) {
            if ctx.call("VBD.get_type", vec![s(&vbd)])?.as_str() == Some(ty) {
                vbds.push(vbd);
            }
        }
        let mut shown = Vec::new();
        for vbd in vbds {
            let rec = ctx.call("VBD.get_record", vec![s(&vbd)])?;
            let vdi = if ctx.call("VBD.get_empty", vec![s(&vbd)])?.as_bool() == Some(true) {
                None
            } else {
                let vdi = text(ctx.call("VBD.get_VDI", vec![s(&vbd)])?);
                let vdi_rec = ctx.call("VDI.get_record", vec![s(&vdi)])?;
                Some((vdi, vdi_rec))
            };
            shown.push((vbd, rec, vdi));
        }
        for (n, (vbd, rec, vdi)) in shown.into_iter().enumerate() {
            ctx.printer.message(&format!("{label} {n} VBD:"));
            let r = record_of(ctx, "vbd", &vbd, &rec, vbd_params.as_deref(), vbd_default)?;
            ctx.printer.records(&[r]);
            if let Some((vdi, vdi_rec)) = vdi {
                ctx.printer.message(&format!("{label} {n} VDI:"));
                let default = "uuid,name-label,virtual-size,sr-name-label";
                let r = record_of(ctx, "vdi", &vdi, &vdi_rec, vdi_params.as_deref(), default)?;
                ctx.printer.records(&[r]);
            }
        }
    }
    Ok(())
}

pub const VM_DISK_LIST: CommandSpec = CommandSpec {
    name: "vm-disk-list",
    help: "List the disks of a VM with their VBD and VDI details.",
    run: |ctx| disk_list(ctx, "Disk", "Disk", "uuid,vm-name-label,userdevice"),
};

pub const VM_CD_LIST: CommandSpec = CommandSpec {
    name: "vm-cd-list",
    help: "List the CD drives of a VM and the discs in them.",
    run: |ctx| disk_list(ctx, "CD", "CD", "uuid,vm-name-label,userdevice,empty"),
};

pub const VM_DISK_ADD: CommandSpec = CommandSpec {
    name: "vm-disk-add",
    help: "Create a new disk of a given size and attach it to a VM at the given device position.",
    run: vm_disk_add,
};

/// The pool's default SR, if it names one that exists.
fn default_sr(ctx: &mut Context) -> CmdResult<Option<String>> {
    let pools = ctx.call("pool.get_all", vec![])?;
    let pool = pools.as_array().and_then(|a| a.first()).cloned().unwrap_or(s(NULL_REF));
    let sr = ctx.call("pool.get_default_SR", vec![pool])?;
    // A null or dangling default is "no default" (xe asks for its uuid).
    match Api::call(ctx, "SR.get_uuid", vec![sr]) {
        Ok(uuid) => Ok(Some(text(uuid))),
        Err(_) => Ok(None),
    }
}

/// `vm-disk-add`: a new VDI named as xe names it, attached through a VBD the
/// VM owns; the VDI is destroyed again when the VBD cannot be made.
fn vm_disk_add(ctx: &mut Context) -> CmdResult {
    let size = parse_size("disk-size", ctx.params.required("disk-size")?)?;
    let device = ctx.params.required("device")?.to_string();
    let sr = match ctx.params.get("sr-uuid").map(str::to_string) {
        Some(u) => ctx.lookup_uuid("SR", &u)?,
        None => match default_sr(ctx)? {
            Some(uuid) => ctx.lookup_uuid("SR", &uuid)?,
            None => return Err(CliError::failure("No default Pool SR set; you must specify an SR on the commandline")),
        },
    };
    let vms = select::select(ctx, Selector::VM)?;
    select::run_each(ctx, &vms, |api, vm| {
        const NAME: &str = "Created by xe";
        let mut rec =
            vdi_record(NAME, &sr, size, "user", false, map(vec![("vmhint".into(), vm.uuid.clone())]), Vec::new());
        if let Value::Struct(members) = &mut rec {
            for (k, v) in members.iter_mut() {
                if k == "name_description" {
                    *v = s(NAME);
                }
            }
        }
        let vdi = text(api.call("VDI.create", vec![rec])?);
        let spec = VbdSpec {
            vm: &vm.r,
            vdi: Some(&vdi),
            device: &device,
            mode: "RW",
            ty: "Disk",
            bootable: false,
            unpluggable: true,
            owner: true,
        };
        if let Err(e) = attach(api, &spec) {
            // Nothing is left behind: the new disk goes with the failed VBD.
            let _ = api.call("VDI.destroy", vec![s(&vdi)]);
            return Err(e);
        }
        Ok(None)
    })?;
    Ok(())
}

pub const VM_DISK_REMOVE: CommandSpec = CommandSpec {
    name: "vm-disk-remove",
    help: "Detach the disk at a device position from a VM and destroy it.",
    run: vm_disk_remove,
};

/// `vm-disk-remove`: destroys the VBD at `device` and then its VDI. It never
/// unplugs: the server refuses to destroy an attached VBD, and the disk and
/// its data stay.
fn vm_disk_remove(ctx: &mut Context) -> CmdResult {
    let device = ctx.params.required("device")?.to_string();
    let vms = select::select(ctx, Selector::VM)?;
    select::run_each(ctx, &vms, |api, vm| {
        let rec = api.call("VM.get_record", vec![s(&vm.r)])?;
        let vbds = rec.get("VBDs").and_then(Value::as_array).unwrap_or(&[]).to_vec();
        let mut found = None;
        for vbd in vbds {
            if api.call("VBD.get_userdevice", vec![vbd.clone()])?.as_str() == Some(device.as_str()) {
                found = Some(vbd);
                break;
            }
        }
        let Some(vbd) = found else { return Err(CallError::Cli(CliError::failure("Disk not found"))) };
        let vdi = api.call("VBD.get_VDI", vec![vbd.clone()])?;
        api.call("VBD.destroy", vec![vbd])?;
        api.call("VDI.destroy", vec![vdi])?;
        Ok(None)
    })?;
    Ok(())
}

/// The VDIs named `name` in ISO SRs, in the server's order.
fn iso_vdis_named(ctx: &mut Context, name: &str) -> CmdResult<Vec<String>> {
    let vdis = ctx.call("VDI.get_by_name_label", vec![s(name)])?;
    let mut out = Vec::new();
    for vdi in vdis.as_array().unwrap_or(&[]).iter().filter_map(Value::as_str) {
        let sr = ctx.call("VDI.get_SR", vec![s(vdi)])?;
        if ctx.call("SR.get_content_type", vec![sr])?.as_str() == Some("iso") {
            out.push(vdi.to_string());
        }
    }
    Ok(out)
}

pub const CD_LIST: CommandSpec = CommandSpec {
    name: "cd-list",
    help: "List the CD images available in the ISO storage repositories.",
    run: cd_list,
};

/// `cd-list`: the VDIs of every ISO SR, SR by SR.
fn cd_list(ctx: &mut Context) -> CmdResult {
    let params = ctx.params.get("params").map(str::to_string);
    let srs = records::fetch_all(ctx, "SR")?;
    let mut vdis = Vec::new();
    for (sr, rec) in srs {
        if rec.get("content_type").and_then(Value::as_str) == Some("iso") {
            let own = ctx.call("SR.get_VDIs", vec![s(&sr)])?;
            vdis.extend(own.as_array().unwrap_or(&[]).iter().filter_map(Value::as_str).map(str::to_string));
        }
    }
    let mut out = Vec::new();
    for vdi in vdis {
        let rec = ctx.call("VDI.get_record", vec![s(&vdi)])?;
        out.push(record_of(ctx, "vdi", &vdi, &rec, params.as_deref(), "name-label,uuid")?);
    }
    ctx.printer.records(&out);
    Ok(())
}

pub const VM_CD_ADD: CommandSpec = CommandSpec {
    name: "vm-cd-add",
    help: "Add a CD drive holding a named ISO from the CD library to a VM at the given device position.",
    run: vm_cd_add,
};

/// `vm-cd-add`: a read-only CD drive holding the first ISO named `cd-name`.
fn vm_cd_add(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("cd-name")?.to_string();
    let Some(cd) = iso_vdis_named(ctx, &name)?.into_iter().next() else {
        return Err(CliError::failure(format!("CD {name} not found!")));
    };
    let device = ctx.params.required("device")?.to_string();
    let vms = select::select(ctx, Selector::VM)?;
    select::run_each(ctx, &vms, |api, vm| {
        let spec = VbdSpec {
            vm: &vm.r,
            vdi: Some(&cd),
            device: &device,
            mode: "RO",
            ty: "CD",
            bootable: false,
            unpluggable: true,
            owner: false,
        };
        attach(api, &spec)?;
        Ok(None)
    })?;
    Ok(())
}

pub const VM_CD_REMOVE: CommandSpec = CommandSpec {
    name: "vm-cd-remove",
    help: "Remove the CD drive holding a named disc from a VM.",
    run: vm_cd_remove,
};

/// `vm-cd-remove`: destroys the first drive holding the ISO named `cd-name`
/// (`<EMPTY>` names an empty drive). Like xe it does not eject or unplug.
fn vm_cd_remove(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("cd-name")?.to_string();
    let vms = select::select(ctx, Selector::VM)?;
    select::run_each(ctx, &vms, |api, vm| {
        let holds = |api: &mut dyn Api, vbd: &str| -> Result<bool, CallError> {
            let vdi = api.call("VBD.get_VDI", vec![s(vbd)])?;
            let sr = api.call("VDI.get_SR", vec![vdi.clone()])?;
            Ok(api.call("SR.get_content_type", vec![sr])?.as_str() == Some("iso")
                && api.call("VDI.get_name_label", vec![vdi])?.as_str() == Some(name.as_str()))
        };
        let mut found = None;
        for vbd in vbd_refs(vm) {
            // A drive whose disk cannot be read (an empty one) is `<EMPTY>`.
            let matches = match holds(api, &vbd) {
                Ok(m) => m,
                Err(CallError::Api(..)) => name == "<EMPTY>",
                Err(e) => return Err(e),
            };
            if matches {
                found = Some(vbd);
                break;
            }
        }
        let Some(vbd) = found else { return Err(CallError::Cli(CliError::failure("Disk not found"))) };
        api.call("VBD.destroy", vec![s(&vbd)])?;
        Ok(None)
    })?;
    Ok(())
}

pub const VM_CD_INSERT: CommandSpec = CommandSpec {
    name: "vm-cd-insert",
    help: "Insert a named ISO from the CD library into the only empty CD drive of a VM.",
    run: vm_cd_insert,
};

/// `vm-cd-insert`: the ISO must be unique by name, and the VM must have
/// exactly one empty CD drive.
fn vm_cd_insert(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("cd-name")?.to_string();
    let cds = iso_vdis_named(ctx, &name)?;
    let cd = match cds.as_slice() {
        [] => return Err(CliError::failure(format!("CD {name} not found"))),
        [one] => one.clone(),
        _ => {
            return Err(CliError::failure(format!(
                "Multiple CDs named {name} found. Please use vbd-insert and specify uuids"
            )))
        }
    };
    let vms = select::select(ctx, Selector::VM)?;
    select::run_each(ctx, &vms, |api, vm| {
        let mut empty = Vec::new();
        for vbd in vbd_refs(vm) {
            if api.call("VBD.get_type", vec![s(&vbd)])?.as_str() == Some("CD")
                && api.call("VBD.get_empty", vec![s(&vbd)])?.as_bool() == Some(true)
            {
                empty.push(vbd);
            }
        }
        match empty.as_slice() {
            [] => Err(CallError::Api("VM_NO_EMPTY_CD_VBD".into(), vec![vm.r.clone()])),
            [one] => api.call("VBD.insert", vec![s(one), s(&cd)]).map(|_| None),
            _ => Err(CallError::Cli(CliError::failure("Two or more empty CD devices found. Please use vbd-insert"))),
        }
    })?;
    Ok(())
}

pub const VM_CD_EJECT: CommandSpec =
    CommandSpec { name: "vm-cd-eject", help: "Eject the disc from the only CD drive of a VM.", run: vm_cd_eject };

/// `vm-cd-eject`: the VM must have exactly one CD drive.
fn vm_cd_eject(ctx: &mut Context) -> CmdResult {
    let vms = select::select(ctx, Selector::VM)?;
    select::run_each(ctx, &vms, |api, vm| {
        let mut drives = Vec::new();
        for vbd in vbd_refs(vm) {
            if api.call("VBD.get_type", vec![s(&vbd)])?.as_str() == Some("CD") {
                drives.push(vbd);
            }
        }
        match drives.as_slice() {
            [] => Err(CallError::Cli(CliError::failure("No CDs found"))),
            [one] => api.call("VBD.eject", vec![s(one)]).map(|_| None),
            _ => Err(CallError::Cli(CliError::failure("Two or more CDs found. Please use vbd-eject"))),
        }
    })?;
    Ok(())
}
