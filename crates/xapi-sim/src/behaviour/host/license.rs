//! Licensing as on XCP-ng, whose licensing daemon knows one edition
//! (`xcp-ng`, the host's `editions`) and takes no license files:
//! `apply_edition` accepts the host's editions and refuses others with
//! INVALID_EDITION; `license_add` refuses any file with
//! LICENSE_PROCESSING_ERROR (a body that is not base64 is refused the
//! same way, as xapi does first); `license_remove` leaves the free edition.

use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use std::collections::HashMap;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("host.apply_edition", Handler::Sync(apply_edition));
    t.insert("pool.apply_edition", Handler::Sync(pool_apply_edition));
    t.insert("host.license_add", Handler::Sync(license_add));
    t.insert("host.license_remove", Handler::Sync(license_remove));
}

/// Sets `host.edition` to one of the host's editions.
fn set_edition(db: &mut Db, host: &str, edition: &str) -> ApiResult<()> {
    db.expect_is(host, "host")?;
    let known =
        db.field(host, "editions").and_then(Value::as_array).unwrap_or(&[]).iter().any(|e| e.as_str() == Some(edition));
    if !known {
        return Err(Failure::new("INVALID_EDITION", [edition]));
    }
    db.set_named(host, "edition", Value::str(edition));
    Ok(())
}

fn apply_edition(call: &Call, db: &mut Db) -> ApiResult<Value> {
    set_edition(db, call.str(0), call.str(1))?;
    Ok(Value::str(""))
}

/// Every host of the pool, each checked before any changes.
fn pool_apply_edition(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect(db.cls("pool"), call.str(0))?;
    let c = db.cls("host");
    let hosts: Vec<String> = db.iter(c).map(|(r, _)| r.clone()).collect();
    for h in &hosts {
        let known = db
            .field(h, "editions")
            .and_then(Value::as_array)
            .unwrap_or(&[])
            .iter()
            .any(|e| e.as_str() == Some(call.str(1)));
        if !known {
            return Err(Failure::new("INVALID_EDITION", [call.str(1)]));
        }
    }
    for h in &hosts {
        set_edition(db, h, call.str(1))?;
    }
    Ok(Value::str(""))
}

fn license_add(call: &Call, db: &mut Db) -> ApiResult<Value> {
    use base64::Engine;
    db.expect_is(call.str(0), "host")?;
    // Decoded or not, no file is a license this edition's daemon takes.
    let _ = base64::engine::general_purpose::STANDARD.decode(call.str(1));
    Err(Failure::new::<&str>("LICENSE_PROCESSING_ERROR", []))
}

fn license_remove(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect_is(call.str(0), "host")?;
    Ok(Value::str(""))
}
