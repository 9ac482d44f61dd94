//! The messages a VM operation leaves for the administrator when it succeeds,
//! as xapi's message forwarding layer files them: one per operation, of
//! class `VM` on the VM the call was about, once the operation has left
//! `current_operations`. A failed operation files none.
//!
//! The names and priorities are those of xapi's `Api_messages` table; the
//! bodies read the names as they are after the operation. Only the
//! operations listed in [`Note`] file anything: clone, copy, provision and
//! the like do not (xapi's `VM_CLONED` belongs to `VM.csvm`).

use crate::db::Db;
use crate::rules::pool::file_message;

/// Every lifecycle message has this priority (xapi's 5, "informational").
const PRIORITY: i64 = 5;

/// What happened to a VM.
pub(super) enum Note<'a> {
    /// `start`, `start_on`: on the host it now runs on.
    Started,
    Paused,
    Unpaused,
    /// `clean_shutdown` and `shutdown`.
    Shutdown,
    /// `hard_shutdown`, also when a revert halts the VM first.
    ShutdownForcibly,
    RebootedCleanly,
    RebootedForcibly,
    Suspended,
    /// `resume`, `resume_on`: on the host it now runs on.
    Resumed,
    /// `snapshot`, with the name asked for.
    Snapshotted(&'a str),
    /// `checkpoint`, with the name asked for.
    Checkpointed(&'a str),
    /// `revert` to this snapshot.
    Reverted(&'a str),
    /// `pool_migrate` from this host to the one it runs on now.
    Migrated(&'a str),
}

/// `name_label` and `uuid` of an object.
fn label(db: &Db, r: &str) -> (String, String) {
    (db.string(r, "name_label"), db.string(r, "uuid"))
}

/// Files the message for `note` about `vm`; nothing if the VM has gone.
pub(super) fn file(db: &mut Db, vm: &str, note: Note) {
    if !db.is(vm, "VM") {
        return;
    }
    let (name, uuid) = label(db, vm);
    let on = |db: &Db| label(db, &db.string(vm, "resident_on"));
    let (message, body) = match note {
        Note::Started => {
            let (host, host_uuid) = on(db);
            ("VM_STARTED", format!("VM '{name}' (uuid: {uuid}) started on host: {host} (uuid: {host_uuid})"))
        }
        Note::Paused => ("VM_PAUSED", format!("VM '{name}' (uuid: {uuid}) paused")),
        Note::Unpaused => ("VM_UNPAUSED", format!("VM '{name}' (uuid: {uuid}) unpaused")),
        Note::Shutdown => ("VM_SHUTDOWN", format!("VM '{name}' (uuid: {uuid}) shutdown")),
        Note::ShutdownForcibly => ("VM_SHUTDOWN", format!("VM '{name}' (uuid: {uuid}) shutdown forcibly")),
        Note::RebootedCleanly => ("VM_REBOOTED", format!("VM '{name}' (uuid: {uuid}) rebooted cleanly")),
        Note::RebootedForcibly => ("VM_REBOOTED", format!("VM '{name}' (uuid: {uuid}) rebooted forcibly")),
        Note::Suspended => ("VM_SUSPENDED", format!("VM '{name}' (uuid: {uuid}) suspended")),
        Note::Resumed => {
            let (host, host_uuid) = on(db);
            ("VM_RESUMED", format!("VM '{name}' (uuid: {uuid}) resumed on host: {host} (uuid: {host_uuid})"))
        }
        Note::Snapshotted(new_name) => {
            ("VM_SNAPSHOTTED", format!("VM '{name}' (uuid: {uuid}) snapshotted, snapshot name: {new_name}"))
        }
        Note::Checkpointed(new_name) => {
            ("VM_CHECKPOINTED", format!("VM '{name}' (uuid: {uuid}) checkpointed, snapshot name: {new_name}"))
        }
        Note::Reverted(snapshot) => {
            // The snapshot's uuid has no colon after "uuid" here, as in xapi.
            let (snap, snap_uuid) = label(db, snapshot);
            (
                "VM_SNAPSHOT_REVERTED",
                format!("VM '{name}' (uuid: {uuid}) reverted to snapshot: {snap} (uuid {snap_uuid})"),
            )
        }
        Note::Migrated(from) => {
            let (src, src_uuid) = label(db, from);
            let (dst, dst_uuid) = on(db);
            (
                "VM_MIGRATED",
                format!(
                    "VM '{name}' (uuid: {uuid}) migrated from host '{src}' (uuid: {src_uuid}) \
                     to host '{dst}' (uuid: {dst_uuid})"
                ),
            )
        }
    };
    file_message(db, message, PRIORITY, "VM", &uuid, body);
}
