//! `vif-create`: a new VIF joining a VM to a network.

use crate::commands::args::s;
use crate::commands::{print_uuid, CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

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

pub const SPEC: CommandSpec = CommandSpec {
    name: "vif-create",
    help: "Create a VIF connecting a VM to a network without plugging it, and print its UUID.",
    run: Run::Fn(vif_create),
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
