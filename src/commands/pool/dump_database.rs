//! `pool-dump-database`: save the pool database, in xapi's XML format, to a
//! new local file (or standard output when `file-name` is empty, as xe allows).

use super::XMLDB;
use crate::commands::transfer::{self, Direction, Request, Sink};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;

pub const SPEC: CommandSpec = CommandSpec {
    name: "pool-dump-database",
    help: "Download a copy of the pool database into a new local file.",
    run: Run::Fn(dump),
};

/// `GET /pool/xmldbdump` under a task labelled `dump database`. The file is
/// created exclusively (mode 0600, never overwritten) and removed if the
/// transfer fails. Prints nothing.
fn dump(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("file-name")?.to_string();
    let path = |session: &str, task: &str| format!("{XMLDB}?session_id={session}&task_id={task}");
    transfer::run(
        ctx,
        Request {
            label: "dump database",
            direction: Direction::Download(Sink::from_param(&name)),
            path: &path,
            expected: None,
            report_time: false,
        },
    )?;
    Ok(())
}
