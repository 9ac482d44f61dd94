//! Updates: `update-*` (pool updates), the legacy `patch-*` commands that
//! xapi maps onto them, update repositories (`repository-*`), and the
//! pool's and hosts' repository commands (`pool-sync-updates`,
//! `host-apply-updates`, the update-sync schedule, the repository proxy).

mod patch;
mod pool_update;
mod repository;
mod upload;

use crate::commands::by_uuid;
use crate::commands::CommandSpec;

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] = &[
    upload::UPDATE,
    upload::PATCH,
    pool_update::INTRODUCE,
    pool_update::PRECHECK,
    pool_update::APPLY,
    pool_update::RESYNC_HOST,
    by_uuid::row("update-pool-apply", "pool_update", "pool_apply", "Apply an update to every host in the pool."),
    by_uuid::row(
        "update-pool-clean",
        "pool_update",
        "pool_clean",
        "Delete the files of an update from every host, keeping its record.",
    ),
    by_uuid::row("update-destroy", "pool_update", "destroy", "Delete an update from the pool."),
    patch::PRECHECK,
    patch::APPLY,
    by_uuid::row("patch-pool-apply", "pool_patch", "pool_apply", "Apply a legacy patch to every host in the pool."),
    by_uuid::row(
        "patch-clean",
        "pool_patch",
        "clean",
        "Delete the files of a legacy patch from the host, keeping its record.",
    ),
    by_uuid::row(
        "patch-pool-clean",
        "pool_patch",
        "pool_clean",
        "Delete the files of a legacy patch from every host, keeping its record.",
    ),
    by_uuid::row(
        "patch-destroy",
        "pool_patch",
        "destroy",
        "Delete an unapplied legacy patch and its files from the pool.",
    ),
    repository::INTRODUCE,
    by_uuid::row("repository-forget", "Repository", "forget", "Remove an update repository from the pool."),
    repository::SET_GPGKEY_PATH,
    repository::SYNC,
    repository::APPLY,
    repository::EMERGENCY_CLEAR_GUIDANCE,
    repository::CONFIGURE_SYNC,
    repository::SET_SYNC_ENABLED,
    repository::CONFIGURE_PROXY,
    repository::DISABLE_PROXY,
];
