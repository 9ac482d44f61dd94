//! `vbd-unplug`: detach a VBD, waiting up to `timeout=` for a guest that refuses.

use crate::commands::args::s;
use crate::commands::{CommandSpec, Run};
use crate::connect::{Api, CallError};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use std::time::{Duration, Instant};

pub const SPEC: CommandSpec = CommandSpec {
    name: "vbd-unplug",
    help: "Hot-unplug a VBD from its running VM; --force forces it and timeout= retries while the guest refuses.",
    run: Run::Fn(vbd_unplug),
};

fn vbd_unplug(ctx: &mut Context) -> CmdResult {
    let vbd = ctx.lookup_param("VBD", "uuid")?;
    let timeout = match ctx.params.get("timeout") {
        Some(t) => {
            t.parse::<f64>().map_err(|_| CliError::failure("Failed to parse parameter 'timeout': expecting a float"))?
        }
        None => 0.0,
    };
    let method = if ctx.params.bool("force", false)? { "VBD.unplug_force" } else { "VBD.unplug" };
    let start = Instant::now();
    match Api::call(ctx, method, vec![s(&vbd)]) {
        Ok(_) => Ok(()),
        // The guest refused: like xe, watch for it letting go until
        // `timeout` seconds after the unplug began, checking every 5 s.
        Err(CallError::Api(code, params)) if code == "DEVICE_DETACH_REJECTED" => {
            let limit = Duration::try_from_secs_f64(timeout).unwrap_or(Duration::ZERO);
            while start.elapsed() < limit {
                std::thread::sleep(Duration::from_secs(5));
                let attached = ctx.call("VBD.get_currently_attached", vec![s(&vbd)])?;
                if attached.as_bool() == Some(false) {
                    return Ok(());
                }
            }
            Err(ctx.api_error(&code, params))
        }
        Err(e) => Err(ctx.describe(e)),
    }
}
