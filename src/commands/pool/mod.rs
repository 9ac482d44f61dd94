//! Pool commands beyond the generated ones: the database dump and restore,
//! which move the pool database over xapi's HTTP handler
//! `/pool/xmldbdump` under a task, as the real xe's `track_http_operation` does.

mod dump_database;
mod restore_database;

use crate::commands::CommandSpec;
use crate::error::CliError;

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] = &[dump_database::SPEC, restore_database::SPEC];

/// The handler both commands use.
const XMLDB: &str = "/pool/xmldbdump";

/// A local file error as the real xe's client reports it: the OCaml
/// exception of the failed system call (`Unix.Unix_error(Unix.EEXIST, "open", "pool.db")`).
fn unix_error(e: &std::io::Error, call: &str, file: &str) -> CliError {
    use std::io::ErrorKind;
    let code = match e.kind() {
        ErrorKind::AlreadyExists => "Unix.EEXIST".to_string(),
        ErrorKind::NotFound => "Unix.ENOENT".to_string(),
        ErrorKind::PermissionDenied => "Unix.EACCES".to_string(),
        ErrorKind::IsADirectory => "Unix.EISDIR".to_string(),
        _ => format!("Unix.EUNKNOWNERR {}", e.raw_os_error().unwrap_or(0)),
    };
    CliError::Raw(format!("Operation failed. Error: Unix.Unix_error({code}, \"{call}\", \"{file}\")"))
}
