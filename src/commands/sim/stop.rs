//! `xe sim-stop`: stop a simulator started for `sim://NAME`.

use crate::commands::{CommandSpec, ExtraSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;

pub const SPEC: ExtraSpec = ExtraSpec {
    spec: CommandSpec {
        name: "sim-stop",
        help: "Stop the background simulated pool started for sim://NAME (name defaults to demo).",
        run: Run::Fn(stop),
    },
    reqd: &[],
    optn: &["name", "purge"],
};

fn stop(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.get("name").unwrap_or("demo").to_string();
    let purge = ctx.params.bool("purge", false)?;
    crate::sims::stop(&name, purge)
}
