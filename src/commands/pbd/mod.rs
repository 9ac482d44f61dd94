//! The PBD commands with more than one call (the others are in `by_uuid`).

mod create;

use crate::commands::CommandSpec;

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] = &[create::SPEC];
