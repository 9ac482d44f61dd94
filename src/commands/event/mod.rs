//! The event commands: `event-wait`.

mod wait;

use crate::commands::CommandSpec;

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] = &[wait::SPEC];
