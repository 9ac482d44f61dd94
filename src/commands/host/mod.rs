//! Host commands beyond the generated ones.

mod logs_download;

use crate::commands::CommandSpec;

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] = &[logs_download::SPEC];
