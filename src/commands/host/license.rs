//! Licensing: `host-license-add`, `-remove`, `-view`, `host-apply-edition`,
//! `host-all-editions`, and `pool-apply-edition` (listed with the pool
//! commands). Without `host-uuid=` they act on the host of the session,
//! as xe does. `license-server-address=` and `-port=` are set on the
//! hosts first and put back if the edition cannot be checked out.

use crate::commands::args::s;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use crate::output::record::{Field, Record};
use xenapi::Value;

pub const ADD: CommandSpec = CommandSpec {
    name: "host-license-add",
    help: "Apply a license file (read on this machine) to a host.",
    run: Run::Fn(add),
};
pub const REMOVE: CommandSpec =
    CommandSpec { name: "host-license-remove", help: "Remove a host's license.", run: Run::Fn(remove) };
pub const VIEW: CommandSpec =
    CommandSpec { name: "host-license-view", help: "Show a host's license details.", run: Run::Fn(view) };
pub const APPLY: CommandSpec = CommandSpec {
    name: "host-apply-edition",
    help: "Change a host's edition, optionally naming the license server to check it out from.",
    run: Run::Fn(apply),
};
pub const EDITIONS: CommandSpec =
    CommandSpec { name: "host-all-editions", help: "List the editions the host can run.", run: Run::Fn(editions) };
pub const POOL_APPLY: CommandSpec = CommandSpec {
    name: "pool-apply-edition",
    help: "Change the edition of every host of the pool, optionally naming the license server.",
    run: Run::Fn(pool_apply),
};

/// `host-uuid=`, else the host the session is on.
fn host(ctx: &mut Context) -> CmdResult<String> {
    match ctx.params.get("host-uuid").map(str::to_string) {
        Some(uuid) => ctx.lookup_uuid("host", &uuid),
        None => this_host(ctx),
    }
}

fn this_host(ctx: &mut Context) -> CmdResult<String> {
    let (_, session) = ctx.data_link()?;
    ctx.call_string("session.get_this_host", vec![s(&session)])
}

fn add(ctx: &mut Context) -> CmdResult {
    use base64::Engine;
    let host = host(ctx)?;
    let file = ctx.params.required("license-file")?.to_string();
    let Ok(license) = std::fs::read(&file) else {
        return Err(CliError::Raw("Failed to read license file.".into()));
    };
    let contents = base64::engine::general_purpose::STANDARD.encode(license);
    match ctx.call("host.license_add", vec![s(&host), Value::String(contents)]) {
        Ok(_) => {
            ctx.printer.message("License applied.");
            Ok(())
        }
        // xe says no more than this, whatever the server's reason.
        Err(_) => Err(CliError::Raw("Failed to apply license file.".into())),
    }
}

fn remove(ctx: &mut Context) -> CmdResult {
    let host = host(ctx)?;
    ctx.call("host.license_remove", vec![s(&host)])?;
    Ok(())
}

/// The license parameters but `sku_type`, as one table.
fn view(ctx: &mut Context) -> CmdResult {
    let host = host(ctx)?;
    let params = ctx.call("host.get_license_params", vec![s(&host)])?;
    let fields = params
        .as_struct()
        .unwrap_or(&[])
        .iter()
        .filter(|(k, _)| k != "sku_type")
        .map(|(k, v)| Field::plain(k, v.as_str().unwrap_or_default().to_string()))
        .collect();
    ctx.printer.records(&[Record { fields }]);
    Ok(())
}

fn editions(ctx: &mut Context) -> CmdResult {
    let host = this_host(ctx)?;
    let editions = ctx.call_refs("host.get_editions", vec![s(&host)])?;
    ctx.printer.list(&editions);
    Ok(())
}

fn apply(ctx: &mut Context) -> CmdResult {
    let host = host(ctx)?;
    let edition = ctx.params.required("edition")?.to_string();
    with_license_server(ctx, std::slice::from_ref(&host), |ctx| {
        ctx.call("host.apply_edition", vec![s(&host), Value::String(edition), Value::Bool(false)]).map(|_| ())
    })
}

fn pool_apply(ctx: &mut Context) -> CmdResult {
    let edition = ctx.params.required("edition")?.to_string();
    let pool = crate::commands::pool::named_or_only(ctx)?;
    let hosts = ctx.call_refs("host.get_all", vec![])?;
    with_license_server(ctx, &hosts, |ctx| {
        ctx.call("pool.apply_edition", vec![s(&pool), Value::String(edition)]).map(|_| ())
    })
}

/// Sets the license server of `hosts` from the parameters, runs `f`, and
/// handles its failures as xe does: a failed checkout puts the servers
/// back and prints the server's two reasons; an unknown edition lists the
/// valid ones before the error.
fn with_license_server(ctx: &mut Context, hosts: &[String], f: impl FnOnce(&mut Context) -> CmdResult) -> CmdResult {
    let mut before = Vec::new();
    for h in hosts {
        before.push((h.clone(), ctx.call("host.get_license_server", vec![s(h)])?));
    }
    if let Some(address) = ctx.params.get("license-server-address").map(str::to_string) {
        for h in hosts {
            ctx.call("host.remove_from_license_server", vec![s(h), s("address")])?;
            ctx.call("host.add_to_license_server", vec![s(h), s("address"), s(&address)])?;
        }
    }
    if let Some(port) = ctx.params.get("license-server-port").map(str::to_string) {
        match port.parse::<i64>() {
            Ok(p) if (0..=65535).contains(&p) => {
                for h in hosts {
                    ctx.call("host.remove_from_license_server", vec![s(h), s("port")])?;
                    ctx.call("host.add_to_license_server", vec![s(h), s("port"), s(&port)])?;
                }
            }
            _ => ctx.printer.warn("NOTE: The given port number is invalid; reverting to the current value."),
        }
    }
    match f(ctx) {
        Err(CliError::Api { code, params }) if code == "LICENSE_CHECKOUT_ERROR" && params.len() == 2 => {
            for (h, server) in before {
                ctx.call("host.set_license_server", vec![s(&h), server])?;
            }
            Err(CliError::Raw(format!("{}: {}", params[0], params[1])))
        }
        Err(e @ CliError::Api { .. }) if matches!(&e, CliError::Api { code, .. } if code == "INVALID_EDITION") => {
            let host = this_host(ctx)?;
            let editions = ctx.call_refs("host.get_editions", vec![s(&host)])?;
            ctx.printer.warn(&format!("Valid editions are: {}", editions.join(", ")));
            Err(e)
        }
        other => other,
    }
}
