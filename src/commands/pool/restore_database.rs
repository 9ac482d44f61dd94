//! `pool-restore-database`: send a database backup to the pool master,
//! which checks it (`dry-run`) or restarts onto it.

use super::{unix_error, XMLDB};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};

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
    let file = match std::fs::File::open(&name) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::Raw(format!("Operation failed. Error: file '{name}' does not exist")))
        }
        Err(e) => return Err(unix_error(&e, "open", &name)),
    };
    let meta = file.metadata().map_err(|e| unix_error(&e, "fstat", &name))?;
    // xapi needs the length, which only a regular file has.
    if !meta.is_file() {
        return Err(CliError::Raw(format!(
            "Operation failed. Error: file '{name}' is not a regular file: the server needs the backup's length"
        )));
    }
    let mut file = Some(file);
    ctx.http_task("restore database", XMLDB, &format!("&dry_run={dry_run}"), &mut |link, url| match file.take() {
        Some(f) => link.upload(url, f, meta.len()),
        None => Err(CliError::Internal("the backup was sent twice".into())),
    })?;
    let done = if dry_run {
        "Dry-run backup restore successful".to_string()
    } else {
        // OCaml's string_of_float prints xapi's 30-second fuse as "30.".
        "Host will reboot with restored database in 30. seconds...".to_string()
    };
    ctx.printer.list(&[done]);
    Ok(())
}
