//! `xe sim-list` and `xe sim-stop`: the commands over the simulator
//! processes that `sim://NAME` starts (see [`crate::sims`]).

use super::{CommandSpec, ExtraSpec};
use crate::context::Context;
use crate::error::CmdResult;

pub const STOP: ExtraSpec = ExtraSpec {
    spec: CommandSpec {
        name: "sim-stop",
        help: "Stop the background simulated pool started for sim://NAME (name defaults to demo).",
        run: stop,
    },
    reqd: &[],
    optn: &["name", "purge"],
};

pub const LIST: ExtraSpec = ExtraSpec {
    spec: CommandSpec { name: "sim-list", help: "List the simulated pools started with sim://NAME.", run: list },
    reqd: &[],
    optn: &[],
};

fn stop(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.get("name").unwrap_or("demo").to_string();
    let purge = ctx.params.bool("purge", false)?;
    crate::sims::stop(&name, purge)
}

fn list(ctx: &mut Context) -> CmdResult {
    let names: Vec<String> =
        crate::sims::list().into_iter().map(|(name, port)| format!("{name} http://127.0.0.1:{port}/")).collect();
    ctx.printer.list(&names);
    Ok(())
}
