//! Network commands: networks, VIFs, PIFs and VLANs, and `vm-vif-list`.

use super::select::{self, Selector};
use super::{by_uuid, print_uuid, CommandSpec};
use crate::argv::parse_bool;
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use crate::records::{self, ClassView, Obj};
use xenapi::{Value, NULL_REF};

fn s(v: &str) -> Value {
    Value::str(v)
}

pub const NETWORK_DESTROY: CommandSpec =
    CommandSpec { name: "network-destroy", help: "", run: |ctx| by_uuid(ctx, "network", "destroy") };
pub const VIF_PLUG: CommandSpec = CommandSpec { name: "vif-plug", help: "", run: |ctx| by_uuid(ctx, "VIF", "plug") };
pub const VIF_DESTROY: CommandSpec =
    CommandSpec { name: "vif-destroy", help: "", run: |ctx| by_uuid(ctx, "VIF", "destroy") };
pub const PIF_PLUG: CommandSpec = CommandSpec { name: "pif-plug", help: "", run: |ctx| by_uuid(ctx, "PIF", "plug") };
pub const PIF_UNPLUG: CommandSpec =
    CommandSpec { name: "pif-unplug", help: "", run: |ctx| by_uuid(ctx, "PIF", "unplug") };

pub const VIF_UNPLUG: CommandSpec = CommandSpec { name: "vif-unplug", help: "", run: vif_unplug };

fn vif_unplug(ctx: &mut Context) -> CmdResult {
    let method = if ctx.params.flag("force") { "unplug_force" } else { "unplug" };
    by_uuid(ctx, "VIF", method)
}

pub const NETWORK_CREATE: CommandSpec = CommandSpec { name: "network-create", help: "", run: network_create };

fn network_create(ctx: &mut Context) -> CmdResult {
    let mtu = match ctx.params.get("MTU") {
        Some(m) => {
            m.parse::<i64>().map_err(|_| CliError::failure(format!("Invalid MTU '{m}': expected an integer")))?
        }
        None => 1500,
    };
    let mut rec = vec![
        ("name_label".to_string(), s(ctx.params.required("name-label")?)),
        ("name_description".to_string(), s(ctx.params.get("name-description").unwrap_or(""))),
        ("MTU".to_string(), Value::Int(mtu)),
        ("other_config".to_string(), Value::Struct(Vec::new())),
        ("bridge".to_string(), s(ctx.params.get("bridge").unwrap_or(""))),
    ];
    if let Some(m) = ctx.params.get("managed") {
        let managed = parse_bool(m).ok_or_else(|| CliError::failure(format!("Invalid value '{m}' for managed")))?;
        rec.push(("managed".to_string(), Value::Bool(managed)));
    }
    let net = ctx.call("network.create", vec![Value::Struct(rec)])?;
    print_uuid(ctx, "network", &net)
}

/// A locally administered, unicast MAC chosen on this side (`mac=random`).
fn random_mac() -> String {
    let mut bytes = [0u8; 6];
    let ok =
        std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes)).is_ok();
    if !ok {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        bytes.copy_from_slice(&t.to_le_bytes()[..6]);
    }
    bytes[0] = (bytes[0] & 0xfe) | 0x02;
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

pub const VIF_CREATE: CommandSpec = CommandSpec { name: "vif-create", help: "", run: vif_create };

fn vif_create(ctx: &mut Context) -> CmdResult {
    let vm = ctx.lookup_param("VM", "vm-uuid")?;
    let net = ctx.lookup_param("network", "network-uuid")?;
    let mtu = ctx.call("network.get_MTU", vec![s(&net)])?;
    let mac = match ctx.params.get("mac") {
        Some("random") => random_mac(),
        Some(m) => m.to_string(),
        None => String::new(),
    };
    let rec = Value::Struct(vec![
        ("device".into(), s(ctx.params.required("device")?)),
        ("network".into(), s(&net)),
        ("VM".into(), s(&vm)),
        ("MAC".into(), Value::String(mac)),
        ("MTU".into(), mtu),
        ("other_config".into(), Value::Struct(Vec::new())),
        ("currently_attached".into(), Value::Bool(false)),
        ("qos_algorithm_type".into(), s("")),
        ("qos_algorithm_params".into(), Value::Struct(Vec::new())),
        ("locking_mode".into(), s("network_default")),
        ("ipv4_allowed".into(), Value::Array(Vec::new())),
        ("ipv6_allowed".into(), Value::Array(Vec::new())),
    ]);
    let vif = ctx.call("VIF.create", vec![rec])?;
    print_uuid(ctx, "VIF", &vif)
}

pub const PIF_RECONFIGURE_IP: CommandSpec =
    CommandSpec { name: "pif-reconfigure-ip", help: "", run: pif_reconfigure_ip };

fn pif_reconfigure_ip(ctx: &mut Context) -> CmdResult {
    let pif = ctx.lookup_param("PIF", "uuid")?;
    let mode = match ctx.params.required("mode")?.to_ascii_lowercase().as_str() {
        "none" => "None",
        "dhcp" => "DHCP",
        "static" => "Static",
        other => return Err(CliError::failure(format!("Invalid mode '{other}': use none, dhcp or static"))),
    };
    let p = |k: &str| s(ctx.params.get(k).unwrap_or(""));
    let args = vec![s(&pif), s(mode), p("IP"), p("netmask"), p("gateway"), p("DNS")];
    ctx.call("PIF.reconfigure_ip", args)?;
    Ok(())
}

pub const VLAN_CREATE: CommandSpec = CommandSpec { name: "vlan-create", help: "", run: vlan_create };

fn vlan_create(ctx: &mut Context) -> CmdResult {
    let pif = ctx.lookup_param("PIF", "pif-uuid")?;
    let net = ctx.lookup_param("network", "network-uuid")?;
    let tag = ctx.params.required("vlan")?;
    let tag: i64 =
        tag.parse().map_err(|_| CliError::failure(format!("Invalid VLAN tag '{tag}': expected an integer")))?;
    let vlan = ctx.call("VLAN.create", vec![s(&pif), Value::Int(tag), s(&net)])?;
    let untagged = ctx.call("VLAN.get_untagged_PIF", vec![vlan])?;
    print_uuid(ctx, "PIF", &untagged)
}

pub const VLAN_DESTROY: CommandSpec = CommandSpec { name: "vlan-destroy", help: "", run: vlan_destroy };

/// Accepts the VLAN's uuid or the uuid of its (untagged) VLAN PIF.
fn vlan_destroy(ctx: &mut Context) -> CmdResult {
    let uuid = ctx.params.required("uuid")?.to_string();
    let vlan = match ctx.call("VLAN.get_by_uuid", vec![s(&uuid)]) {
        Ok(v) => v,
        Err(_) => {
            let pif = ctx.lookup_uuid("PIF", &uuid)?;
            let master = ctx.call("PIF.get_VLAN_master_of", vec![s(&pif)])?;
            if master.as_str().is_none_or(|m| m == NULL_REF) {
                return Err(CliError::failure(format!("{uuid} is not a VLAN")));
            }
            master
        }
    };
    ctx.call("VLAN.destroy", vec![vlan])?;
    Ok(())
}

pub const VM_VIF_LIST: CommandSpec = CommandSpec { name: "vm-vif-list", help: "", run: vm_vif_list };

fn vm_vif_list(ctx: &mut Context) -> CmdResult {
    let vms = select::select(ctx, Selector::VM)?;
    let view = ClassView::new("vif").ok_or_else(|| CliError::Internal("no vif record".into()))?;
    let fields = super::generic::selected_fields(
        &view,
        ctx.params.get("params").or(Some("uuid,device,MAC,network-name-label,currently-attached")),
    );
    let mut out = Vec::new();
    for vm in &vms {
        for vif in vm.rec.get("VIFs").and_then(Value::as_array).unwrap_or(&[]).iter().filter_map(Value::as_str) {
            let rec = ctx.call("VIF.get_record", vec![s(vif)])?;
            out.push(records::build_record(ctx, &view, &Obj { r: vif, rec: &rec }, &fields, false)?);
        }
    }
    ctx.printer.records(&out);
    Ok(())
}
