//! What xapi's master does to the database it reloads at startup
//! (`Dbsync_master`, `Cancel_tasks`): the tasks died with the last process,
//! so nothing is in progress. xapi does not persist `current_operations` and
//! `allowed_operations` at all and recomputes the latter; it also clears
//! every host a VM was only scheduled to run on.

use crate::db::Db;
use crate::rules::{devices, memory, storage, vm};
use crate::values::null;
use xenapi::{Value, NULL_REF};

/// Clears the operations an earlier process left in progress, recomputes
/// the allowed operations of the objects they were on, and clears scheduled
/// placements. Returns whether anything changed.
pub fn resync(db: &mut Db) -> bool {
    let mut changed = false;
    for c in 0..db.schema.classes.len() {
        let class = db.class(c);
        let Some(pos) = class.field_pos("current_operations") else { continue };
        let busy: Vec<String> = db
            .iter(c)
            .filter(|(_, o)| o.fields[pos].as_struct().is_some_and(|m| !m.is_empty()))
            .map(|(r, _)| r.clone())
            .collect();
        for r in busy {
            db.set(&r, pos, Value::Struct(Vec::new()));
            // The others' allowed operations were computed with nothing in progress.
            match class.name() {
                "VM" => vm::update_allowed_operations(db, &r),
                "VDI" => storage::refresh_vdi_ops(db, &r),
                "SR" => storage::refresh_sr_ops(db, &r),
                "VBD" => devices::refresh_vbd_ops(db, &r),
                "VIF" => devices::refresh_vif_ops(db, &r),
                _ => {}
            }
            changed = true;
        }
    }
    for r in db.all("VM") {
        let host = db.field_str(&r, "scheduled_to_be_resident_on");
        if !host.is_empty() && host != NULL_REF {
            db.set_named(&r, "scheduled_to_be_resident_on", null());
            changed = true;
        }
    }
    changed
}

/// What xapi's master does at startup to a database it did not write itself
/// (a `--load` file, a restored backup): nothing in progress ([`resync`]),
/// VMs still marked running on hosts the database no longer has reset to
/// Halted (`Dbsync_master.reset_vms_running_on_missing_hosts`), and the
/// hosts' free memory recomputed. Returns a line for each VM it reset.
pub fn adopt(db: &mut Db) -> Vec<String> {
    resync(db);
    let mut notes = Vec::new();
    for vm in db.all("VM") {
        let host = db.string(&vm, "resident_on");
        let state = db.string(&vm, "power_state");
        if db.is(&host, "host") || !matches!(state.as_str(), "Running" | "Paused") {
            continue;
        }
        notes.push(format!(
            "VM {} ({}) was {state} on a host the database does not have: reset to Halted",
            db.string(&vm, "uuid"),
            db.string(&vm, "name_label")
        ));
        for vbd in db.strings(&vm, "VBDs") {
            devices::mark_vbd_attached(db, &vbd, false);
        }
        for vif in db.strings(&vm, "VIFs") {
            devices::mark_vif_attached(db, &vif, false);
        }
        db.set_named(&vm, "power_state", Value::str("Halted"));
        db.set_named(&vm, "resident_on", null());
        db.set_named(&vm, "domid", Value::Int(-1));
        vm::update_allowed_operations(db, &vm);
    }
    for host in db.all("host") {
        memory::refresh_host(db, &host);
    }
    notes
}
