//! `network-create`: a new network.

use crate::commands::args::s;
use crate::commands::int64::ocaml_int64;
use crate::commands::{print_uuid, CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const SPEC: CommandSpec =
    CommandSpec { name: "network-create", help: "Create a network and print its UUID.", run: Run::Fn(network_create) };

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
