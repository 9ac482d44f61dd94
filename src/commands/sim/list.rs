//! `xe sim-list`: the running simulators started for `sim://NAME`.

use crate::commands::{CommandSpec, ExtraSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;

pub const SPEC: ExtraSpec = ExtraSpec {
    spec: CommandSpec {
        name: "sim-list",
        help: "List the simulated pools started with sim://NAME.",
        run: Run::Fn(list),
    },
    reqd: &[],
    optn: &[],
};

fn list(ctx: &mut Context) -> CmdResult {
    let names: Vec<String> =
        crate::sims::list().into_iter().map(|(name, port)| format!("{name} http://127.0.0.1:{port}/")).collect();
    ctx.printer.list(&names);
    Ok(())
}
