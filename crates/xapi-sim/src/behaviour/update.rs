//! `pool_update.*` and the legacy `pool_patch.*` that xapi maps onto it.
//!
//! An update is introduced from a VDI whose first bytes are a simulated
//! update file ([`crate::update_file`]; `xe update-upload` puts one there
//! through `/import_raw_vdi`). Introducing it also makes its `pool_patch`
//! (uuid with bytes 4 to 7 zeroed, as xapi). The precheck and apply that
//! xapi's host extension runs are simulated from the file's declarations:
//! UPDATE_ALREADY_APPLIED, then the server version, prerequisites,
//! conflicts, the space on the host ([`UPDATE_SPACE`], three times the
//! installation size needed, as xapi asks) and a declared failure. Applying
//! records the update in `host.updates` and `pool_update.hosts`, a
//! `host_patch` for the legacy patch, and, for `restartHost` guidance, in
//! `host.updates_requiring_reboot`, which the host's next boot clears.

use crate::call::{BoxFuture, Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::update_file::{self, UpdateInfo};
use crate::values::{empty_map, null, sset};
use std::collections::HashMap;
use xenapi::Value;

/// Bytes free for updates on every simulated host (dom0's disk).
pub const UPDATE_SPACE: i64 = 4 * 1024 * 1024 * 1024;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("pool_update.introduce", Handler::Sync(introduce));
    t.insert("pool_update.precheck", Handler::Sync(precheck));
    t.insert("pool_update.apply", Handler::Sync(apply));
    t.insert("pool_update.pool_apply", Handler::Sync(pool_apply));
    t.insert("pool_update.pool_clean", Handler::Async(pool_clean));
    t.insert("pool_update.destroy", Handler::Sync(destroy));
    t.insert("pool_update.resync_host", Handler::Sync(resync_host));
    t.insert("pool_patch.precheck", Handler::Sync(patch_precheck));
    t.insert("pool_patch.apply", Handler::Sync(patch_apply));
    t.insert("pool_patch.pool_apply", Handler::Sync(patch_pool_apply));
    t.insert("pool_patch.clean", Handler::Sync(patch_noop));
    t.insert("pool_patch.clean_on_host", Handler::Sync(patch_clean_on_host));
    t.insert("pool_patch.pool_clean", Handler::Async(patch_pool_clean));
    t.insert("pool_patch.destroy", Handler::Sync(patch_destroy));
}

fn void() -> Value {
    Value::str("")
}

fn read_info(call: &Call, db: &Db, vdi: &str) -> ApiResult<UpdateInfo> {
    let uuid = db.string(vdi, "uuid");
    let size = usize::try_from(db.int(vdi, "virtual_size").max(0)).unwrap_or(usize::MAX).min(update_file::HEAD);
    let head = call.core.disks.read_at(&uuid, 0, size).map_err(|e| Failure::new("INTERNAL_ERROR", [e.to_string()]))?;
    update_file::parse(&head).map_err(|info| Failure::new("INVALID_UPDATE", [info]))
}

/// `introduce(vdi)`: reads the update file; an update already known by its
/// uuid takes this VDI if it has lost its own (after `pool_clean`), is
/// returned again for the same VDI, and is UPDATE_ALREADY_EXISTS otherwise.
fn introduce(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vdi = call.str(0);
    db.expect_is(vdi, "VDI")?;
    if db.field_str(vdi, "type") == "cbt_metadata" {
        return Err(Failure::new("VDI_INCOMPATIBLE_TYPE", [vdi, "cbt_metadata"]));
    }
    let info = read_info(call, db, vdi)?;
    let c = db.cls("pool_update");
    if let Some(existing) = db.by_uuid(c, &info.uuid).map(str::to_string) {
        let own = db.string(&existing, "vdi");
        if !db.is(&own, "VDI") {
            db.set_named(&existing, "vdi", Value::str(vdi));
            return Ok(Value::String(existing));
        }
        if own != vdi {
            return Err(Failure::new("UPDATE_ALREADY_EXISTS", [info.uuid.as_str()]));
        }
        return Ok(Value::String(existing));
    }
    let update = db.create(
        c,
        vec![
            ("uuid", Value::str(&info.uuid)),
            ("name_label", Value::str(&info.name_label)),
            ("name_description", Value::str(&info.name_description)),
            ("version", Value::str(&info.version)),
            ("installation_size", Value::Int(info.installation_size)),
            ("key", Value::str(&info.key)),
            ("after_apply_guidance", sset(&info.after_apply_guidance)),
            ("vdi", Value::str(vdi)),
            ("hosts", sset::<&str>(&[])),
            ("other_config", empty_map()),
            ("enforce_homogeneity", Value::Bool(info.enforce_homogeneity)),
        ],
    );
    let patch_class = db.cls("pool_patch");
    db.create(
        patch_class,
        vec![
            ("uuid", Value::String(update_file::patch_uuid(&info.uuid))),
            ("name_label", Value::str(&info.name_label)),
            ("name_description", Value::str(&info.name_description)),
            ("version", Value::str(&info.version)),
            ("size", Value::Int(info.installation_size)),
            ("pool_applied", Value::Bool(false)),
            ("after_apply_guidance", sset(&info.after_apply_guidance)),
            ("pool_update", Value::str(&update)),
            ("other_config", empty_map()),
        ],
    );
    Ok(Value::String(update))
}

/// The update file behind an update, for its precheck: CANNOT_FIND_UPDATE
/// once `pool_clean` has removed its VDI.
fn info_of(call: &Call, db: &Db, update: &str) -> ApiResult<UpdateInfo> {
    let vdi = db.string(update, "vdi");
    if !db.is(&vdi, "VDI") {
        return Err(Failure::new("CANNOT_FIND_UPDATE", [db.string(update, "uuid")]));
    }
    read_info(call, db, &vdi)
}

/// The simulated host extension's precheck; its answer is the livepatch status.
fn check(call: &Call, db: &Db, update: &str, host: &str) -> ApiResult<&'static str> {
    db.expect_is(update, "pool_update")?;
    db.expect_is(host, "host")?;
    crate::rules::host::assert_live(db, host)?;
    let uuid = db.string(update, "uuid");
    let applied = |u: &str| db.strings(host, "updates").iter().any(|r| db.field_str(r, "uuid") == u);
    if applied(&uuid) {
        return Err(Failure::new("UPDATE_ALREADY_APPLIED", [uuid.as_str()]));
    }
    let info = info_of(call, db, update)?;
    if let Some(required) = &info.requires_version {
        let installed = db.map_get(host, "software_version", "product_version").unwrap_or_default();
        if &installed != required {
            return Err(Failure::new("UPDATE_PRECHECK_FAILED_WRONG_SERVER_VERSION", [&uuid, &installed, required]));
        }
    }
    let missing: Vec<&str> = info.prerequisites.iter().map(String::as_str).filter(|p| !applied(p)).collect();
    if !missing.is_empty() {
        return Err(Failure::new("UPDATE_PRECHECK_FAILED_PREREQUISITE_MISSING", [uuid.clone(), missing.join(",")]));
    }
    let present: Vec<&str> = info.conflicts.iter().map(String::as_str).filter(|p| applied(p)).collect();
    if !present.is_empty() {
        return Err(Failure::new("UPDATE_PRECHECK_FAILED_CONFLICT_PRESENT", [uuid.clone(), present.join(",")]));
    }
    let required = info.installation_size.saturating_mul(3);
    if required > UPDATE_SPACE {
        return Err(Failure::new(
            "UPDATE_PRECHECK_FAILED_OUT_OF_SPACE",
            [uuid.clone(), UPDATE_SPACE.to_string(), required.to_string()],
        ));
    }
    if let Some(why) = &info.precheck_failure {
        return Err(Failure::new("UPDATE_PRECHECK_FAILED_UNKNOWN_ERROR", [&uuid, why]));
    }
    Ok(match info.livepatch.as_deref() {
        Some("complete") => "ok_livepatch_complete",
        Some("incomplete") => "ok_livepatch_incomplete",
        _ => "ok",
    })
}

fn precheck(call: &Call, db: &mut Db) -> ApiResult<Value> {
    check(call, db, call.str(0), call.str(1)).map(Value::str)
}

fn add_ref(db: &mut Db, r: &str, field: &str, item: &str) {
    let mut v = db.strings(r, field);
    if !v.iter().any(|x| x == item) {
        v.push(item.to_string());
        db.set_named(r, field, sset(&v));
    }
}

fn remove_ref(db: &mut Db, r: &str, field: &str, item: &str) {
    let mut v = db.strings(r, field);
    let before = v.len();
    v.retain(|x| x != item);
    if v.len() != before {
        db.set_named(r, field, sset(&v));
    }
}

/// The legacy patch of an update.
fn patch_of(db: &Db, update: &str) -> Option<String> {
    db.all("pool_patch").into_iter().find(|p| db.field_str(p, "pool_update") == update)
}

/// Prechecks, then records the update as applied on the host.
fn apply_on(call: &Call, db: &mut Db, update: &str, host: &str) -> ApiResult<()> {
    check(call, db, update, host)?;
    add_ref(db, host, "updates", update);
    add_ref(db, update, "hosts", host);
    if db.strings(update, "after_apply_guidance").iter().any(|g| g == "restartHost") {
        add_ref(db, host, "updates_requiring_reboot", update);
    }
    if let Some(patch) = patch_of(db, update) {
        let c = db.cls("host_patch");
        let now = db.now();
        db.create(
            c,
            vec![
                ("host", Value::str(host)),
                ("pool_patch", Value::str(&patch)),
                ("applied", Value::Bool(true)),
                ("timestamp_applied", now),
                ("other_config", empty_map()),
            ],
        );
    }
    Ok(())
}

fn apply(call: &Call, db: &mut Db) -> ApiResult<Value> {
    apply_on(call, db, call.str(0), call.str(1))?;
    Ok(void())
}

/// Every host that lacks the update, in turn; the hosts that failed are
/// UPDATE_POOL_APPLY_FAILED (last first, as xapi collects them).
fn pool_apply(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let update = call.str(0);
    db.expect_is(update, "pool_update")?;
    let done = db.strings(update, "hosts");
    let mut todo: Vec<String> = db.all("host").into_iter().filter(|h| !done.contains(h)).collect();
    if todo.is_empty() {
        return Err(Failure::new("UPDATE_ALREADY_APPLIED_IN_POOL", [update]));
    }
    todo.sort();
    let mut failed = Vec::new();
    for h in &todo {
        if apply_on(call, db, update, h).is_err() {
            failed.insert(0, h.clone());
        }
    }
    if !failed.is_empty() {
        return Err(Failure::new("UPDATE_POOL_APPLY_FAILED", failed));
    }
    Ok(void())
}

/// Removes the update's VDI (by `VDI.destroy`, as xapi) and forgets it;
/// an update already cleaned is left alone.
fn clean(call: Call, update: String) -> BoxFuture {
    Box::pin(async move {
        let vdi = {
            let db = call.core.db.read();
            db.expect_is(&update, "pool_update")?;
            db.string(&update, "vdi")
        };
        let live = call.core.db.read().is(&vdi, "VDI");
        if live {
            call.api("VDI.destroy", vec![Value::str(&vdi)]).await?;
        }
        call.core.write(|db| {
            if db.is(&update, "pool_update") {
                db.set_named(&update, "vdi", null());
            }
            Ok(())
        })?;
        Ok(void())
    })
}

fn pool_clean(call: Call) -> BoxFuture {
    let update = call.str(0).to_string();
    clean(call, update)
}

/// Only an update applied nowhere (UPDATE_IS_APPLIED): it goes with its
/// patch, and out of every host's `updates_requiring_reboot`.
fn destroy_update(db: &mut Db, update: &str) -> ApiResult<()> {
    db.expect_is(update, "pool_update")?;
    if !db.strings(update, "hosts").is_empty() {
        return Err(Failure::new::<&str>("UPDATE_IS_APPLIED", []));
    }
    if let Some(p) = patch_of(db, update) {
        db.destroy(&p);
    }
    db.destroy(update);
    for h in db.all("host") {
        remove_ref(db, &h, "updates_requiring_reboot", update);
        remove_ref(db, &h, "updates", update);
    }
    Ok(())
}

fn destroy(call: &Call, db: &mut Db) -> ApiResult<Value> {
    destroy_update(db, call.str(0))?;
    Ok(void())
}

// --- pool_patch: forwarded to the update, as xapi_pool_patch.ml does ---------

fn update_of(db: &Db, patch: &str) -> ApiResult<String> {
    db.expect_is(patch, "pool_patch")?;
    Ok(db.string(patch, "pool_update"))
}

fn patch_precheck(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let update = update_of(db, call.str(0))?;
    check(call, db, &update, call.str(1))?;
    Ok(void())
}

fn patch_apply(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let update = update_of(db, call.str(0))?;
    apply_on(call, db, &update, call.str(1))?;
    Ok(void())
}

/// Every host, in turn, stopping at the first failure; then `pool_applied`.
fn patch_pool_apply(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let patch = call.str(0);
    let update = update_of(db, patch)?;
    for h in db.all("host") {
        apply_on(call, db, &update, &h)?;
    }
    db.set_named(patch, "pool_applied", Value::Bool(true));
    Ok(void())
}

fn patch_noop(call: &Call, db: &mut Db) -> ApiResult<Value> {
    update_of(db, call.str(0))?;
    Ok(void())
}

fn patch_clean_on_host(call: &Call, db: &mut Db) -> ApiResult<Value> {
    update_of(db, call.str(0))?;
    db.expect_is(call.str(1), "host")?;
    Ok(void())
}

fn patch_pool_clean(call: Call) -> BoxFuture {
    let update = {
        let db = call.core.db.read();
        update_of(&db, call.str(0))
    };
    match update {
        Ok(u) => clean(call, u),
        Err(e) => Box::pin(async move { Err(e) }),
    }
}

fn patch_destroy(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let update = update_of(db, call.str(0))?;
    destroy_update(db, &update)?;
    Ok(void())
}

/// xapi rereads the updates a host has applied from its disk; a simulated
/// host's applied list is its `updates` field, so a resync keeps the
/// entries whose update still exists and drops the others.
fn resync_host(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0);
    db.expect_is(host, "host")?;
    let kept: Vec<String> = db.strings(host, "updates").into_iter().filter(|u| db.is(u, "pool_update")).collect();
    db.set_named(host, "updates", sset(&kept));
    Ok(Value::Nil)
}
