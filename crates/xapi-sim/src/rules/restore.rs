//! What a host does to a database backup before it restarts onto it
//! (`Pool_db_backup.prepare_database_for_restore` in xen-api): the host
//! restoring becomes the backup's master, so the backup's other hosts (and
//! their PIFs) are forgotten, its master takes this host's uuid and its
//! control domain this host's control domain's uuid, and its master's PIFs
//! take this host's MAC addresses by device name, keeping this host's
//! management interface.

use crate::db::{ApiResult, Db, Failure};
use crate::rules::pool::master;
use xenapi::Value;

/// Rewrites `backup` for the host that is `current`'s master.
pub fn prepare(current: &Db, backup: &mut Db) -> ApiResult<()> {
    let here = master(current);
    let there = master(backup);
    for host in backup.all("host") {
        if host != there {
            for pif in backup.strings(&host, "PIFs") {
                backup.destroy(&pif);
            }
            backup.destroy(&host);
        }
    }
    let uuid = current.string(&here, "uuid");
    backup.set_named(&there, "uuid", Value::String(uuid));
    let dom0 = backup.string(&there, "control_domain");
    if backup.is(&dom0, "VM") {
        let uuid = current.string(&current.string(&here, "control_domain"), "uuid");
        backup.set_named(&dom0, "uuid", Value::String(uuid));
    }

    let ours = current.strings(&here, "PIFs");
    let physical: Vec<(String, String)> = ours
        .iter()
        .filter(|p| current.bool(p, "physical"))
        .map(|p| (current.string(p, "device"), current.string(p, "MAC")))
        .collect();
    let managed: Vec<&String> = ours.iter().filter(|p| current.bool(p, "management")).collect();
    let management = match managed.as_slice() {
        [pif] => Some(current.string(pif, "device")),
        _ => None,
    };
    let mut found_management = false;
    let mut devices = Vec::new();
    for pif in backup.strings(&there, "PIFs") {
        let device = backup.string(&pif, "device");
        devices.push(device.clone());
        let is_management = management.as_deref() == Some(device.as_str());
        backup.set_named(&pif, "management", Value::Bool(is_management));
        found_management |= is_management;
        if backup.bool(&pif, "physical") {
            let Some((_, mac)) = physical.iter().find(|(d, _)| *d == device) else {
                return Err(Failure::new("RESTORE_TARGET_MISSING_DEVICE", [device]));
            };
            backup.set_named(&pif, "MAC", Value::str(mac));
        }
    }
    if management.is_some() && !found_management {
        // xapi lists them last seen first.
        devices.reverse();
        return Err(Failure(
            std::iter::once("RESTORE_TARGET_MGMT_IF_NOT_IN_BACKUP".to_string()).chain(devices).collect(),
        ));
    }
    Ok(())
}
