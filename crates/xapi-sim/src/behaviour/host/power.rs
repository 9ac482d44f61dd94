//! A host's power and maintenance state: `disable`, `enable`, `reboot`,
//! `shutdown`, `power_on` and `set_power_on_mode`, with xapi's checks
//! ([`crate::rules::host`]). A reboot or shutdown answers at once; a moment
//! later the host's VMs are shut down (by API calls, as xapi's
//! `prepare_for_poweroff` makes them) and the host goes down: not live, and
//! silent on its own address (the server drops what comes in for it). A
//! reboot brings it back after its boot time; `power_on` does for a host
//! that was shut down.

use crate::call::{prepare, Call, Handler, Run};
use crate::core::Core;
use crate::db::{ApiResult, Db, Failure};
use crate::rules::host::{
    assert_live, assert_operation_valid, came_up, enter, is_live, live_operations, resident_guests,
    update_allowed_operations, went_down,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use xenapi::Value;

/// Seconds (before `--time-scale`) between a reboot or shutdown call and
/// the host going down: xapi gives the call this long to answer.
pub(super) const GOING_DOWN_SECS: f64 = 1.0;
/// Seconds a host takes to boot, from going down (reboot) or `power_on`.
pub(super) const BOOT_SECS: f64 = 5.0;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("host.disable", Handler::Sync(disable));
    t.insert("host.enable", Handler::Sync(enable));
    t.insert("host.reboot", Handler::Sync(|c, db| power_off(c, db, "reboot")));
    t.insert("host.shutdown", Handler::Sync(|c, db| power_off(c, db, "shutdown")));
    t.insert("host.power_on", Handler::Sync(power_on));
    t.insert("host.set_power_on_mode", Handler::Sync(set_power_on_mode));
}

fn void() -> Value {
    Value::String(String::new())
}

/// No new VMs may start on the host or move to it. xapi runs it on the
/// host itself (HOST_OFFLINE when it is down); disabling a disabled host
/// does nothing.
fn disable(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0);
    assert_live(db, host)?;
    if db.bool(host, "enabled") {
        db.set_named(host, "enabled", Value::Bool(false));
    }
    update_allowed_operations(db, host);
    Ok(void())
}

/// Takes new VMs again. Not while the host is going down for a reboot or
/// shutdown (HOST_DISABLED_UNTIL_REBOOT, as xapi's local database says).
fn enable(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0);
    assert_operation_valid(db, host, "enable")?;
    assert_live(db, host)?;
    if !db.bool(host, "enabled") {
        if live_operations(db, host).iter().any(|(_, op)| op == "reboot" || op == "shutdown") {
            return Err(Failure::new("HOST_DISABLED_UNTIL_REBOOT", [host]));
        }
        db.set_named(host, "enabled", Value::Bool(true));
    }
    update_allowed_operations(db, host);
    Ok(void())
}

/// `reboot` or `shutdown`: the host must be live and disabled and not
/// already going down. The operation stays on the host under a task of its
/// own ("Host is rebooting" / "Host is shutting down") until it is down.
fn power_off(call: &Call, db: &mut Db, op: &'static str) -> ApiResult<Value> {
    let host = call.str(0).to_string();
    assert_live(db, &host)?;
    assert_operation_valid(db, &host, op)?;
    let label = if op == "reboot" { "Host is rebooting" } else { "Host is shutting down" };
    let task = crate::tasks::new_task(db, label, label, false);
    enter(db, &host, op, &task);
    let core = call.core.clone();
    let run = call.run;
    tokio::spawn(async move {
        pause(&core, GOING_DOWN_SECS).await;
        shut_down_guests(&core, run, &host).await;
        let _ = core.write(|db| {
            if db.is(&task, "task") {
                db.destroy(&task);
            }
            went_down(db, &host);
            if op == "shutdown" {
                db.set_named(&host, "current_operations", crate::values::empty_map());
                update_allowed_operations(db, &host);
            }
            Ok(())
        });
        if op == "reboot" {
            boot(&core, &host).await;
        }
    });
    Ok(void())
}

/// Powers on a host that was shut down, through its power-on mode
/// (HOST_IS_LIVE for a live host, HOST_POWER_ON_MODE_DISABLED without a
/// mode). The call returns once the host is on its way up.
fn power_on(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0).to_string();
    assert_operation_valid(db, &host, "power_on")?;
    let task = crate::tasks::new_task(db, "Host is powering on", "Host is powering on", false);
    enter(db, &host, "power_on", &task);
    let core = call.core.clone();
    tokio::spawn(async move {
        boot(&core, &host).await;
        let _ = core.write(|db| {
            if db.is(&task, "task") {
                db.destroy(&task);
            }
            Ok(())
        });
    });
    Ok(void())
}

/// The modes xapi's power-on plugins know; others name a custom plugin.
fn set_power_on_mode(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0);
    db.expect_is(host, "host")?;
    let config = call.args.get(2).cloned().unwrap_or_else(crate::values::empty_map);
    let old = db.field(host, "power_on_config").map(crate::values::pairs).unwrap_or_default();
    db.set_named(host, "power_on_mode", Value::str(call.str(1)));
    db.set_named(host, "power_on_config", config);
    crate::rules::secrets::clean_out(db, &old);
    update_allowed_operations(db, host);
    Ok(void())
}

async fn pause(core: &Core, seconds: f64) {
    let d = Duration::from_secs_f64((seconds * core.config.time_scale).max(0.0));
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

/// Shuts the host's guests down the way xapi does before powering off:
/// API calls (hard shutdowns here, which cannot hang) on a session of the
/// pool's own.
async fn shut_down_guests(core: &Arc<Core>, run: Run, host: &str) {
    let guests = resident_guests(&core.db.read(), host);
    if guests.is_empty() {
        return;
    }
    let session = core.internal_session();
    for vm in guests {
        let params = vec![Value::str(&session), Value::str(&vm)];
        if let Ok(call) = prepare(core, "VM.hard_shutdown", params, run) {
            let _ = run(call).await;
        }
    }
    core.end_internal_session(&session);
}

/// Boots a host that is down: after its boot time it is live again.
async fn boot(core: &Arc<Core>, host: &str) {
    pause(core, BOOT_SECS).await;
    let _ = core.write(|db| {
        if !is_live(db, host) {
            came_up(db, host);
        }
        Ok(())
    });
}
