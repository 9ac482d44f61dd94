//! `PBD.*`: one host's connection to an SR. Plugging runs the driver's
//! device_config checks; unplugging is refused while the host's running VMs
//! use disks of the SR.

use super::driver;
use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::record::{parse_record, Rec};
use crate::rules::secrets;
use crate::rules::storage::refresh_sr_ops;
use crate::values::{pairs, smap};
use std::collections::HashMap;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("PBD.create", Handler::Sync(create));
    t.insert("PBD.destroy", Handler::Sync(destroy));
    t.insert("PBD.plug", Handler::Sync(plug));
    t.insert("PBD.unplug", Handler::Sync(unplug));
    t.insert("PBD.set_device_config", Handler::Sync(set_device_config));
}

/// The `SRmaster` key is the pool's to set, never a client's.
pub(super) fn assert_no_srmaster(dc: &[(String, String)]) -> ApiResult<()> {
    match dc.iter().find(|(k, _)| k == "SRmaster") {
        Some((k, v)) => {
            Err(Failure::new("VALUE_NOT_SUPPORTED", [k.as_str(), v.as_str(), "This key is for internal use only"]))
        }
        None => Ok(()),
    }
}

/// Creates an unplugged PBD record.
pub(super) fn make(db: &mut Db, sr: &str, host: &str, dc: &[(String, String)], other_config: Value) -> String {
    let mut rec = Rec::blank(db, db.cls("PBD"));
    rec.set("SR", Value::str(sr))
        .set("host", Value::str(host))
        .set("device_config", smap(dc))
        .set("currently_attached", Value::Bool(false))
        .set("other_config", other_config);
    rec.insert(db)
}

fn create(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let rec = parse_record(db, db.cls("PBD"), &call.args[0])?;
    let (sr, host) = (rec.str("SR").to_string(), rec.str("host").to_string());
    db.expect_is(&host, "host")?;
    db.expect_is(&sr, "SR")?;
    if let Some(p) = db.strings(&sr, "PBDs").into_iter().find(|p| db.field_str(p, "host") == host) {
        return Err(Failure::new("PBD_EXISTS", [sr, host, p]));
    }
    let dc = pairs(rec.get("device_config"));
    assert_no_srmaster(&dc)?;
    let dc = secrets::move_passwords(db, dc);
    let dc = secrets::duplicate(db, dc)?;
    let p = make(db, &sr, &host, &dc, rec.get("other_config").clone());
    refresh_sr_ops(db, &sr);
    Ok(Value::String(p))
}

fn destroy(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let p = call.str(0);
    db.expect_is(p, "PBD")?;
    if db.bool(p, "currently_attached") {
        return Err(Failure::new("OPERATION_NOT_ALLOWED", ["PBD is currently attached"]));
    }
    let sr = db.string(p, "SR");
    let dc = db.field(p, "device_config").map(pairs).unwrap_or_default();
    db.destroy(p);
    secrets::clean_out(db, &dc);
    if db.is(&sr, "SR") {
        refresh_sr_ops(db, &sr);
    }
    Ok(Value::str(""))
}

fn plug(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let p = call.str(0);
    db.expect_is(p, "PBD")?;
    if db.bool(p, "currently_attached") {
        return Ok(Value::str(""));
    }
    let sr = db.string(p, "SR");
    db.expect_is(&sr, "SR")?;
    let host = db.string(p, "host");
    if !db.bool(&sr, "shared") {
        let elsewhere = db
            .strings(&sr, "PBDs")
            .into_iter()
            .find(|o| db.bool(o, "currently_attached") && db.field_str(o, "host") != host);
        if let Some(o) = elsewhere {
            return Err(Failure::new("SR_NOT_SHARABLE", [sr, db.string(&o, "host")]));
        }
    }
    let dc = db.field(p, "device_config").map(pairs).unwrap_or_default();
    driver::check_device_config(db.field_str(&sr, "type"), &dc)?;
    db.set_named(p, "currently_attached", Value::Bool(true));
    refresh_sr_ops(db, &sr);
    Ok(Value::str(""))
}

/// Disks of the PBD's SR in use by VMs running on the PBD's host.
fn active_vdis(db: &Db, p: &str) -> Vec<String> {
    let sr = db.field_str(p, "SR");
    let host = db.field_str(p, "host");
    let mut out = Vec::new();
    for vm in db.strings(host, "resident_VMs") {
        for vbd in db.strings(&vm, "VBDs") {
            if !db.bool(&vbd, "currently_attached") || db.bool(&vbd, "empty") {
                continue;
            }
            let vdi = db.string(&vbd, "VDI");
            if db.field_str(&vdi, "SR") == sr && db.field_str(&vdi, "type") != "metadata" && !out.contains(&vdi) {
                out.push(vdi);
            }
        }
    }
    out
}

fn unplug(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let p = call.str(0);
    db.expect_is(p, "PBD")?;
    if !db.bool(p, "currently_attached") {
        return Ok(Value::str(""));
    }
    let in_use = active_vdis(db, p);
    if !in_use.is_empty() {
        return Err(Failure::new("VDI_IN_USE", in_use));
    }
    db.set_named(p, "currently_attached", Value::Bool(false));
    let sr = db.string(p, "SR");
    if db.is(&sr, "SR") {
        refresh_sr_ops(db, &sr);
    }
    Ok(Value::str(""))
}

fn set_device_config(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let p = call.str(0);
    db.expect_is(p, "PBD")?;
    let dc = pairs(&call.args[1]);
    assert_no_srmaster(&dc)?;
    let dc = secrets::move_passwords(db, dc);
    db.set_named(p, "device_config", smap(&dc));
    Ok(Value::str(""))
}
