//! What HA does when a host fails (a [`crate::core::HostFailureHook`],
//! registered by [`install`]): with HA on, the host is fenced (HA_HOST_FAILED
//! is filed on it), and the protected VMs it lost ("restart" first, by
//! `order`, then "best-effort") are started again, each with `VM.start` on
//! an internal session, which places it on a surviving live host with room.
//! A "restart" VM that cannot be placed stays halted and
//! HA_PROTECTED_VM_RESTART_FAILED is filed on it. Without HA nothing happens:
//! the VMs stay down, as on xapi. The restarts run in the background;
//! callers watch the VMs' power state. `pool.ha_prevent_restarts_for`
//! holds them back until its time runs out. [`monitor`] keeps the
//! liveset's view of the hosts and the pool's plan current, as xapi's HA
//! monitor does: a failed, rebooted or recovered host changes both, and a
//! plan that no longer covers the failures to tolerate raises the alerts.

use crate::core::Core;
use crate::rules::ha::{self, BEST_EFFORT, RESTART};
use crate::rules::pool::file_message;
use std::sync::Arc;
use xenapi::wire::Response;
use xenapi::Value;

/// Registers the failover on a pool's core.
pub fn install(core: &Arc<Core>) {
    core.host_failure_hooks.lock().push(Arc::new(on_host_failure));
}

/// Runs while the pool is served: whenever the set of live hosts changes
/// with HA on, the hosts' HA fields and the plan follow ([`ha::refresh_liveset`]).
pub async fn monitor(core: Arc<Core>) {
    let mut changes = core.subscribe();
    let mut last: Option<Vec<String>> = None;
    loop {
        let now = {
            let db = core.db.read();
            ha::enabled(&db).then(|| ha::live_hosts(&db))
        };
        if now.is_some() && now != last {
            let _ = core.write(|db| {
                ha::refresh_liveset(db);
                Ok(())
            });
        }
        last = now;
        if changes.changed().await.is_err() {
            return;
        }
    }
}

fn on_host_failure(core: &Arc<Core>, host: &str, lost: &[String]) {
    let mut to_restart = {
        let db = core.db.read();
        if !ha::enabled(&db) {
            return;
        }
        let mut vms: Vec<String> = lost
            .iter()
            .filter(|vm| {
                let p = db.string(vm, "ha_restart_priority");
                p == RESTART || p == BEST_EFFORT
            })
            .cloned()
            .collect();
        ha::restart_order(&db, &mut vms);
        vms
    };
    let _ = core.write(|db| {
        let (uuid, name) = (db.string(host, "uuid"), db.string(host, "name_label"));
        file_message(db, "HA_HOST_FAILED", 3, "Host", &uuid, format!("Server '{name}' has failed"));
        ha::update_pool_status(db);
        Ok(())
    });
    let core = core.clone();
    let vms = std::mem::take(&mut to_restart);
    tokio::spawn(async move {
        // `pool.ha_prevent_restarts_for` holds the restarts back until it runs out.
        loop {
            let until = *core.ha_restarts_prevented_until.lock();
            match until {
                Some(t) if t > std::time::Instant::now() => tokio::time::sleep_until(t.into()).await,
                _ => break,
            }
        }
        let session = core.internal_session();
        for vm in vms {
            let started = core
                .call("VM.start", vec![Value::str(&session), Value::str(&vm), Value::Bool(false), Value::Bool(false)])
                .await;
            if let Response::Failure(_) = started {
                let _ = core.write(|db| {
                    if db.string(&vm, "ha_restart_priority") == RESTART {
                        let uuid = db.string(&vm, "uuid");
                        file_message(db, "HA_PROTECTED_VM_RESTART_FAILED", 2, "VM", &uuid, String::new());
                    }
                    Ok(())
                });
            }
        }
        let _ = core.write(|db| {
            if ha::enabled(db) {
                ha::update_pool_status(db);
            }
            Ok(())
        });
        core.end_internal_session(&session);
    });
}
