//! The pool's CA certificates and CRLs, by name, and TLS verification:
//! `pool-install-ca-certificate` (and its deprecated twin
//! `pool-certificate-install`) and `pool-crl-install` read the file here and
//! name it by its base name, as xe does; `-uninstall` and `-list` go by those
//! names.

use crate::commands::args::s;
use crate::commands::host::client_file;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

pub const INSTALL_CA: CommandSpec = CommandSpec {
    name: "pool-install-ca-certificate",
    help: "Install a CA certificate file (read here) that the pool trusts, named by the file's base name.",
    run: Run::Fn(|ctx| install(ctx, "pool.install_ca_certificate", "certificate")),
};
pub const CERTIFICATE_INSTALL: CommandSpec = CommandSpec {
    name: "pool-certificate-install",
    help: "Deprecated, use pool-install-ca-certificate: install a CA certificate for the pool.",
    run: Run::Fn(|ctx| install(ctx, "pool.install_ca_certificate", "certificate")),
};
pub const UNINSTALL_CA: CommandSpec = CommandSpec {
    name: "pool-uninstall-ca-certificate",
    help: "Remove a CA certificate from the pool.",
    run: Run::Fn(uninstall_ca),
};
pub const CERTIFICATE_UNINSTALL: CommandSpec = CommandSpec {
    name: "pool-certificate-uninstall",
    help: "Deprecated, use pool-uninstall-ca-certificate: remove a CA certificate from the pool.",
    run: Run::Fn(uninstall_ca),
};
pub const CERTIFICATE_LIST: CommandSpec = CommandSpec {
    name: "pool-certificate-list",
    help: "Deprecated, use certificate-list type=ca: list the CA certificates installed in the pool.",
    run: Run::Fn(|ctx| list(ctx, "pool.certificate_list")),
};
pub const CERTIFICATE_SYNC: CommandSpec = CommandSpec {
    name: "pool-certificate-sync",
    help: "Copy the CA certificates and revocation lists of the master to every other host.",
    run: Run::Fn(|ctx| no_args(ctx, "pool.certificate_sync")),
};
pub const CRL_INSTALL: CommandSpec = CommandSpec {
    name: "pool-crl-install",
    help: "Install a certificate revocation list file (read here) in the pool.",
    run: Run::Fn(|ctx| install(ctx, "pool.crl_install", "CRL")),
};
pub const CRL_UNINSTALL: CommandSpec = CommandSpec {
    name: "pool-crl-uninstall",
    help: "Remove a certificate revocation list from the pool.",
    run: Run::Fn(crl_uninstall),
};
pub const CRL_LIST: CommandSpec = CommandSpec {
    name: "pool-crl-list",
    help: "List the certificate revocation lists installed in the pool.",
    run: Run::Fn(|ctx| list(ctx, "pool.crl_list")),
};
pub const ENABLE_TLS_VERIFICATION: CommandSpec = CommandSpec {
    name: "pool-enable-tls-verification",
    help: "Turn on TLS certificate checks between the hosts of the pool.",
    run: Run::Fn(|ctx| no_args(ctx, "pool.enable_tls_verification")),
};

pub const ENABLE_CLIENT_CERTIFICATE_AUTH: CommandSpec = CommandSpec {
    name: "pool-enable-client-certificate-auth",
    help: "Accept client certificates issued for the given name for authentication to the pool.",
    run: Run::Fn(enable_client_auth),
};
pub const DISABLE_CLIENT_CERTIFICATE_AUTH: CommandSpec = CommandSpec {
    name: "pool-disable-client-certificate-auth",
    help: "Stop accepting client certificates for authentication to the pool.",
    run: Run::Fn(disable_client_auth),
};
pub const DISABLE_SSL_LEGACY: CommandSpec = CommandSpec {
    name: "pool-disable-ssl-legacy",
    help: "Deprecated, legacy SSL is gone: does nothing, as the real xe.",
    run: Run::Fn(disable_ssl_legacy),
};

/// The pool named by `uuid=` (else the pool), as xe's `get_pool_with_default`.
fn enable_client_auth(ctx: &mut Context) -> CmdResult {
    let pool = crate::commands::pool::named_or_only(ctx)?;
    let name = ctx.params.required("name")?.to_string();
    ctx.call("pool.enable_client_certificate_auth", vec![s(&pool), s(&name)])?;
    Ok(())
}

fn disable_client_auth(ctx: &mut Context) -> CmdResult {
    let pool = crate::commands::pool::named_or_only(ctx)?;
    ctx.call("pool.disable_client_certificate_auth", vec![s(&pool)])?;
    Ok(())
}

/// xe only logs that it does nothing; `uuid=` is read and not looked up.
fn disable_ssl_legacy(ctx: &mut Context) -> CmdResult {
    let _ = ctx.params.get("uuid");
    Ok(())
}

fn install(ctx: &mut Context, method: &str, what: &str) -> CmdResult {
    let filename = ctx.params.required("filename")?.to_string();
    let text = client_file(&filename, what)?;
    let name =
        std::path::Path::new(&filename).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or(filename);
    ctx.call(method, vec![s(&name), Value::String(text)])?;
    Ok(())
}

/// `force=true` is sent only when given: servers whose call lacks the
/// parameter (as this datamodel's) then answer that they do not take it.
fn uninstall_ca(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("name")?.to_string();
    let force = ctx.params.bool("force", false)?;
    let mut args = vec![s(&name)];
    if force {
        args.push(Value::Bool(true));
    }
    match ctx.call("pool.uninstall_ca_certificate", args) {
        Err(CliError::Api { code, .. }) if force && code == "MESSAGE_PARAMETER_COUNT_MISMATCH" => {
            Err(CliError::failure(
                "This server's pool.uninstall_ca_certificate does not take force=; run it without force=true.",
            ))
        }
        other => other.map(|_| ()),
    }
}

fn crl_uninstall(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("name")?.to_string();
    ctx.call("pool.crl_uninstall", vec![s(&name)])?;
    Ok(())
}

fn list(ctx: &mut Context, method: &str) -> CmdResult {
    let names = ctx.call_refs(method, vec![])?;
    ctx.printer.list(&names);
    Ok(())
}

fn no_args(ctx: &mut Context, method: &str) -> CmdResult {
    ctx.call(method, vec![])?;
    Ok(())
}
