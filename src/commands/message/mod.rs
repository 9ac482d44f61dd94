//! `message-create` and `message-destroy`: messages are kept apart from the
//! object database on a real host and reached through the `message` class's
//! explicit calls (`message-list` and friends are generic commands).

mod create;
mod destroy;

use crate::commands::CommandSpec;

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] = &[create::SPEC, destroy::SPEC];
