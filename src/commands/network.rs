//! Network commands: networks, VIFs, PIFs and VLANs, and `vm-vif-list`.

use super::select::{self, Selector};
use super::{by_uuid, print_uuid, CommandSpec};
use crate::connect::{Api, CallError};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use crate::records::{self, ClassView, Obj};
use xenapi::Value;

fn s(v: &str) -> Value {
    Value::str(v)
}

pub const NETWORK_DESTROY: CommandSpec =
    CommandSpec { name: "network-destroy", help: "Destroy a network.", run: |ctx| by_uuid(ctx, "network", "destroy") };
pub const VIF_PLUG: CommandSpec = CommandSpec {
    name: "vif-plug",
    help: "Hot-plug a VIF into its running VM.",
    run: |ctx| by_uuid(ctx, "VIF", "plug"),
};
pub const VIF_DESTROY: CommandSpec =
    CommandSpec { name: "vif-destroy", help: "Destroy a VIF.", run: |ctx| by_uuid(ctx, "VIF", "destroy") };
pub const PIF_PLUG: CommandSpec =
    CommandSpec { name: "pif-plug", help: "Bring a PIF up.", run: |ctx| by_uuid(ctx, "PIF", "plug") };
pub const PIF_UNPLUG: CommandSpec =
    CommandSpec { name: "pif-unplug", help: "Bring a PIF down.", run: |ctx| by_uuid(ctx, "PIF", "unplug") };

pub const VIF_UNPLUG: CommandSpec = CommandSpec {
    name: "vif-unplug",
    help: "Hot-unplug a VIF from its running VM; --force forces it.",
    run: vif_unplug,
};

fn vif_unplug(ctx: &mut Context) -> CmdResult {
    let method = if ctx.params.bool("force", false)? { "unplug_force" } else { "unplug" };
    by_uuid(ctx, "VIF", method)
}

pub const NETWORK_CREATE: CommandSpec =
    CommandSpec { name: "network-create", help: "Create a network and print its UUID.", run: network_create };

fn network_create(ctx: &mut Context) -> CmdResult {
    let mtu = match ctx.params.get("MTU") {
        Some(m) => match ocaml_int64(m) {
            Some(n) => n,
            // xe's integer parse fails with OCaml's own exception, reported as an internal error.
            None => return Err(ctx.api_error("INTERNAL_ERROR", vec!["Failure: Int64.of_string".into()])),
        },
        None => 1500,
    };
    let managed = ctx.params.bool("managed", true)?;
    let rec = vec![
        ("name_label".to_string(), s(ctx.params.required("name-label")?)),
        ("name_description".to_string(), s(ctx.params.get("name-description").unwrap_or(""))),
        ("MTU".to_string(), Value::Int(mtu)),
        ("other_config".to_string(), Value::Struct(Vec::new())),
        ("bridge".to_string(), s(ctx.params.get("bridge").unwrap_or(""))),
        ("managed".to_string(), Value::Bool(managed)),
        ("tags".to_string(), Value::Array(Vec::new())),
    ];
    let net = ctx.call("network.create", vec![Value::Struct(rec)])?;
    print_uuid(ctx, "network", &net)
}

/// An integer as OCaml's `Int64.of_string` reads one: a sign, then decimal,
/// or `0x`/`0o`/`0b` digits, with `_` allowed between digits.
pub fn ocaml_int64(text: &str) -> Option<i64> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = match rest.get(..2).map(str::to_ascii_lowercase).as_deref() {
        Some("0x") => (16, &rest[2..]),
        Some("0o") => (8, &rest[2..]),
        Some("0b") => (2, &rest[2..]),
        _ => (10, rest),
    };
    if !digits.chars().next().is_some_and(|c| c.is_digit(radix)) {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let n = i64::from_str_radix(&clean, radix).ok()?;
    Some(if negative { -n } else { n })
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

pub const VIF_CREATE: CommandSpec = CommandSpec {
    name: "vif-create",
    help: "Create a VIF connecting a VM to a network without plugging it, and print its UUID.",
    run: vif_create,
};

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

pub const PIF_RECONFIGURE_IP: CommandSpec = CommandSpec {
    name: "pif-reconfigure-ip",
    help: "Set the IPv4 mode (none, dhcp or static) and addresses of a PIF.",
    run: pif_reconfigure_ip,
};

fn pif_reconfigure_ip(ctx: &mut Context) -> CmdResult {
    let pif = ctx.lookup_param("PIF", "uuid")?;
    let mode = match ctx.params.required("mode")?.to_ascii_lowercase().as_str() {
        "none" => "None",
        "dhcp" => "DHCP",
        "static" => "Static",
        other => return Err(CliError::failure(format!("Expected one of 'None', 'DHCP', 'Static', got {other}"))),
    };
    let p = |k: &str| s(ctx.params.get(k).unwrap_or(""));
    // xe reads IP= and DNS= in any case (ip=, Dns=, ...), the first one given.
    let any_case =
        |k: &str| s(ctx.params.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v).unwrap_or(""));
    let args = vec![s(&pif), s(mode), any_case("IP"), p("netmask"), p("gateway"), any_case("DNS")];
    ctx.call("PIF.reconfigure_ip", args)?;
    Ok(())
}

pub const VLAN_CREATE: CommandSpec = CommandSpec {
    name: "vlan-create",
    help: "Create a VLAN on a PIF for a network and print the UUID of the new VLAN PIF.",
    run: vlan_create,
};

fn vlan_create(ctx: &mut Context) -> CmdResult {
    let net = ctx.lookup_param("network", "network-uuid")?;
    let pif = ctx.lookup_param("PIF", "pif-uuid")?;
    let tag = ocaml_int64(ctx.params.required("vlan")?)
        .ok_or_else(|| CliError::failure("Failed to parse parameter 'vlan': expecting an integer"))?;
    let vlan = ctx.call("VLAN.create", vec![s(&pif), Value::Int(tag), s(&net)])?;
    let untagged = ctx.call("VLAN.get_untagged_PIF", vec![vlan])?;
    print_uuid(ctx, "PIF", &untagged)
}

pub const VLAN_DESTROY: CommandSpec = CommandSpec {
    name: "vlan-destroy",
    help: "Destroy a VLAN, given its UUID or the UUID of its VLAN PIF.",
    run: vlan_destroy,
};

/// Destroys a VLAN by its uuid; as in xe, a uuid that is not a VLAN's may
/// be its PIF's, and that PIF is destroyed instead.
fn vlan_destroy(ctx: &mut Context) -> CmdResult {
    let uuid = ctx.params.required("uuid")?.to_string();
    let first = match Api::call(ctx, "VLAN.get_by_uuid", vec![s(&uuid)]) {
        Ok(vlan) => match Api::call(ctx, "VLAN.destroy", vec![vlan]) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        },
        Err(e) => e,
    };
    if let CallError::Api(code, _) = &first {
        if code == "HANDLE_INVALID" || code == "HOST_OFFLINE" {
            return Err(ctx.describe(first));
        }
    }
    match Api::call(ctx, "PIF.get_by_uuid", vec![s(&uuid)]) {
        Ok(pif) => {
            ctx.call("PIF.destroy", vec![pif])?;
            Ok(())
        }
        Err(_) => Err(ctx.describe(first)),
    }
}

pub const VM_VIF_LIST: CommandSpec =
    CommandSpec { name: "vm-vif-list", help: "List the VIFs of the selected VMs.", run: vm_vif_list };

/// `vm-vif-list`: the VIFs of every selected VM, one table per VM; xe
/// lists any number of VMs without `--multiple`.
fn vm_vif_list(ctx: &mut Context) -> CmdResult {
    ctx.params.set("multiple", "true");
    let vms = select::select(ctx, Selector::VM)?;
    let view = ClassView::new("vif").ok_or_else(|| CliError::Internal("no vif record".into()))?;
    let fields = super::generic::selected_fields(
        &view,
        ctx.params.get("params").or(Some("uuid,device,MAC,network-uuid,network-name-label,vm-name-label")),
    );
    for vm in &vms {
        let mut out = Vec::new();
        for vif in vm.rec.get("VIFs").and_then(Value::as_array).unwrap_or(&[]).iter().filter_map(Value::as_str) {
            let rec = ctx.call("VIF.get_record", vec![s(vif)])?;
            out.push(records::build_record(ctx, &view, &Obj { r: vif, rec: &rec }, &fields, true)?);
        }
        ctx.printer.records(&out);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ocaml_int64;

    #[test]
    fn integers_as_ocaml_reads_them() {
        assert_eq!(ocaml_int64("1500"), Some(1500));
        assert_eq!(ocaml_int64("0x10"), Some(16));
        assert_eq!(ocaml_int64("1_000"), Some(1000));
        assert_eq!(ocaml_int64("-7"), Some(-7));
        assert_eq!(ocaml_int64("12a"), None);
        assert_eq!(ocaml_int64(""), None);
        assert_eq!(ocaml_int64("_1"), None);
    }
}
