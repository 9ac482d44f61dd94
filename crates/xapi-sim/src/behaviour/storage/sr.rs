//! `SR.*`: create (the driver checks device_config, PBDs on the right hosts,
//! plugged), introduce/forget (records only: the disks stay on storage and
//! a later scan finds them again), destroy, scan, probe and the setters
//! with rules.

use super::driver::{self, StoredSr};
use super::pbd;
use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::record::Rec;
use crate::rules::sm;
use crate::rules::storage::{
    assert_sr_plugged, refresh_sr_ops, refresh_sr_usage, refresh_vdi_ops, sr_allows, sr_attached,
};
use crate::values::{pairs, smap, sset};
use std::collections::HashMap;
use xenapi::{Value, NULL_REF};

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("SR.create", Handler::Sync(create));
    t.insert("SR.introduce", Handler::Sync(introduce));
    t.insert("SR.make", Handler::Sync(|_, _| Err(Failure::new::<&str>("MESSAGE_DEPRECATED", []))));
    t.insert("SR.forget", Handler::Sync(forget));
    t.insert("SR.destroy", Handler::Sync(destroy));
    t.insert("SR.scan", Handler::Sync(scan));
    t.insert("SR.update", Handler::Sync(update));
    t.insert("SR.probe", Handler::Sync(probe));
    t.insert("SR.probe_ext", Handler::Sync(probe_ext));
    t.insert("SR.get_supported_types", Handler::Sync(|_, db| Ok(sset(&driver::supported_types(db)))));
    t.insert("SR.set_shared", Handler::Sync(set_shared));
}

/// The driver type named by a call, checked against the pool's SM drivers.
fn driver(db: &Db, ty: &str) -> ApiResult<String> {
    let ty = ty.to_ascii_lowercase();
    if driver::supported_types(db).contains(&ty) {
        Ok(ty)
    } else {
        Err(Failure::new("SR_UNKNOWN_DRIVER", [ty]))
    }
}

/// Creates the SR record as `SR.introduce` does: no PBDs, sizes unknown.
#[allow(clippy::too_many_arguments)]
fn new_record(
    db: &mut Db,
    uuid: &str,
    label: &str,
    description: &str,
    ty: &str,
    content_type: &str,
    shared: bool,
    sm_config: Value,
) -> ApiResult<String> {
    let c = db.cls("SR");
    let uuid = if uuid.is_empty() { db.new_uuid() } else { uuid.to_string() };
    if db.by_uuid(c, &uuid).is_some() {
        return Err(Failure::new("SR_UUID_EXISTS", [uuid]));
    }
    let mut rec = Rec::blank(db, c);
    rec.set("uuid", Value::str(&uuid))
        .set("name_label", Value::str(label))
        .set("name_description", Value::str(description))
        .set("type", Value::str(ty))
        .set("content_type", Value::str(content_type))
        .set("shared", Value::Bool(shared))
        .set("sm_config", sm_config)
        .set("other_config", Value::Struct(Vec::new()))
        .set("physical_size", Value::Int(-1))
        .set("physical_utilisation", Value::Int(-1))
        .set("virtual_allocation", Value::Int(0));
    let sr = rec.insert(db);
    refresh_sr_ops(db, &sr);
    Ok(sr)
}

fn create(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0);
    db.expect_is(host, "host")?;
    let dc = pairs(&call.args[1]);
    let ty = driver(db, call.str(5))?;
    let shared = call.bool(7);
    pbd::assert_no_srmaster(&dc)?;
    driver::check_device_config(&ty, &dc)?;
    let dc = crate::rules::secrets::move_passwords(db, dc);
    let kind = sm::kind(&ty);
    let given = call.args[2].as_int().unwrap_or(0);
    let size = if given > 0 { given } else { kind.default_size };
    let mut sm_config = pairs(&call.args[8]);
    if kind.alloc == sm::Alloc::Lvhd {
        if !sm_config.iter().any(|(k, _)| k == "allocation") {
            let a = dc.iter().find(|(k, _)| k == "allocation").map_or("thick", |(_, v)| v.as_str());
            sm_config.push(("allocation".into(), a.to_string()));
        }
        sm_config.push(("use_vhd".into(), "true".into()));
    }
    let sr = new_record(db, "", call.str(3), call.str(4), &ty, call.str(6), shared, smap(&sm_config))?;
    db.set_named(&sr, "physical_size", Value::Int(size));
    db.set_named(&sr, "physical_utilisation", Value::Int(0));
    let hosts = if shared { db.all("host") } else { vec![host.to_string()] };
    for h in hosts {
        let own = crate::rules::secrets::duplicate(db, dc.clone())?;
        let p = pbd::make(db, &sr, &h, &own, Value::Struct(Vec::new()));
        db.set_named(&p, "currently_attached", Value::Bool(true));
    }
    refresh_sr_ops(db, &sr);
    Ok(Value::String(sr))
}

fn introduce(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let ty = call.str(3).to_ascii_lowercase();
    let sr =
        new_record(db, call.str(0), call.str(1), call.str(2), &ty, call.str(4), call.bool(5), call.args[6].clone())?;
    Ok(Value::String(sr))
}

/// xapi's check_no_pbds_attached.
fn assert_no_plugged_pbds(db: &Db, sr: &str) -> ApiResult<()> {
    if sr_attached(db, sr) {
        return Err(Failure::new("SR_HAS_PBD", [sr]));
    }
    Ok(())
}

/// Removes an SR's PBDs, VDIs and record.
fn drop_sr(db: &mut Db, sr: &str) {
    for p in db.strings(sr, "PBDs") {
        db.destroy(&p);
    }
    for v in db.strings(sr, "VDIs") {
        db.destroy(&v);
    }
    db.destroy(sr);
}

fn forget(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let sr = call.str(0);
    db.expect_is(sr, "SR")?;
    assert_no_plugged_pbds(db, sr)?;
    // The storage keeps the SR and its disks: a probe finds it, and after
    // SR.introduce + PBD.create + PBD.plug a scan finds the disks again.
    let uuid = db.string(sr, "uuid");
    let stored = StoredSr {
        ty: db.string(sr, "type"),
        name_label: db.string(sr, "name_label"),
        name_description: db.string(sr, "name_description"),
        device_config: driver::sr_device_config(db, sr),
        physical_size: db.int(sr, "physical_size"),
        vdis: db.strings(sr, "VDIs").iter().filter_map(|v| driver::stored_vdi(db, v)).collect(),
    };
    driver::with_store(&call.core, |store| {
        let e = store.entry(uuid).or_default();
        let mut vdis = std::mem::take(&mut e.vdis);
        vdis.extend(stored.vdis.iter().cloned());
        *e = StoredSr { vdis, ..stored };
    });
    drop_sr(db, sr);
    Ok(Value::str(""))
}

fn destroy(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let sr = call.str(0);
    db.expect_is(sr, "SR")?;
    assert_no_plugged_pbds(db, sr)?;
    if db.strings(sr, "PBDs").is_empty() {
        return Err(Failure::new("SR_HAS_NO_PBDS", [sr]));
    }
    if db.strings(sr, "VDIs").iter().any(|v| db.bool(v, "managed") && db.field_str(v, "type") != "rrd") {
        return Err(Failure::new::<&str>("SR_NOT_EMPTY", []));
    }
    if db.map_get(sr, "other_config", "indestructible").as_deref() == Some("true") {
        return Err(Failure::new("SR_INDESTRUCTIBLE", [sr]));
    }
    let uuid = db.string(sr, "uuid");
    driver::with_store(&call.core, |store| store.remove(&uuid));
    for v in db.strings(sr, "VDIs") {
        call.core.disks.forget(db.field_str(&v, "uuid"));
    }
    drop_sr(db, sr);
    Ok(Value::str(""))
}

fn scan(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let sr = call.str(0);
    db.expect_is(sr, "SR")?;
    sr_allows(db, sr, "scan")?;
    assert_sr_plugged(db, sr)?;
    let uuid = db.string(sr, "uuid");
    let stored = driver::with_store(&call.core, |store| store.remove(&uuid));
    if db.int(sr, "physical_size") < 0 {
        let size = match &stored {
            Some(st) if st.physical_size >= 0 => st.physical_size,
            _ => sm::kind(db.field_str(sr, "type")).default_size,
        };
        db.set_named(sr, "physical_size", Value::Int(size));
    }
    if let Some(st) = stored {
        rediscover(db, sr, st);
    }
    refresh_sr_usage(db, sr);
    db.map_put(sr, "other_config", "dirty", None);
    Ok(Value::str(""))
}

/// Re-creates the records of disks found on the SR's storage.
fn rediscover(db: &mut Db, sr: &str, st: StoredSr) {
    let c = db.cls("VDI");
    let mut created = Vec::new();
    for v in st.vdis {
        let mut rec = Rec { class: db.class(c), idx: c, fields: v.fields };
        let uuid = rec.str("uuid").to_string();
        let location = rec.str("location").to_string();
        let taken = db.by_uuid(c, &uuid).is_some()
            || db.strings(sr, "VDIs").iter().any(|x| db.field_str(x, "location") == location);
        if taken {
            continue;
        }
        let sm_config = strip_host_keys(rec.get("sm_config"));
        rec.set("SR", Value::str(sr))
            .set("VBDs", Value::Array(Vec::new()))
            .set("crash_dumps", Value::Array(Vec::new()))
            .set("snapshots", Value::Array(Vec::new()))
            .set("snapshot_of", Value::str(NULL_REF))
            .set("current_operations", Value::Struct(Vec::new()))
            .set("sm_config", sm_config);
        let r = rec.insert(db);
        created.push((r, v.snapshot_of));
    }
    for (r, of) in created {
        if let Some(orig) = db.by_uuid(c, &of).map(str::to_string) {
            db.set_named(&r, "snapshot_of", Value::String(orig));
        }
        refresh_vdi_ops(db, &r);
    }
}

/// sm_config without the attachment marks (`host_<ref>`) of a past life.
fn strip_host_keys(v: &Value) -> Value {
    Value::Struct(v.as_struct().unwrap_or(&[]).iter().filter(|(k, _)| !k.starts_with("host_")).cloned().collect())
}

fn update(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let sr = call.str(0);
    db.expect_is(sr, "SR")?;
    assert_sr_plugged(db, sr)?;
    Ok(Value::str(""))
}

fn probe(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect_is(call.str(0), "host")?;
    let ty = driver(db, call.str(2))?;
    let dc = crate::rules::secrets::move_passwords(db, pairs(&call.args[1]));
    driver::probe(&call.core, db, &ty, &dc).and_then(driver::probe_xml).map(Value::String)
}

fn probe_ext(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect_is(call.str(0), "host")?;
    let ty = driver(db, call.str(2))?;
    let dc = crate::rules::secrets::move_passwords(db, pairs(&call.args[1]));
    driver::probe(&call.core, db, &ty, &dc).map(|p| driver::probe_records(p, &dc))
}

fn set_shared(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let sr = call.str(0);
    db.expect_is(sr, "SR")?;
    let value = call.bool(1);
    let pbds = db.strings(sr, "PBDs");
    if !value && pbds.len() > 1 {
        return Err(Failure::new("SR_HAS_MULTIPLE_PBDS", pbds));
    }
    db.set_named(sr, "shared", Value::Bool(value));
    Ok(Value::str(""))
}
