//! Host failures on demand, for tests of what a pool does when a host dies:
//! `POST /sim/hosts/<uuid>/fail` and `/recover` (served by [`crate::server`]).
//!
//! A failed host's domains are gone: its guests are reset to Halted (by
//! `VM.power_state_reset` on an internal session, what xapi's
//! `declare_dead` does), its metrics say it is not live, and it answers
//! nothing on its address until it recovers. Then the hooks of
//! [`Core::host_failure_hooks`] run with the host and the guests it lost
//! (HA restarts them there). Recovery boots the host as a reboot does.

use crate::core::Core;
use crate::rules::host::{came_up, is_live, resident_guests, went_down};
use std::sync::Arc;
use xenapi::Value;

/// What a failure or a recovery did, for the HTTP answer.
#[derive(Debug, serde::Serialize)]
pub struct Outcome {
    pub host: String,
    pub live: bool,
    /// The uuids of the guests that went down with the host.
    pub vms_halted: Vec<String>,
}

/// Why a request could not be carried out (the HTTP answer's text).
#[derive(Debug)]
pub enum Refusal {
    NoSuchHost(String),
    AlreadyDown(String),
    AlreadyUp(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoSuchHost(u) => write!(f, "no host has the uuid {u}"),
            Refusal::AlreadyDown(u) => write!(f, "the host {u} is already down"),
            Refusal::AlreadyUp(u) => write!(f, "the host {u} is live"),
        }
    }
}

fn find(core: &Core, uuid: &str) -> Result<String, Refusal> {
    let db = core.db.read();
    db.by_uuid(db.cls("host"), uuid).map(str::to_string).ok_or_else(|| Refusal::NoSuchHost(uuid.to_string()))
}

/// Fails the host: its guests halt, it goes down, the hooks run.
pub async fn fail(core: &Arc<Core>, uuid: &str) -> Result<Outcome, Refusal> {
    let host = find(core, uuid)?;
    let guests = {
        let db = core.db.read();
        if !is_live(&db, &host) {
            return Err(Refusal::AlreadyDown(uuid.to_string()));
        }
        resident_guests(&db, &host)
    };
    let session = core.internal_session();
    for vm in &guests {
        let _ = core.call("VM.power_state_reset", vec![Value::str(&session), Value::str(vm)]).await;
    }
    core.end_internal_session(&session);
    let _ = core.write(|db| {
        went_down(db, &host);
        Ok(())
    });
    let hooks = core.host_failure_hooks.lock().clone();
    for hook in hooks {
        hook(core, &host, &guests);
    }
    let db = core.db.read();
    let vms_halted = guests.iter().map(|vm| db.string(vm, "uuid")).collect();
    Ok(Outcome { host: uuid.to_string(), live: false, vms_halted })
}

/// Brings a failed (or shut down) host back at once.
pub fn recover(core: &Arc<Core>, uuid: &str) -> Result<Outcome, Refusal> {
    let host = find(core, uuid)?;
    let recovered = core.write(|db| {
        if is_live(db, &host) {
            return Ok(false);
        }
        came_up(db, &host);
        Ok(true)
    });
    match recovered {
        Ok(true) => Ok(Outcome { host: uuid.to_string(), live: true, vms_halted: Vec::new() }),
        _ => Err(Refusal::AlreadyUp(uuid.to_string())),
    }
}
