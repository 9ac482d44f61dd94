//! A host's TLS certificates: `host-server-certificate-install` (the
//! certificate, key and chain are files read here, as xe reads them on the
//! client's side), `host-reset-server-certificate`,
//! `host-refresh-server-certificate`, `host-get-server-certificate`, each on
//! one host chosen by the host selectors; and the emergency commands, which
//! run on the host xe talks to through a local session.

use super::maintenance::HOSTS;
use crate::commands::args::s;
use crate::commands::select::{self, Selector};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

pub const INSTALL: CommandSpec = CommandSpec {
    name: "host-server-certificate-install",
    help: "Install a TLS server certificate, its private key and optionally a chain (files read here) on a host.",
    run: Run::Fn(install),
};
pub const RESET: CommandSpec = CommandSpec {
    name: "host-reset-server-certificate",
    help: "Replace a host's TLS server certificate with a new self-signed one.",
    run: Run::Fn(|ctx| on_one_host(ctx, "host.reset_server_certificate")),
};
pub const REFRESH: CommandSpec = CommandSpec {
    name: "host-refresh-server-certificate",
    help: "Replace a host's internal self-signed TLS certificate with a newly generated one.",
    run: Run::Fn(|ctx| on_one_host(ctx, "host.refresh_server_certificate")),
};
pub const GET: CommandSpec = CommandSpec {
    name: "host-get-server-certificate",
    help: "Print the TLS server certificate of a host.",
    run: Run::Fn(get),
};
pub const EMERGENCY_RESET: CommandSpec = CommandSpec {
    name: "host-emergency-reset-server-certificate",
    help: "Replace this host's TLS certificate with a new self-signed one, using a local session.",
    run: Run::Fn(|ctx| local(ctx, "host.emergency_reset_server_certificate")),
};
pub const EMERGENCY_DISABLE_TLS: CommandSpec = CommandSpec {
    name: "host-emergency-disable-tls-verification",
    help: "Turn off TLS certificate checks on this host in an emergency, using a local session.",
    run: Run::Fn(|ctx| local(ctx, "host.emergency_disable_tls_verification")),
};
pub const EMERGENCY_REENABLE_TLS: CommandSpec = CommandSpec {
    name: "host-emergency-reenable-tls-verification",
    help: "Turn TLS certificate checks back on after an emergency disable, using a local session.",
    run: Run::Fn(|ctx| local(ctx, "host.emergency_reenable_tls_verification")),
};

/// A file named on the command line, read here; xe's words when it cannot be.
pub fn client_file(path: &str, what: &str) -> CmdResult<String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(_) => Err(CliError::Raw(format!("Failed to read {what}"))),
    }
}

fn install(ctx: &mut Context) -> CmdResult {
    let certificate = client_file(ctx.params.required("certificate")?, "certificate")?;
    let private_key = client_file(ctx.params.required("private-key")?, "private key")?;
    let chain = match ctx.params.get("certificate-chain") {
        Some(path) => client_file(path, "certificate chain")?,
        None => String::new(),
    };
    let hosts = select::select(ctx, Selector { single: true, ..HOSTS })?;
    select::run_each(ctx, &hosts, |api, h| {
        let args = vec![s(&h.r), s(&certificate), s(&private_key), s(&chain)];
        api.call("host.install_server_certificate", args)?;
        Ok(None)
    })?;
    Ok(())
}

fn on_one_host(ctx: &mut Context, method: &'static str) -> CmdResult {
    let hosts = select::select(ctx, Selector { single: true, ..HOSTS })?;
    select::run_each(ctx, &hosts, |api, h| {
        api.call(method, vec![s(&h.r)])?;
        Ok(None)
    })?;
    Ok(())
}

fn get(ctx: &mut Context) -> CmdResult {
    let hosts = select::select(ctx, Selector { single: true, ..HOSTS })?;
    let out = select::run_each(ctx, &hosts, |api, h| {
        let pem = api.call("host.get_server_certificate", vec![s(&h.r)])?;
        Ok(Some(pem.as_str().unwrap_or_default().to_string()))
    })?;
    for pem in out.into_iter().flatten() {
        ctx.printer.message(&pem);
    }
    Ok(())
}

fn local(ctx: &mut Context, method: &str) -> CmdResult {
    ctx.use_local_session();
    ctx.call(method, Vec::<Value>::new())?;
    Ok(())
}
