//! `host-evacuate` (live-migrate every VM off one host) and
//! `host-get-vms-which-prevent-evacuation` (what stands in its way).

use super::maintenance::HOSTS;
use crate::commands::args::s;
use crate::commands::select::{self, Selector};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use crate::output::record::{Field, Record};
use xenapi::Value;

pub const EVACUATE: CommandSpec = CommandSpec {
    name: "host-evacuate",
    help: "Live-migrate every VM off a host, optionally over a chosen network and in batches.",
    run: Run::Fn(evacuate),
};

pub const PREVENT: CommandSpec = CommandSpec {
    name: "host-get-vms-which-prevent-evacuation",
    help: "List the VMs that stop a host from being evacuated, with the reason for each.",
    run: Run::Fn(prevent),
};

/// `batch-size=` as OCaml's `%Lu` reads it: an unsigned decimal.
fn batch_size(text: &str) -> CmdResult<i64> {
    text.parse::<u64>()
        .ok()
        .and_then(|n| i64::try_from(n).ok())
        .ok_or_else(|| CliError::failure(format!("batch-size: expected an unsigned integer, got '{text}'")))
}

/// One host only (xe's `~multiple:false`); the network is looked up first.
fn evacuate(ctx: &mut Context) -> CmdResult {
    let network = match ctx.params.get("network-uuid").map(str::to_string) {
        Some(uuid) => ctx.lookup_uuid("network", &uuid)?,
        None => xenapi::NULL_REF.to_string(),
    };
    let batch = ctx.params.get("batch-size").map(batch_size).transpose()?.unwrap_or(0);
    let hosts = select::select(ctx, Selector { single: true, ..HOSTS })?;
    select::run_each(ctx, &hosts, |api, h| {
        api.call("host.evacuate", vec![s(&h.r), s(&network), Value::Int(batch)]).map(|_| None)
    })?;
    Ok(())
}

/// Each VM as a record of its uuid, name-label and reason (the error code
/// and its parameters, comma-separated).
fn prevent(ctx: &mut Context) -> CmdResult {
    let host = ctx.lookup_param("host", "uuid")?;
    let vms = match ctx.call("host.get_vms_which_prevent_evacuation", vec![s(&host)])? {
        Value::Struct(m) => m,
        _ => Vec::new(),
    };
    let mut records = Vec::new();
    for (vm, why) in vms {
        let reason: Vec<String> = match why {
            Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => Vec::new(),
        };
        let uuid = ctx.call_string("VM.get_uuid", vec![s(&vm)])?;
        let name = ctx.call_string("VM.get_name_label", vec![s(&vm)])?;
        let field = |name: &str, access, text: String| {
            Field::new(name, access, false, text.clone(), serde_json::Value::String(text))
        };
        records.push(Record {
            fields: vec![
                field("uuid", crate::facts::Access::Ro, uuid),
                field("name-label", crate::facts::Access::Rw, name),
                field("reason", crate::facts::Access::Ro, reason.join(",")),
            ],
        });
    }
    ctx.printer.records(&records);
    Ok(())
}
