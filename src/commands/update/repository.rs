//! Update repositories and what the pool and its hosts do with them:
//! `repository-introduce`, `repository-set-gpgkey-path`,
//! `pool-sync-updates` (prints the hash `host-apply-updates` takes),
//! `host-apply-updates` (one host), the update-sync schedule
//! (`pool-configure-update-sync`, `pool-set-update-sync-enabled`) and the
//! repository proxy (`pool-configure-repository-proxy`,
//! `pool-disable-repository-proxy`). The pool is `uuid=`'s, else the pool.

use crate::commands::args::s;
use crate::commands::int64::ocaml_int64;
use crate::commands::pool::named_or_only;
use crate::commands::select::{self, Selector};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

pub const INTRODUCE: CommandSpec = CommandSpec {
    name: "repository-introduce",
    help: "Add an update repository with binary and source URLs and print its UUID.",
    run: Run::Fn(introduce),
};

pub const SET_GPGKEY_PATH: CommandSpec = CommandSpec {
    name: "repository-set-gpgkey-path",
    help: "Set the GPG key file used to check packages from a repository.",
    run: Run::Fn(set_gpgkey_path),
};

pub const SYNC: CommandSpec = CommandSpec {
    name: "pool-sync-updates",
    help: "Synchronise updates from the enabled repositories and print the resulting hash.",
    run: Run::Fn(sync),
};

pub const APPLY: CommandSpec = CommandSpec {
    name: "host-apply-updates",
    help: "Apply updates from the enabled repositories to a host; hash is the one printed by pool-sync-updates.",
    run: Run::Fn(apply),
};

pub const EMERGENCY_CLEAR_GUIDANCE: CommandSpec = CommandSpec {
    name: "host-emergency-clear-mandatory-guidance",
    help: "Clear the pending mandatory update guidance of this host, using a local session.",
    run: Run::Fn(emergency_clear_guidance),
};

pub const CONFIGURE_SYNC: CommandSpec = CommandSpec {
    name: "pool-configure-update-sync",
    help: "Schedule automatic update synchronisation daily, or weekly on a given day.",
    run: Run::Fn(configure_sync),
};

pub const SET_SYNC_ENABLED: CommandSpec = CommandSpec {
    name: "pool-set-update-sync-enabled",
    help: "Turn automatic update synchronisation on or off.",
    run: Run::Fn(set_sync_enabled),
};

pub const CONFIGURE_PROXY: CommandSpec = CommandSpec {
    name: "pool-configure-repository-proxy",
    help: "Set the proxy, with optional credentials, used to reach update repositories.",
    run: Run::Fn(configure_proxy),
};

pub const DISABLE_PROXY: CommandSpec = CommandSpec {
    name: "pool-disable-repository-proxy",
    help: "Stop using a proxy to reach update repositories.",
    run: Run::Fn(disable_proxy),
};

fn opt(ctx: &Context, key: &str) -> Value {
    Value::String(ctx.params.get(key).unwrap_or("").to_string())
}

fn introduce(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("name-label")?.to_string();
    let binary = ctx.params.required("binary-url")?.to_string();
    let source = ctx.params.required("source-url")?.to_string();
    let update = ctx.params.bool("update", false)?;
    let args = vec![
        Value::String(name),
        opt(ctx, "name-description"),
        Value::String(binary),
        Value::String(source),
        Value::Bool(update),
        opt(ctx, "gpgkey-path"),
    ];
    let r = ctx.call("Repository.introduce", args)?;
    crate::commands::print_uuid(ctx, "Repository", &r)
}

fn set_gpgkey_path(ctx: &mut Context) -> CmdResult {
    let r = ctx.lookup_param("Repository", "uuid")?;
    let path = ctx.params.required("gpgkey-path")?.to_string();
    ctx.call("Repository.set_gpgkey_path", vec![s(&r), Value::String(path)])?;
    Ok(())
}

/// xe sends the five parameters of the newest API; a server whose
/// `pool.sync_updates` takes fewer ignores the extra ones.
fn sync(ctx: &mut Context) -> CmdResult {
    let pool = named_or_only(ctx)?;
    let force = ctx.params.bool("force", false)?;
    let args = vec![
        s(&pool),
        Value::Bool(force),
        opt(ctx, "token"),
        opt(ctx, "token-id"),
        opt(ctx, "username"),
        opt(ctx, "password"),
    ];
    let hash = ctx.call_string("pool.sync_updates", args)?;
    ctx.printer.list(&[hash]);
    Ok(())
}

/// One host only; prints each live patch that failed (`code; patch`).
fn apply(ctx: &mut Context) -> CmdResult {
    let hash = ctx.params.required("hash")?.to_string();
    let hosts = select::select(ctx, Selector { class: "host", templates: false, dom0: false, single: true })?;
    let out = select::run_each(ctx, &hosts, |api, h| {
        let failed = api.call("host.apply_updates", vec![s(&h.r), s(&hash)])?;
        let lines: Vec<String> = failed
            .as_array()
            .unwrap_or(&[])
            .iter()
            .map(|l| l.as_array().unwrap_or(&[]).iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
            .collect();
        Ok(Some(lines.join("\n")))
    })?;
    for line in out.into_iter().flatten().filter(|l| !l.is_empty()) {
        for l in line.lines() {
            ctx.printer.message(l);
        }
    }
    Ok(())
}

/// On the host the command reaches, through a local session.
fn emergency_clear_guidance(ctx: &mut Context) -> CmdResult {
    ctx.use_local_session();
    ctx.call("host.emergency_clear_mandatory_guidance", vec![])?;
    Ok(())
}

const BAD_DAY: &str = "Invalid value for day picked, must be an integer from 0 to 6";

fn configure_sync(ctx: &mut Context) -> CmdResult {
    let pool = named_or_only(ctx)?;
    let given = ctx.params.required("update-sync-frequency")?.to_string();
    let frequency = match given.to_ascii_lowercase().as_str() {
        "daily" => "daily",
        "weekly" => "weekly",
        _ => return Err(CliError::failure(format!("Expected 'daily', 'weekly', got {given}"))),
    };
    let day = match frequency {
        "daily" => 0,
        _ => {
            let d =
                ctx.params.get("update-sync-day").and_then(ocaml_int64).ok_or_else(|| CliError::failure(BAD_DAY))?;
            if !(0..=6).contains(&d) {
                return Err(CliError::failure(BAD_DAY));
            }
            d
        }
    };
    ctx.call("pool.configure_update_sync", vec![s(&pool), s(frequency), Value::Int(day)])?;
    Ok(())
}

fn set_sync_enabled(ctx: &mut Context) -> CmdResult {
    let pool = named_or_only(ctx)?;
    let value = ctx.params.bool("value", false)?;
    ctx.call("pool.set_update_sync_enabled", vec![s(&pool), Value::Bool(value)])?;
    Ok(())
}

fn configure_proxy(ctx: &mut Context) -> CmdResult {
    let pool = named_or_only(ctx)?;
    let url = ctx.params.required("proxy-url")?.to_string();
    let args = vec![s(&pool), Value::String(url), opt(ctx, "proxy-username"), opt(ctx, "proxy-password")];
    ctx.call("pool.configure_repository_proxy", args)?;
    Ok(())
}

fn disable_proxy(ctx: &mut Context) -> CmdResult {
    let pool = named_or_only(ctx)?;
    ctx.call("pool.disable_repository_proxy", vec![s(&pool)])?;
    Ok(())
}
