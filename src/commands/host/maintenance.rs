//! Host maintenance: `host-disable`, `host-enable`, `host-reboot`,
//! `host-shutdown`, `host-power-on` and `host-set-power-on-mode`, each one
//! API call on every selected host (xe's `do_host_op`: `--multiple` for
//! several, failures reported per host).

use crate::commands::args::s;
use crate::commands::select::{self, Selector};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

pub(super) const HOSTS: Selector = Selector { class: "host", templates: false, dom0: false, single: false };

pub const DISABLE: CommandSpec = CommandSpec {
    name: "host-disable",
    help: "Disable a host so that no new VMs start on it, typically before maintenance.",
    run: Run::Fn(disable),
};

pub const ENABLE: CommandSpec = CommandSpec {
    name: "host-enable",
    help: "Re-enable a disabled host so that VMs can start on it again.",
    run: Run::Fn(enable),
};

pub const REBOOT: CommandSpec = CommandSpec {
    name: "host-reboot",
    help: "Reboot a disabled host; the VMs still on it are shut down.",
    run: Run::Fn(|ctx| each(ctx, "host.reboot")),
};

pub const SHUTDOWN: CommandSpec = CommandSpec {
    name: "host-shutdown",
    help: "Shut down a disabled host; the VMs still on it are shut down.",
    run: Run::Fn(|ctx| each(ctx, "host.shutdown")),
};

pub const POWER_ON: CommandSpec = CommandSpec {
    name: "host-power-on",
    help: "Power on a host remotely using its configured power-on mode.",
    run: Run::Fn(|ctx| each(ctx, "host.power_on")),
};

pub const SET_POWER_ON_MODE: CommandSpec = CommandSpec {
    name: "host-set-power-on-mode",
    help: "Choose how a host is powered on remotely (wake-on-lan, iLO, DRAC or a custom script).",
    run: Run::Fn(set_power_on_mode),
};

/// Calls `method` on every selected host.
fn each(ctx: &mut Context, method: &'static str) -> CmdResult {
    let hosts = select::select(ctx, HOSTS)?;
    select::run_each(ctx, &hosts, |api, h| api.call(method, vec![s(&h.r)]).map(|_| None))?;
    Ok(())
}

/// `auto-enable=false` (the host stays disabled across reboots) needs
/// `host.disable`'s `auto_enable` parameter, which this API version lacks:
/// refused rather than ignored.
fn disable(ctx: &mut Context) -> CmdResult {
    if !ctx.params.bool("auto-enable", true)? {
        return Err(CliError::failure(
            "auto-enable=false is not supported: this server's host.disable has no auto_enable parameter",
        ));
    }
    each(ctx, "host.disable")
}

/// Like xe, clears the `MAINTENANCE_MODE` key a GUI sets in `other-config`
/// (else the GUI would disable the host again), then enables the host.
fn enable(ctx: &mut Context) -> CmdResult {
    let hosts = select::select(ctx, HOSTS)?;
    select::run_each(ctx, &hosts, |api, h| {
        api.call("host.remove_from_other_config", vec![s(&h.r), s("MAINTENANCE_MODE")])?;
        api.call("host.enable", vec![s(&h.r)]).map(|_| None)
    })?;
    Ok(())
}

/// `power-on-mode=` on every selected host. The mode's configuration
/// (`power-on-config:KEY=VALUE`) is refused for now.
fn set_power_on_mode(ctx: &mut Context) -> CmdResult {
    if let Some((k, _)) = ctx.params.iter().find(|(k, _)| k.starts_with("power-on-config")) {
        return Err(CliError::failure(format!("{k}: a power-on configuration is not supported")));
    }
    let mode = ctx.params.required("power-on-mode")?.to_string();
    let hosts = select::select(ctx, HOSTS)?;
    select::run_each(ctx, &hosts, |api, h| {
        let args = vec![s(&h.r), s(&mode), Value::Struct(Vec::new())];
        api.call("host.set_power_on_mode", args).map(|_| None)
    })?;
    Ok(())
}
