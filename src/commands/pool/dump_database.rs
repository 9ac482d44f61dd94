//! `pool-dump-database`: save the pool database, in xapi's XML format, to a
//! new local file.

use super::{unix_error, XMLDB};
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
    if name.is_empty() {
        return Err(crate::error::CliError::failure(
            "pool-dump-database cannot write to standard output yet: give file-name a file",
        ));
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&name).map_err(|e| unix_error(&e, "open", &name))?;
    let result = ctx.http_task("dump database", XMLDB, "", &mut |link, url| link.download(url, &mut file));
    if result.is_err() {
        drop(file);
        let _ = std::fs::remove_file(&name);
    }
    result.map(drop)
}
