//! Pool membership: `pool-join` and `pool-eject` (with xe's warning about
//! the host's local SRs and its confirmation prompt unless `--force`).

use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

/// How long xapi waits before its restart after a join or an eject, as xe prints it.
pub const FUSE_TIME: &str = "10.";

pub const JOIN: CommandSpec = CommandSpec {
    name: "pool-join",
    help: "Make this host join the pool of the given master; --force skips compatibility checks.",
    run: Run::Fn(join),
};

pub const EJECT: CommandSpec = CommandSpec {
    name: "pool-eject",
    help: "Remove a host from the pool, wiping its local SRs; asks for confirmation unless --force.",
    run: Run::Fn(eject),
};

/// `pool.join` (or `join_force` with `force=true`) on the host reached.
/// xe reports a master it cannot reach in two lines and succeeds.
fn join(ctx: &mut Context) -> CmdResult {
    let force = ctx.params.bool("force", false)?;
    let args = ["master-address", "master-username", "master-password"]
        .iter()
        .map(|k| ctx.params.required(k).map(Value::str))
        .collect::<CmdResult<Vec<Value>>>()?;
    let method = if force { "pool.join_force" } else { "pool.join" };
    match ctx.call(method, args) {
        Ok(_) => {
            ctx.printer.list(&[format!("Host agent will restart and attempt to join pool in {FUSE_TIME} seconds...")]);
            Ok(())
        }
        Err(CliError::Api { code, .. }) if code == "JOINING_HOST_CONNECTION_FAILED" => {
            ctx.printer.list(&[
                "Host cannot contact destination host: connection refused.".to_string(),
                "Check destination host has services running and accessible from this host.".to_string(),
            ]);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The VDIs on the SRs only this host sees, as xe lists them before an
/// eject (best effort: what cannot be read is left out), in xe's order.
fn doomed_vdis(ctx: &mut Context, host: &str) -> Vec<String> {
    let h = Value::str(host);
    let Ok(pbds) = ctx.call_refs("host.get_PBDs", vec![h]) else { return Vec::new() };
    let mut srs = Vec::new();
    for pbd in pbds {
        let Ok(sr) = ctx.call_string("PBD.get_SR", vec![Value::str(&pbd)]) else { continue };
        let Ok(others) = ctx.call_refs("SR.get_PBDs", vec![Value::str(&sr)]) else { continue };
        let mut elsewhere = false;
        for other in others {
            match ctx.call_string("PBD.get_host", vec![Value::str(&other)]) {
                Ok(owner) if owner != host => elsewhere = true,
                Ok(_) => {}
                Err(_) => {}
            }
        }
        if !elsewhere {
            srs.push(sr);
        }
    }
    let mut warnings = Vec::new();
    for sr in srs {
        let Ok(vdis) = ctx.call_refs("SR.get_VDIs", vec![Value::str(&sr)]) else { continue };
        for vdi in vdis {
            let uuid = ctx.call_string("VDI.get_uuid", vec![Value::str(&vdi)]);
            let name = ctx.call_string("VDI.get_name_label", vec![Value::str(&vdi)]);
            if let (Ok(uuid), Ok(name)) = (uuid, name) {
                warnings.push(format!("VDI: {uuid} ({name})"));
            }
        }
    }
    // xe collects them last first.
    warnings.reverse();
    warnings
}

fn eject(ctx: &mut Context) -> CmdResult {
    let uuid = ctx.params.required("host-uuid")?.to_string();
    let host = ctx.lookup_uuid("host", &uuid)?;
    let force = ctx.params.bool("force", false)?;
    if !force {
        let warnings = doomed_vdis(ctx, &host);
        ctx.printer.raw("WARNING: Ejecting a host from the pool will reinitialise that host's local SRs.\n");
        ctx.printer.raw("WARNING: Any data contained with the local SRs will be lost.\n");
        if !warnings.is_empty() {
            ctx.printer.raw("The following VDI objects will be destroyed:\n");
            for w in &warnings {
                ctx.printer.raw(&format!("{w}\n"));
            }
        }
        if !crate::commands::confirm::user_says_yes(ctx)? {
            return Ok(());
        }
    }
    ctx.call("pool.eject", vec![Value::str(&host)])?;
    ctx.printer
        .list(&[format!("Specified host will attempt to restart as a master of a new pool in {FUSE_TIME} seconds...")]);
    Ok(())
}
