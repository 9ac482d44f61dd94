//! Storage commands: SRs, PBDs, VDIs and VBDs, plus the VM-centric disk and
//! CD helpers (`vm-disk-*`, `vm-cd-*`, `cd-list`).

use super::select::{self, Selector, Target};
use super::sizes::parse_size;
use super::{by_uuid, print_uuid, CommandSpec};
use crate::argv::parse_bool;
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
    match ctx.params.get(name) {
        None => Ok(default),
        Some(v) => parse_bool(v)
            .ok_or_else(|| CliError::failure(format!("Invalid value '{v}' for {name}: expected true or false"))),
    }
}

macro_rules! simple {
    ($konst:ident, $name:literal, $class:literal, $method:literal) => {
        pub const $konst: CommandSpec = CommandSpec { name: $name, help: "", run: |ctx| by_uuid(ctx, $class, $method) };
    };
}

simple!(SR_FORGET, "sr-forget", "SR", "forget");
simple!(SR_DESTROY, "sr-destroy", "SR", "destroy");
simple!(SR_SCAN, "sr-scan", "SR", "scan");
simple!(PBD_PLUG, "pbd-plug", "PBD", "plug");
simple!(PBD_UNPLUG, "pbd-unplug", "PBD", "unplug");
simple!(PBD_DESTROY, "pbd-destroy", "PBD", "destroy");
simple!(VDI_DESTROY, "vdi-destroy", "VDI", "destroy");
simple!(VDI_FORGET, "vdi-forget", "VDI", "forget");
simple!(VBD_PLUG, "vbd-plug", "VBD", "plug");
simple!(VBD_DESTROY, "vbd-destroy", "VBD", "destroy");
simple!(VBD_EJECT, "vbd-eject", "VBD", "eject");

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
        let other = if self.owner { vec![("owner".into(), s("true"))] } else { Vec::new() };
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

/// Creates a VBD for a selected VM and hot-plugs it when the VM is running.
fn attach(api: &mut dyn Api, vm: &Target, spec: &VbdSpec) -> Result<(), CallError> {
    let vbd = api.call("VBD.create", vec![spec.record()])?;
    if vm.rec.get("power_state").and_then(Value::as_str) == Some("Running") {
        api.call("VBD.plug", vec![vbd])?;
    }
    Ok(())
}

pub const SR_CREATE: CommandSpec = CommandSpec { name: "sr-create", help: "", run: sr_create };

/// The pool master, used when a command needs a host and none was named.
fn pool_master(ctx: &mut Context) -> CmdResult<String> {
    let pools = ctx.call("pool.get_all", vec![])?;
    let pool = pools.as_array().and_then(|a| a.first()).cloned().unwrap_or(s(NULL_REF));
    Ok(ctx.call("pool.get_master", vec![pool])?.as_str().unwrap_or(NULL_REF).to_string())
}

/// `device-config:` entries; keys ending in `-filename` take a local file's contents.
fn device_config(ctx: &Context) -> CmdResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (k, v) in ctx.params.map("device-config") {
        if let Some(key) = k.strip_suffix("-filename") {
            let meta = std::fs::metadata(&v).map_err(|e| CliError::failure(format!("cannot read {v}: {e}")))?;
            if meta.len() > 32 << 20 {
                return Err(CliError::failure(format!("{v} is larger than 32 MiB")));
            }
            let text = std::fs::read_to_string(&v).map_err(|e| CliError::failure(format!("cannot read {v}: {e}")))?;
            out.push((key.to_string(), text));
        } else {
            out.push((k, v));
        }
    }
    Ok(out)
}

fn sr_create(ctx: &mut Context) -> CmdResult {
    let shared = bool_param(ctx, "shared", false)?;
    let host = match ctx.params.get("host-uuid").map(str::to_string) {
        Some(u) => ctx.lookup_uuid("host", &u)?,
        None => {
            let hosts = ctx.call("host.get_all", vec![])?;
            if shared || hosts.as_array().map_or(0, <[Value]>::len) == 1 {
                pool_master(ctx)?
            } else {
                return Err(CliError::failure("A non-shared SR belongs to one host: give host-uuid="));
            }
        }
    };
    let size = match ctx.params.get("physical-size") {
        Some(v) => parse_size(v)?,
        None => 0,
    };
    let dc = device_config(ctx)?;
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

pub const SR_INTRODUCE: CommandSpec = CommandSpec { name: "sr-introduce", help: "", run: sr_introduce };

fn sr_introduce(ctx: &mut Context) -> CmdResult {
    let shared = bool_param(ctx, "shared", false)?;
    let args = vec![
        s(ctx.params.required("uuid")?),
        s(ctx.params.required("name-label")?),
        s(ctx.params.get("name-description").unwrap_or("")),
        s(ctx.params.required("type")?),
        s(ctx.params.get("content-type").unwrap_or("")),
        Value::Bool(shared),
        Value::Struct(Vec::new()),
    ];
    let sr = ctx.call("SR.introduce", args)?;
    print_uuid(ctx, "SR", &sr)
}

pub const SR_PROBE: CommandSpec = CommandSpec { name: "sr-probe", help: "", run: sr_probe };

fn sr_probe(ctx: &mut Context) -> CmdResult {
    let host = match ctx.params.get("host-uuid").map(str::to_string) {
        Some(u) => ctx.lookup_uuid("host", &u)?,
        None => pool_master(ctx)?,
    };
    let dc = device_config(ctx)?;
    let ty = ctx.params.required("type")?.to_string();
    let out = ctx.call("SR.probe", vec![s(&host), map(dc), Value::String(ty), map(ctx.params.map("sm-config"))])?;
    ctx.printer.list(&[out.to_string()]);
    Ok(())
}

pub const PBD_CREATE: CommandSpec = CommandSpec { name: "pbd-create", help: "", run: pbd_create };

fn pbd_create(ctx: &mut Context) -> CmdResult {
    let host = ctx.lookup_param("host", "host-uuid")?;
    let sr = ctx.lookup_param("SR", "sr-uuid")?;
    let rec = Value::Struct(vec![
        ("host".into(), s(&host)),
        ("SR".into(), s(&sr)),
        ("device_config".into(), map(device_config(ctx)?)),
        ("other_config".into(), Value::Struct(Vec::new())),
    ]);
    let pbd = ctx.call("PBD.create", vec![rec])?;
    print_uuid(ctx, "PBD", &pbd)
}

pub const VDI_CREATE: CommandSpec = CommandSpec { name: "vdi-create", help: "", run: vdi_create };

fn vdi_create(ctx: &mut Context) -> CmdResult {
    let sr = ctx.lookup_param("SR", "sr-uuid")?;
    let size = parse_size(ctx.params.required("virtual-size")?)?;
    let ty = ctx.params.get("type").unwrap_or("user").to_ascii_lowercase();
    if !["system", "user", "suspend", "crashdump"].contains(&ty.as_str()) {
        return Err(CliError::failure(format!("Invalid VDI type '{ty}': use system, user, suspend or crashdump")));
    }
    let sharable = bool_param(ctx, "sharable", false)?;
    let tags: Vec<Value> = ctx.params.map("tags").into_iter().map(|(_, v)| Value::String(v)).collect();
    let name = ctx.params.required("name-label")?.to_string();
    let rec = vdi_record(&name, &sr, size, &ty, sharable, map(ctx.params.map("sm-config")), tags);
    let vdi = ctx.call("VDI.create", vec![rec])?;
    print_uuid(ctx, "VDI", &vdi)
}

pub const VDI_CLONE: CommandSpec = CommandSpec { name: "vdi-clone", help: "", run: vdi_clone };

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

pub const VDI_SNAPSHOT: CommandSpec = CommandSpec { name: "vdi-snapshot", help: "", run: vdi_snapshot };

fn vdi_snapshot(ctx: &mut Context) -> CmdResult {
    let vdi = ctx.lookup_param("VDI", "uuid")?;
    let new = ctx.call_async("VDI.snapshot", vec![s(&vdi), map(ctx.params.map("driver-params"))])?;
    print_uuid(ctx, "VDI", &new)
}

pub const VDI_COPY: CommandSpec = CommandSpec { name: "vdi-copy", help: "", run: vdi_copy };

fn vdi_copy(ctx: &mut Context) -> CmdResult {
    let vdi = ctx.lookup_param("VDI", "uuid")?;
    let lookup = |ctx: &mut Context, key: &str, class: &str| -> CmdResult<String> {
        match ctx.params.get(key).map(str::to_string) {
            Some(u) => ctx.lookup_uuid(class, &u),
            None => Ok(NULL_REF.to_string()),
        }
    };
    let sr = lookup(ctx, "sr-uuid", "SR")?;
    let base = lookup(ctx, "base-vdi-uuid", "VDI")?;
    let into = lookup(ctx, "into-vdi-uuid", "VDI")?;
    if sr == NULL_REF && into == NULL_REF {
        return Err(CliError::failure("Give the destination: sr-uuid= or into-vdi-uuid="));
    }
    let new = ctx.call_async("VDI.copy", vec![s(&vdi), s(&sr), s(&base), s(&into)])?;
    print_uuid(ctx, "VDI", &new)
}

pub const VDI_RESIZE: CommandSpec = CommandSpec { name: "vdi-resize", help: "", run: vdi_resize };

fn vdi_resize(ctx: &mut Context) -> CmdResult {
    let vdi = ctx.lookup_param("VDI", "uuid")?;
    let size = parse_size(ctx.params.required("disk-size")?)?;
    let method = if bool_param(ctx, "online", false)? { "VDI.resize_online" } else { "VDI.resize" };
    ctx.call_async(method, vec![s(&vdi), Value::Int(size)])?;
    Ok(())
}

pub const VDI_INTRODUCE: CommandSpec = CommandSpec { name: "vdi-introduce", help: "", run: vdi_introduce };

fn vdi_introduce(ctx: &mut Context) -> CmdResult {
    let sr = ctx.lookup_param("SR", "sr-uuid")?;
    let ty = ctx.params.required("type")?.to_ascii_lowercase();
    let args = vec![
        s(ctx.params.required("uuid")?),
        s(ctx.params.get("name-label").unwrap_or("")),
        s(ctx.params.get("name-description").unwrap_or("")),
        s(&sr),
        Value::String(ty),
        Value::Bool(bool_param(ctx, "sharable", false)?),
        Value::Bool(bool_param(ctx, "read-only", false)?),
        map(ctx.params.map("other-config")),
        s(ctx.params.required("location")?),
        map(ctx.params.map("xenstore-data")),
        map(ctx.params.map("sm-config")),
        Value::Bool(bool_param(ctx, "managed", true)?),
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

pub const VBD_CREATE: CommandSpec = CommandSpec { name: "vbd-create", help: "", run: vbd_create };

fn vbd_create(ctx: &mut Context) -> CmdResult {
    let vm = ctx.lookup_param("VM", "vm-uuid")?;
    let vdi = match ctx.params.get("vdi-uuid").map(str::to_string) {
        Some(u) => Some(ctx.lookup_uuid("VDI", &u)?),
        None => None,
    };
    let mode = match ctx.params.get("mode").map(str::to_ascii_lowercase).as_deref() {
        None | Some("rw") => "RW",
        Some("ro") => "RO",
        Some(other) => return Err(CliError::failure(format!("Invalid mode '{other}': use RO or RW"))),
    };
    let ty = match ctx.params.get("type").map(str::to_ascii_lowercase).as_deref() {
        None | Some("disk") => "Disk",
        Some("cd") => "CD",
        Some("floppy") => "Floppy",
        Some(other) => return Err(CliError::failure(format!("Invalid type '{other}': use Disk, CD or Floppy"))),
    };
    if vdi.is_none() && ty == "Disk" {
        return Err(CliError::failure("A disk VBD needs a disk: give vdi-uuid= (only CD drives can be empty)"));
    }
    let device = ctx.params.required("device")?.to_string();
    let rec = VbdSpec {
        vm: &vm,
        vdi: vdi.as_deref(),
        device: &device,
        mode,
        ty,
        bootable: bool_param(ctx, "bootable", false)?,
        unpluggable: bool_param(ctx, "unpluggable", true)?,
        owner: false,
    }
    .record();
    let vbd = ctx.call("VBD.create", vec![rec])?;
    print_uuid(ctx, "VBD", &vbd)
}

pub const VBD_UNPLUG: CommandSpec = CommandSpec { name: "vbd-unplug", help: "", run: vbd_unplug };

fn vbd_unplug(ctx: &mut Context) -> CmdResult {
    let vbd = ctx.lookup_param("VBD", "uuid")?;
    let method = if ctx.params.flag("force") { "VBD.unplug_force" } else { "VBD.unplug" };
    let timeout = match ctx.params.get("timeout") {
        Some(t) => t
            .parse::<f64>()
            .ok()
            .filter(|t| *t >= 0.0 && t.is_finite())
            .ok_or_else(|| CliError::failure(format!("Invalid timeout '{t}': give a number of seconds")))?,
        None => 0.0,
    };
    match Api::call(ctx, method, vec![s(&vbd)]) {
        Ok(_) => Ok(()),
        // The guest refused; xe keeps checking whether it let go after all.
        Err(CallError::Api(code, params)) if code == "DEVICE_DETACH_REJECTED" && timeout > 0.0 => {
            let deadline = Instant::now() + Duration::from_secs_f64(timeout);
            loop {
                std::thread::sleep(Duration::from_secs(5).min(deadline.saturating_duration_since(Instant::now())));
                let attached = ctx.call("VBD.get_currently_attached", vec![s(&vbd)])?;
                if attached.as_bool() == Some(false) {
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    return Err(ctx.api_error(&code, params));
                }
                if Api::call(ctx, method, vec![s(&vbd)]).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(e) => Err(ctx.describe(e)),
    }
}

pub const VBD_INSERT: CommandSpec = CommandSpec { name: "vbd-insert", help: "", run: vbd_insert };

fn vbd_insert(ctx: &mut Context) -> CmdResult {
    let vbd = ctx.lookup_param("VBD", "uuid")?;
    let vdi = ctx.lookup_param("VDI", "vdi-uuid")?;
    ctx.call("VBD.insert", vec![s(&vbd), s(&vdi)])?;
    Ok(())
}

/// The VBDs of a VM of one type (`Disk` or `CD`), in device order.
fn vbds_of(ctx: &mut Context, vm: &Target, ty: &str) -> CmdResult<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for vbd in vm.rec.get("VBDs").and_then(Value::as_array).unwrap_or(&[]).iter().filter_map(Value::as_str) {
        let rec = ctx.call("VBD.get_record", vec![s(vbd)])?;
        if rec.get("type").and_then(Value::as_str) == Some(ty) {
            out.push((vbd.to_string(), rec));
        }
    }
    out.sort_by_key(|(_, r)| r.get("userdevice").and_then(Value::as_str).and_then(|d| d.parse::<u32>().ok()));
    Ok(out)
}

fn record_of(ctx: &mut Context, cli: &str, r: &str, rec: &Value, params: &str) -> CmdResult<Record> {
    let view = ClassView::new(cli).ok_or_else(|| CliError::Internal(format!("no record for {cli}")))?;
    let fields = super::generic::selected_fields(&view, Some(params));
    records::build_record(ctx, &view, &Obj { r, rec }, &fields, false)
}

fn disk_list(ctx: &mut Context, ty: &str, label: &str, vdi_default: &str) -> CmdResult {
    let vbd_params = ctx.params.get("vbd-params").unwrap_or("uuid,vm-name-label,userdevice,empty").to_string();
    let vdi_params = ctx.params.get("vdi-params").unwrap_or(vdi_default).to_string();
    let vms = select::select(ctx, Selector::VM)?;
    for vm in &vms {
        for (n, (vbd, rec)) in vbds_of(ctx, vm, ty)?.into_iter().enumerate() {
            ctx.printer.message(&format!("{label} {n} VBD:"));
            let r = record_of(ctx, "vbd", &vbd, &rec, &vbd_params)?;
            ctx.printer.records(&[r]);
            let vdi = rec.get("VDI").and_then(Value::as_str).unwrap_or(NULL_REF).to_string();
            if rec.get("empty").and_then(Value::as_bool) == Some(true) || vdi == NULL_REF {
                continue;
            }
            let vdi_rec = ctx.call("VDI.get_record", vec![s(&vdi)])?;
            ctx.printer.message(&format!("{label} {n} VDI:"));
            let r = record_of(ctx, "vdi", &vdi, &vdi_rec, &vdi_params)?;
            ctx.printer.records(&[r]);
        }
    }
    Ok(())
}

pub const VM_DISK_LIST: CommandSpec = CommandSpec {
    name: "vm-disk-list",
    help: "",
    run: |ctx| disk_list(ctx, "Disk", "Disk", "uuid,name-label,virtual-size,sr-name-label"),
};

pub const VM_CD_LIST: CommandSpec =
    CommandSpec { name: "vm-cd-list", help: "", run: |ctx| disk_list(ctx, "CD", "CD", "uuid,name-label") };

pub const VM_DISK_ADD: CommandSpec = CommandSpec { name: "vm-disk-add", help: "", run: vm_disk_add };

fn vm_disk_add(ctx: &mut Context) -> CmdResult {
    let size = parse_size(ctx.params.required("disk-size")?)?;
    let device = ctx.params.required("device")?.to_string();
    let sr = match ctx.params.get("sr-uuid").map(str::to_string) {
        Some(u) => ctx.lookup_uuid("SR", &u)?,
        None => {
            let pools = ctx.call("pool.get_all", vec![])?;
            let pool = pools.as_array().and_then(|a| a.first()).cloned().unwrap_or(s(NULL_REF));
            let d = ctx.call("pool.get_default_SR", vec![pool])?;
            d.as_str()
                .filter(|r| *r != NULL_REF)
                .map(str::to_string)
                .ok_or_else(|| CliError::failure("The pool has no default SR: choose one with sr-uuid="))?
        }
    };
    let vms = select::select(ctx, Selector::VM)?;
    select::run_each(ctx, &vms, |api, vm| {
        let name = format!("{} disk {device}", vm.name());
        let vdi = api.call(
            "VDI.create",
            vec![vdi_record(&name, &sr, size, "user", false, Value::Struct(Vec::new()), Vec::new())],
        )?;
        let vdi = vdi.as_str().unwrap_or(NULL_REF).to_string();
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
        attach(api, vm, &spec)?;
        Ok(None)
    })?;
    Ok(())
}

pub const VM_DISK_REMOVE: CommandSpec = CommandSpec { name: "vm-disk-remove", help: "", run: vm_disk_remove };

fn vm_disk_remove(ctx: &mut Context) -> CmdResult {
    let device = ctx.params.required("device")?.to_string();
    let vms = select::select(ctx, Selector::VM)?;
    for vm in &vms {
        let disks = vbds_of(ctx, vm, "Disk")?;
        let Some((vbd, rec)) =
            disks.into_iter().find(|(_, r)| r.get("userdevice").and_then(Value::as_str) == Some(device.as_str()))
        else {
            return Err(CliError::failure(format!("The VM {} has no disk at device {device}", vm.uuid)));
        };
        if rec.get("currently_attached").and_then(Value::as_bool) == Some(true) {
            ctx.call("VBD.unplug", vec![s(&vbd)])?;
        }
        let vdi = rec.get("VDI").cloned().unwrap_or(s(NULL_REF));
        ctx.call("VBD.destroy", vec![s(&vbd)])?;
        ctx.call("VDI.destroy", vec![vdi])?;
    }
    Ok(())
}

/// The ISO VDIs: every VDI in an SR whose content type is `iso`.
fn cds(ctx: &mut Context) -> CmdResult<Vec<(String, Value)>> {
    let srs = ctx.call("SR.get_all_records_where", vec![s("field \"content_type\" = \"iso\"")])?;
    let iso: Vec<String> = srs.as_struct().unwrap_or(&[]).iter().map(|(r, _)| r.clone()).collect();
    let vdis = ctx.call("VDI.get_all_records", vec![])?;
    Ok(vdis
        .as_struct()
        .unwrap_or(&[])
        .iter()
        .filter(|(_, v)| v.get("SR").and_then(Value::as_str).is_some_and(|sr| iso.iter().any(|i| i == sr)))
        .cloned()
        .collect())
}

fn cd_named(ctx: &mut Context, name: &str) -> CmdResult<String> {
    cds(ctx)?
        .into_iter()
        .find(|(_, v)| v.get("name_label").and_then(Value::as_str) == Some(name))
        .map(|(r, _)| r)
        .ok_or_else(|| CliError::failure(format!("No CD named '{name}' was found (see xe cd-list)")))
}

pub const CD_LIST: CommandSpec = CommandSpec { name: "cd-list", help: "", run: cd_list };

fn cd_list(ctx: &mut Context) -> CmdResult {
    let params = ctx.params.get("params").unwrap_or("uuid,name-label").to_string();
    let mut out = Vec::new();
    for (r, rec) in cds(ctx)? {
        out.push(record_of(ctx, "vdi", &r, &rec, &params)?);
    }
    ctx.printer.records(&out);
    Ok(())
}

pub const VM_CD_ADD: CommandSpec = CommandSpec { name: "vm-cd-add", help: "", run: vm_cd_add };

fn vm_cd_add(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("cd-name")?.to_string();
    let cd = cd_named(ctx, &name)?;
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
        attach(api, vm, &spec)?;
        Ok(None)
    })?;
    Ok(())
}

pub const VM_CD_REMOVE: CommandSpec = CommandSpec { name: "vm-cd-remove", help: "", run: vm_cd_remove };

fn vm_cd_remove(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("cd-name")?.to_string();
    let cd = cd_named(ctx, &name)?;
    let vms = select::select(ctx, Selector::VM)?;
    for vm in &vms {
        for (vbd, rec) in vbds_of(ctx, vm, "CD")? {
            if rec.get("VDI").and_then(Value::as_str) == Some(cd.as_str()) {
                if rec.get("currently_attached").and_then(Value::as_bool) == Some(true) {
                    ctx.call("VBD.unplug", vec![s(&vbd)])?;
                }
                ctx.call("VBD.destroy", vec![s(&vbd)])?;
            }
        }
    }
    Ok(())
}

pub const VM_CD_INSERT: CommandSpec = CommandSpec { name: "vm-cd-insert", help: "", run: vm_cd_insert };

fn vm_cd_insert(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("cd-name")?.to_string();
    let cd = cd_named(ctx, &name)?;
    let vms = select::select(ctx, Selector::VM)?;
    for vm in &vms {
        let drives = vbds_of(ctx, vm, "CD")?;
        let Some((vbd, _)) = drives.into_iter().find(|(_, r)| r.get("empty").and_then(Value::as_bool) == Some(true))
        else {
            return Err(CliError::failure(format!("The VM {} has no empty CD drive", vm.uuid)));
        };
        ctx.call("VBD.insert", vec![s(&vbd), s(&cd)])?;
    }
    Ok(())
}

pub const VM_CD_EJECT: CommandSpec = CommandSpec { name: "vm-cd-eject", help: "", run: vm_cd_eject };

fn vm_cd_eject(ctx: &mut Context) -> CmdResult {
    let vms = select::select(ctx, Selector::VM)?;
    for vm in &vms {
        let drives = vbds_of(ctx, vm, "CD")?;
        let full: Vec<String> = drives
            .into_iter()
            .filter(|(_, r)| r.get("empty").and_then(Value::as_bool) == Some(false))
            .map(|(v, _)| v)
            .collect();
        if full.is_empty() {
            return Err(CliError::failure(format!("The VM {} has no CD in its drives", vm.uuid)));
        }
        for vbd in full {
            ctx.call("VBD.eject", vec![s(&vbd)])?;
        }
    }
    Ok(())
}
