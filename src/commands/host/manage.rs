//! Host management commands: `host-syslog-reconfigure`,
//! `host-set-hostname-live`, `host-call-plugin`,
//! `host-get-system-status-capabilities` and `host-cpu-info`, with xe's parameters and output.

use super::maintenance::HOSTS;
use crate::commands::args::s;
use crate::commands::select;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use crate::output::record::{Field, Record};
use xenapi::Value;

pub const SYSLOG: CommandSpec = CommandSpec {
    name: "host-syslog-reconfigure",
    help: "Make a host apply its syslog destination (logging:syslog_destination) now.",
    run: Run::Fn(syslog),
};

pub const HOSTNAME: CommandSpec = CommandSpec {
    name: "host-set-hostname-live",
    help: "Change a host's hostname at once, without a reboot.",
    run: Run::Fn(hostname),
};

pub const CALL_PLUGIN: CommandSpec = CommandSpec {
    name: "host-call-plugin",
    help: "Call a function of a plugin on a host with arguments and print its result.",
    run: Run::Fn(call_plugin),
};

pub const CAPABILITIES: CommandSpec = CommandSpec {
    name: "host-get-system-status-capabilities",
    help: "List the kinds of data a host status report can contain.",
    run: Run::Fn(capabilities),
};

pub const CPU_INFO: CommandSpec = CommandSpec {
    name: "host-cpu-info",
    help: "Print the CPU details of a host (the one xe is connected to by default).",
    run: Run::Fn(cpu_info),
};

fn syslog(ctx: &mut Context) -> CmdResult {
    let host = ctx.lookup_param("host", "host-uuid")?;
    ctx.call("host.syslog_reconfigure", vec![s(&host)])?;
    Ok(())
}

fn hostname(ctx: &mut Context) -> CmdResult {
    let host = ctx.lookup_param("host", "host-uuid")?;
    let name = ctx.params.required("host-name")?.to_string();
    ctx.call("host.set_hostname_live", vec![s(&host), s(&name)])?;
    Ok(())
}

/// `args:KEY=VALUE` become the arguments; `args:KEY:file=PATH` would send a
/// local file's contents, which xe reads through its own connection: refused.
fn call_plugin(ctx: &mut Context) -> CmdResult {
    let host = ctx.lookup_param("host", "host-uuid")?;
    let plugin = ctx.params.required("plugin")?.to_string();
    let function = ctx.params.required("fn")?.to_string();
    let mut args = Vec::new();
    for (k, v) in ctx.params.map("args") {
        if k.ends_with(":file") {
            return Err(CliError::failure(format!("args:{k}: file arguments are not supported")));
        }
        args.push((k, Value::String(v)));
    }
    let result = ctx.call_string("host.call_plugin", vec![s(&host), s(&plugin), s(&function), Value::Struct(args)])?;
    ctx.printer.list(&[result]);
    Ok(())
}

/// Every selected host's capabilities document (`--multiple` for several).
fn capabilities(ctx: &mut Context) -> CmdResult {
    print_each(ctx, "host.get_system_status_capabilities")
}

/// Calls `method` on each selected host and prints each text it answers.
pub(super) fn print_each(ctx: &mut Context, method: &'static str) -> CmdResult {
    let hosts = select::select(ctx, HOSTS)?;
    let out = select::run_each(ctx, &hosts, |api, h| {
        let v = api.call(method, vec![s(&h.r)])?;
        Ok(Some(v.as_str().unwrap_or("").to_string()))
    })?;
    let texts: Vec<String> = out.into_iter().flatten().collect();
    ctx.printer.list(&texts);
    Ok(())
}

/// The host by `uuid=`, else the one the session is on; its `cpu_info` map
/// as a record of plain keys.
fn cpu_info(ctx: &mut Context) -> CmdResult {
    let host = match ctx.params.get("uuid").map(str::to_string) {
        Some(uuid) => ctx.lookup_uuid("host", &uuid)?,
        None => {
            let (_, session) = ctx.data_link()?;
            ctx.call_string("session.get_this_host", vec![s(&session)])?
        }
    };
    let info = ctx.call_map("host.get_cpu_info", vec![s(&host)])?;
    let fields = info.into_iter().map(|(k, v)| Field::plain(&k, v.as_str().unwrap_or("").to_string())).collect();
    ctx.printer.records(&[Record { fields }]);
    Ok(())
}
