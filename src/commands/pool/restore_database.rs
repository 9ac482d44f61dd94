//! `pool-restore-database`: send a database backup to the pool master,
//! which checks it (`dry-run`) or restarts onto it.

use super::XMLDB;
use crate::commands::transfer::{self, Direction, Request};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use std::path::PathBuf;

pub const SPEC: CommandSpec = CommandSpec {
    name: "pool-restore-database",
    help: "Restore the pool database from a backup, making this host master; needs --force unless dry-run.",
    run: Run::Fn(restore),
};

/// `PUT /pool/xmldbdump?...&dry_run=<b>` with the file under a task labelled
/// `restore database`. Like the real xe, `dry-run` and `--force` count by
/// their presence alone (`dry-run=false` is still a dry run).
fn restore(ctx: &mut Context) -> CmdResult {
    let dry_run = ctx.params.has("dry-run");
    if !ctx.params.has("force") && !dry_run {
        return Err(CliError::failure(
            "This operation will restore the database backup to this host, making it the master. All slave hosts \
             are assumed dead and they will be forgotten. This operation must be forced (use --force).",
        ));
    }
    let name = ctx.params.required("file-name")?.to_string();
    // xapi needs the length, which only a regular file has: a pipe would be
    // refused after the task was made.
    if std::fs::metadata(&name).is_ok_and(|m| !m.is_file()) {
        return Err(CliError::Raw(format!(
            "Operation failed. Error: file '{name}' is not a regular file: the server needs the backup's length"
        )));
    }
    let path = |session: &str, task: &str| format!("{XMLDB}?session_id={session}&task_id={task}&dry_run={dry_run}");
    transfer::run(
        ctx,
        Request {
            label: "restore database",
            direction: Direction::Upload(PathBuf::from(&name)),
            path: &path,
            expected: None,
            report_time: false,
        },
    )?;
    let done = if dry_run {
        "Dry-run backup restore successful".to_string()
    } else {
        // OCaml's string_of_float prints xapi's 30-second fuse as "30.".
        "Host will reboot with restored database in 30. seconds...".to_string()
    };
    ctx.printer.list(&[done]);
    Ok(())
}
