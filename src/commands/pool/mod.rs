//! Pool commands beyond the generated ones: the database dump and restore,
//! which move the pool database over xapi's HTTP handler
//! `/pool/xmldbdump` under a task, as the real xe's `track_http_operation` does.

mod dump_database;
mod external_auth;
mod restore_database;

use crate::commands::CommandSpec;

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] =
    &[dump_database::SPEC, restore_database::SPEC, external_auth::ENABLE, external_auth::DISABLE];

/// The handler both commands use.
const XMLDB: &str = "/pool/xmldbdump";
