//! `VDI.*`: disks. Sizes follow the SR's driver (VHD blocks, LVM extents,
//! thick or thin); snapshots and clones build VHD chains with hidden
//! "base copy" parents (`sm_config:vhd-parent`), as the VHD drivers do;
//! copies take simulated time. The contents ([`crate::disks`]) follow:
//! snapshots, clones and copies share the source's blocks, destruction
//! frees a disk's blocks once committed.

use super::driver;
use crate::call::{BoxFuture, Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::disks::Disks;
use crate::record::{parse_record, Rec};
use crate::rules::sm::{self, Alloc};
use crate::rules::storage::{
    active_vbds, assert_sr_plugged, ensure_space, refresh_sr_ops, refresh_sr_usage, refresh_vdi_ops, sr_allows,
};
use crate::values::{is_null, pairs, smap};
use std::collections::HashMap;
use xenapi::{Value, NULL_REF};

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("VDI.create", Handler::Sync(create));
    t.insert("VDI.destroy", Handler::Sync(destroy));
    t.insert("VDI.snapshot", Handler::Sync(|c, db| snapshot_or_clone(c, db, false)));
    t.insert("VDI.clone", Handler::Sync(|c, db| snapshot_or_clone(c, db, true)));
    t.insert("VDI.copy", Handler::Async(copy));
    t.insert("VDI.resize", Handler::Sync(resize));
    t.insert("VDI.introduce", Handler::Sync(introduce));
    t.insert("VDI.forget", Handler::Sync(forget));
    t.insert("VDI.update", Handler::Sync(update));
    t.insert("VDI.enable_cbt", Handler::Sync(|c, db| set_cbt(c, db, true)));
    t.insert("VDI.disable_cbt", Handler::Sync(|c, db| set_cbt(c, db, false)));
    t.insert("VDI.set_on_boot", Handler::Sync(set_on_boot));
}

/// Types a VDI may not be copied as.
const UNCOPYABLE: &[&str] = &["ha_statefile", "redo_log"];
/// Bytes per second a simulated copy moves.
const COPY_RATE: f64 = (1u64 << 30) as f64;

/// xapi's VDI operation checks (check_operation_error) plus the SR's
/// support for the operation.
fn check(db: &Db, vdi: &str, op: &str) -> ApiResult<()> {
    // Any operation in progress on the disk excludes all others.
    if let Some((task, current)) =
        db.field(vdi, "current_operations").and_then(Value::as_struct).and_then(|m| m.first())
    {
        let current = current.as_str().unwrap_or("");
        return Err(Failure::new("OTHER_OPERATION_IN_PROGRESS", ["VDI", vdi, current, task.as_str()]));
    }
    let sr = db.string(vdi, "SR");
    let sr_op = match op {
        "destroy" => Some("vdi_destroy"),
        "resize" => Some("vdi_resize"),
        "snapshot" => Some("vdi_snapshot"),
        "clone" => Some("vdi_clone"),
        _ => None,
    };
    if let Some(sr_op) = sr_op {
        sr_allows(db, &sr, sr_op)?;
    }
    if op == "resize" && !crate::rules::storage::sr_attached(db, &sr) {
        return Err(Failure::new("SR_HAS_NO_PBDS", [sr]));
    }
    let blocked_by_attach = matches!(op, "destroy" | "resize" | "data_destroy" | "set_on_boot");
    let online_resize = op == "resize" && driver::has_feature(db, db.field_str(&sr, "type"), "VDI_RESIZE_ONLINE");
    if blocked_by_attach && !online_resize && !active_vbds(db, vdi).is_empty() {
        return Err(Failure::new("VDI_IN_USE", [vdi, op]));
    }
    match op {
        "destroy" if db.field_str(&sr, "type") == "udev" => Err(Failure::new("VDI_IS_A_PHYSICAL_DEVICE", [vdi])),
        "destroy" if db.bool(&sr, "is_tools_sr") => Err(Failure::new("SR_OPERATION_NOT_SUPPORTED", [sr])),
        "snapshot" if db.bool(vdi, "sharable") => Err(Failure::new("VDI_IS_SHARABLE", [vdi])),
        "snapshot" if db.field_str(vdi, "on_boot") == "reset" => {
            Err(Failure::new::<&str>("VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION", []))
        }
        "copy" if UNCOPYABLE.contains(&db.field_str(vdi, "type")) => Err(Failure::new(
            "OPERATION_NOT_ALLOWED",
            ["VDI containing HA statefile or redo log cannot be copied (check the VDI's allowed operations)."],
        )),
        _ => Ok(()),
    }
}

fn assert_managed(db: &Db, vdi: &str) -> ApiResult<()> {
    if db.bool(vdi, "managed") {
        Ok(())
    } else {
        Err(Failure::new("VDI_NOT_MANAGED", [vdi]))
    }
}

/// sm_config of a new VHD leaf (or base) with the given parent.
fn vhd_sm_config(alloc: Alloc, extra: &[(String, String)], parent: Option<&str>) -> Value {
    let mut m: Vec<(String, String)> =
        extra.iter().filter(|(k, _)| k != "vhd-parent" && !k.starts_with("host_")).cloned().collect();
    if matches!(alloc, Alloc::Lvhd | Alloc::VhdFile) && !m.iter().any(|(k, _)| k == "vdi_type") {
        m.push(("vdi_type".into(), "vhd".into()));
    }
    if let Some(p) = parent {
        m.push(("vhd-parent".into(), p.to_string()));
    }
    smap(&m)
}

/// A fresh VDI record on `sr` with the fields xapi fills in itself.
fn fresh(db: &mut Db, sr: &str, virt: i64, phys: i64) -> Rec {
    let mut rec = Rec::blank(db, db.cls("VDI"));
    let uuid = db.new_uuid();
    rec.set("uuid", Value::str(&uuid))
        .set("SR", Value::str(sr))
        .set("location", Value::str(&uuid))
        .set("virtual_size", Value::Int(virt))
        .set("physical_utilisation", Value::Int(phys))
        .set("managed", Value::Bool(true))
        .set("missing", Value::Bool(false))
        .set("storage_lock", Value::Bool(false))
        .set("parent", Value::str(NULL_REF))
        .set("other_config", Value::Struct(Vec::new()));
    rec
}

/// Stores a new VDI and brings its SR's figures up to date.
fn store(db: &mut Db, rec: Rec) -> String {
    let sr = rec.str("SR").to_string();
    let r = rec.insert(db);
    refresh_vdi_ops(db, &r);
    refresh_sr_usage(db, &sr);
    r
}

fn create(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let given = parse_record(db, db.cls("VDI"), &call.args[0])?;
    let sr = given.str("SR").to_string();
    db.expect_is(&sr, "SR")?;
    sr_allows(db, &sr, "vdi_create")?;
    assert_sr_plugged(db, &sr)?;
    let alloc = sm::alloc_of(db, &sr);
    sm::check_size(alloc, given.int("virtual_size"))?;
    let virt = sm::round_virtual(alloc, given.int("virtual_size"));
    let phys = sm::leaf_size(alloc, virt);
    ensure_space(db, &sr, phys)?;
    let mut rec = fresh(db, &sr, virt, phys);
    for f in
        ["name_label", "name_description", "type", "sharable", "read_only", "other_config", "xenstore_data", "tags"]
    {
        rec.set(f, given.get(f).clone());
    }
    rec.set("sm_config", vhd_sm_config(alloc, &pairs(given.get("sm_config")), None));
    if db.field_str(&sr, "type") == "iso" && !given.str("name_label").is_empty() {
        rec.set("location", Value::str(given.str("name_label")));
    }
    Ok(Value::String(store(db, rec)))
}

/// The hidden VHD parent of a disk, if it has one on its SR.
fn parent_of(db: &Db, vdi: &str) -> Option<String> {
    let p = db.map_get(vdi, "sm_config", "vhd-parent")?;
    let r = db.by_uuid(db.cls("VDI"), &p)?;
    (db.field_str(r, "SR") == db.field_str(vdi, "SR")).then(|| r.to_string())
}

/// Ancestors of a disk, nearest first.
fn ancestors(db: &Db, vdi: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = vdi.to_string();
    while let Some(p) = parent_of(db, &cur) {
        if out.contains(&p) || out.len() > sm::MAX_CHAIN * 2 {
            break;
        }
        out.push(p.clone());
        cur = p;
    }
    out
}

/// Data written to a disk, its chain included.
fn chain_data(db: &Db, vdi: &str) -> i64 {
    let own = db.int(vdi, "physical_utilisation");
    own + ancestors(db, vdi).iter().map(|a| db.int(a, "physical_utilisation")).sum::<i64>()
}

/// The storage garbage collector: hidden parents left without children go.
fn collect_orphans(db: &mut Db, disks: &Disks, mut parent: Option<String>) {
    while let Some(p) = parent.take() {
        if db.bool(&p, "managed") {
            return;
        }
        let uuid = db.string(&p, "uuid");
        let sr = db.string(&p, "SR");
        let children = db
            .strings(&sr, "VDIs")
            .iter()
            .any(|v| db.map_get(v, "sm_config", "vhd-parent").as_deref() == Some(uuid.as_str()));
        if children {
            return;
        }
        parent = parent_of(db, &p);
        disks.forget(&uuid);
        db.destroy(&p);
    }
}

fn destroy(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vdi = call.str(0);
    db.expect_is(vdi, "VDI")?;
    check(db, vdi, "destroy")?;
    let sr = db.string(vdi, "SR");
    assert_sr_plugged(db, &sr)?;
    assert_managed(db, vdi)?;
    let parent = parent_of(db, vdi);
    // xapi destroys the VDI's VBDs at once rather than leaving them to its GC.
    for vbd in db.strings(vdi, "VBDs") {
        db.destroy(&vbd);
    }
    call.core.disks.forget(db.field_str(vdi, "uuid"));
    db.destroy(vdi);
    collect_orphans(db, &call.core.disks, parent);
    refresh_sr_usage(db, &sr);
    refresh_sr_ops(db, &sr);
    Ok(Value::str(""))
}

fn snapshot_or_clone(call: &Call, db: &mut Db, clone: bool) -> ApiResult<Value> {
    snapshot_vdi(db, &call.core.disks, call.str(0), clone).map(Value::String)
}

/// A failure of the disk store (with `--state`: the files beside it).
fn store_failed(e: std::io::Error) -> Failure {
    Failure::new("INTERNAL_ERROR", [format!("disk store: {e}")])
}

/// `VDI.snapshot` (or `VDI.clone`) of one disk, with all of xapi's checks;
/// returns the new VDI, which shares the disk's blocks.
fn snapshot_vdi(db: &mut Db, disks: &Disks, vdi: &str, clone: bool) -> ApiResult<String> {
    db.expect_is(vdi, "VDI")?;
    check(db, vdi, if clone { "clone" } else { "snapshot" })?;
    let sr = db.string(vdi, "SR");
    assert_sr_plugged(db, &sr)?;
    assert_managed(db, vdi)?;
    let alloc = sm::alloc_of(db, &sr);
    let orig = Rec::of(db, vdi).expect("live VDI");
    let virt = orig.int("virtual_size");
    let sm_extra = pairs(orig.get("sm_config"));
    let mut new = match alloc {
        Alloc::Lvhd | Alloc::VhdFile => {
            if ancestors(db, vdi).len() + 1 >= sm::MAX_CHAIN {
                return Err(sm::backend(109, "The snapshot chain is too long", ""));
            }
            // The disk's data becomes a hidden, read-only base; the disk and
            // the new VDI are fresh leaves on top of it.
            let leaf = sm::leaf_size(alloc, virt);
            let new_leaf = if clone { leaf } else { sm::snapshot_leaf_size(alloc, virt) };
            ensure_space(db, &sr, leaf + new_leaf)?;
            let grandparent = db.map_get(vdi, "sm_config", "vhd-parent");
            let mut base = fresh(db, &sr, virt, orig.int("physical_utilisation"));
            base.set("name_label", Value::str("base copy"))
                .set("type", orig.get("type").clone())
                .set("read_only", Value::Bool(true))
                .set("managed", Value::Bool(false))
                .set("sm_config", vhd_sm_config(alloc, &sm_extra, grandparent.as_deref()));
            let base_uuid = base.str("uuid").to_string();
            // The hidden base holds the data the disk had.
            disks.duplicate(db.field_str(vdi, "uuid"), &base_uuid).map_err(store_failed)?;
            let base_ref = base.insert(db);
            db.set_named(&base_ref, "allowed_operations", Value::Array(Vec::new()));
            db.set_named(vdi, "physical_utilisation", Value::Int(leaf));
            let mut own = pairs(orig.get("sm_config"));
            own.retain(|(k, _)| k != "vhd-parent");
            own.push(("vhd-parent".into(), base_uuid.clone()));
            db.set_named(vdi, "sm_config", smap(&own));
            let mut new = fresh(db, &sr, virt, new_leaf);
            new.set("sm_config", vhd_sm_config(alloc, &sm_extra, Some(&base_uuid)));
            new
        }
        Alloc::Exact | Alloc::Nothing => {
            let phys = orig.int("physical_utilisation");
            ensure_space(db, &sr, phys)?;
            let mut new = fresh(db, &sr, virt, phys);
            new.set("sm_config", vhd_sm_config(alloc, &sm_extra, None));
            new
        }
    };
    // The metadata xapi copies across.
    for f in [
        "name_label",
        "name_description",
        "type",
        "sharable",
        "other_config",
        "xenstore_data",
        "on_boot",
        "allow_caching",
        "tags",
    ] {
        new.set(f, orig.get(f).clone());
    }
    if !clone {
        let now = db.now();
        new.set("is_a_snapshot", Value::Bool(true)).set("snapshot_of", Value::str(vdi)).set("snapshot_time", now);
    }
    disks.duplicate(db.field_str(vdi, "uuid"), new.str("uuid")).map_err(store_failed)?;
    Ok(store(db, new))
}

/// What a copy will do, decided under the lock before the data moves.
struct CopyPlan {
    src: String,
    dst: String,
    created: bool,
    seconds: f64,
}

/// Marks (or clears) an operation in progress on a VDI, as xapi does while
/// data moves: other operations fail with OTHER_OPERATION_IN_PROGRESS.
fn mark_busy(db: &mut Db, vdi: &str, task: &str, op: Option<&str>) {
    if !db.is(vdi, "VDI") {
        return;
    }
    match op {
        Some(op) => {
            db.set_named(vdi, "current_operations", Value::Struct(vec![(task.to_string(), Value::str(op))]));
            db.set_named(vdi, "allowed_operations", Value::Array(Vec::new()));
        }
        None => {
            db.set_named(vdi, "current_operations", Value::Struct(Vec::new()));
            refresh_vdi_ops(db, vdi);
        }
    }
}

fn copy(call: Call) -> BoxFuture {
    Box::pin(async move {
        let task = call.task.clone().unwrap_or_default();
        let plan = call.core.write(|db| {
            let plan = plan_copy(&call, db)?;
            mark_busy(db, &plan.src, &task, Some("copy"));
            mark_busy(db, &plan.dst, &task, Some("copy"));
            Ok(plan)
        })?;
        let mut moved = crate::tasks::work(&call, plan.seconds, 0.0, 1.0).await;
        if moved.is_ok() {
            moved = copy_data(&call, &plan);
        }
        call.core.write(|db| {
            mark_busy(db, &plan.src, &task, None);
            mark_busy(db, &plan.dst, &task, None);
            if let Err(e) = moved {
                if plan.created && db.is(&plan.dst, "VDI") {
                    let sr = db.string(&plan.dst, "SR");
                    call.core.disks.forget(db.field_str(&plan.dst, "uuid"));
                    db.destroy(&plan.dst);
                    refresh_sr_usage(db, &sr);
                }
                return Err(e);
            }
            if !db.is(&plan.dst, "VDI") {
                return Err(Failure::new("VDI_COPY_FAILED", ["the destination VDI disappeared during the copy"]));
            }
            Ok(Value::String(plan.dst.clone()))
        })
    })
}

/// Moves a copy's data: a new disk shares the source's blocks; an existing
/// one (`into`) gets the source's blocks, only those that differ from
/// `base` when one is given.
fn copy_data(call: &Call, plan: &CopyPlan) -> ApiResult<()> {
    let (src, dst, base, blocks) = {
        let db = call.core.db.read();
        if !db.is(&plan.src, "VDI") || !db.is(&plan.dst, "VDI") {
            return Ok(());
        }
        let base = call.str(2);
        let base = (!is_null(base) && db.is(base, "VDI")).then(|| db.string(base, "uuid"));
        let size = db.int(&plan.dst, "virtual_size").max(0) as u64;
        (db.string(&plan.src, "uuid"), db.string(&plan.dst, "uuid"), base, size.div_ceil(crate::disks::BLOCK as u64))
    };
    let disks = &call.core.disks;
    let done =
        if plan.created { disks.duplicate(&src, &dst) } else { disks.copy_onto(&src, &dst, base.as_deref(), blocks) };
    done.map_err(store_failed)
}

fn plan_copy(call: &Call, db: &mut Db) -> ApiResult<CopyPlan> {
    let (vdi, sr, base, into) = (call.str(0), call.str(1), call.str(2), call.str(3));
    db.expect_is(vdi, "VDI")?;
    assert_managed(db, vdi)?;
    check(db, vdi, "copy")?;
    assert_sr_plugged(db, db.field_str(vdi, "SR"))?;
    if !is_null(base) {
        db.expect_is(base, "VDI")?;
    }
    let virt = db.int(vdi, "virtual_size");
    let data = chain_data(db, vdi).min(virt.max(0));
    let seconds = (data as f64 / COPY_RATE).max(0.2);
    if !is_null(into) {
        db.expect_is(into, "VDI")?;
        if db.int(into, "virtual_size") < virt {
            return Err(Failure::new("VDI_TOO_SMALL", [into.to_string(), virt.to_string()]));
        }
        let dsr = db.string(into, "SR");
        assert_sr_plugged(db, &dsr)?;
        let alloc = sm::alloc_of(db, &dsr);
        let old = db.int(into, "physical_utilisation");
        let target = sm::copy_size(alloc, db.int(into, "virtual_size"), data).max(old);
        ensure_space(db, &dsr, target - old)?;
        db.set_named(into, "physical_utilisation", Value::Int(target));
        refresh_sr_usage(db, &dsr);
        return Ok(CopyPlan { src: vdi.to_string(), dst: into.to_string(), created: false, seconds });
    }
    db.expect_is(sr, "SR")?;
    sr_allows(db, sr, "vdi_create")?;
    assert_sr_plugged(db, sr)?;
    let alloc = sm::alloc_of(db, sr);
    sm::check_size(alloc, virt)?;
    let dvirt = sm::round_virtual(alloc, virt);
    let phys = sm::copy_size(alloc, dvirt, data);
    ensure_space(db, sr, phys)?;
    let src = Rec::of(db, vdi).expect("live VDI");
    let mut rec = fresh(db, sr, dvirt, phys);
    for f in ["name_label", "name_description", "type", "sharable", "other_config", "xenstore_data", "on_boot", "tags"]
    {
        rec.set(f, src.get(f).clone());
    }
    // xapi always makes the copy writable, whatever the source.
    rec.set("read_only", Value::Bool(false)).set("allow_caching", src.get("allow_caching").clone());
    rec.set("sm_config", vhd_sm_config(alloc, &[], None));
    Ok(CopyPlan { src: vdi.to_string(), dst: store(db, rec), created: true, seconds })
}

fn resize(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vdi = call.str(0);
    db.expect_is(vdi, "VDI")?;
    check(db, vdi, "resize")?;
    let sr = db.string(vdi, "SR");
    assert_sr_plugged(db, &sr)?;
    assert_managed(db, vdi)?;
    let alloc = sm::alloc_of(db, &sr);
    let size = call.args[1].as_int().unwrap_or(0);
    sm::check_size(alloc, size)?;
    let old = db.int(vdi, "virtual_size");
    let new = sm::round_virtual(alloc, size);
    if new < old {
        return Err(sm::backend(79, "VDI Invalid size [opterr=shrinking not allowed]", ""));
    }
    let phys = db.int(vdi, "physical_utilisation");
    let new_phys = sm::resized_size(alloc, old, new, phys);
    ensure_space(db, &sr, new_phys - phys)?;
    db.set_named(vdi, "virtual_size", Value::Int(new));
    db.set_named(vdi, "physical_utilisation", Value::Int(new_phys));
    refresh_sr_usage(db, &sr);
    Ok(Value::str(""))
}

/// Whether a string has the 8-4-4-4-12 hex shape of a uuid.
fn looks_like_uuid(u: &str) -> bool {
    let parts: Vec<&str> = u.split('-').collect();
    parts.len() == 5
        && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn introduce(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let sr = call.str(3);
    db.expect_is(sr, "SR")?;
    sr_allows(db, sr, "vdi_introduce")?;
    assert_sr_plugged(db, sr)?;
    let location = call.str(8);
    if db.strings(sr, "VDIs").iter().any(|v| db.field_str(v, "location") == location) {
        return Err(Failure::new("LOCATION_NOT_UNIQUE", [sr, location]));
    }
    let c = db.cls("VDI");
    let uuid = match call.str(0) {
        "" => db.new_uuid(),
        u if !looks_like_uuid(u) => return Err(Failure::new("UUID_INVALID", ["VDI", u])),
        u if db.by_uuid(c, u).is_some() => return Err(Failure::new("UUID_INVALID", ["VDI", u])),
        u => u.to_string(),
    };
    let snapshot_of = call.str(17);
    if !is_null(snapshot_of) {
        db.expect_is(snapshot_of, "VDI")?;
    }
    let virt = call.args[12].as_int().unwrap_or(0);
    let phys = call.args[13].as_int().unwrap_or(0);
    let mut rec = fresh(db, sr, virt, phys);
    rec.set("uuid", Value::str(&uuid))
        .set("name_label", call.args[1].clone())
        .set("name_description", call.args[2].clone())
        .set("type", call.args[4].clone())
        .set("sharable", call.args[5].clone())
        .set("read_only", call.args[6].clone())
        .set("other_config", call.args[7].clone())
        .set("location", Value::str(location))
        .set("xenstore_data", call.args[9].clone())
        .set("sm_config", call.args[10].clone())
        .set("managed", call.args[11].clone())
        .set("metadata_of_pool", call.args[14].clone())
        .set("is_a_snapshot", call.args[15].clone())
        .set("snapshot_time", call.args[16].clone())
        .set("snapshot_of", Value::str(snapshot_of));
    Ok(Value::String(store(db, rec)))
}

fn forget(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vdi = call.str(0);
    db.expect_is(vdi, "VDI")?;
    check(db, vdi, "forget")?;
    // The disk stays on storage: a scan of its SR finds it again.
    let sr = db.string(vdi, "SR");
    let (uuid, ty, size) = (db.string(&sr, "uuid"), db.string(&sr, "type"), db.int(&sr, "physical_size"));
    let dc = driver::sr_device_config(db, &sr);
    if let Some(stored) = driver::stored_vdi(db, vdi) {
        driver::with_store(&call.core, |st| {
            let e = st.entry(uuid).or_default();
            if e.ty.is_empty() {
                e.ty = ty;
                e.device_config = dc;
                e.physical_size = size;
            }
            e.vdis.push(stored);
        });
    }
    db.destroy(vdi);
    refresh_sr_usage(db, &sr);
    Ok(Value::str(""))
}

fn update(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vdi = call.str(0);
    db.expect_is(vdi, "VDI")?;
    assert_sr_plugged(db, db.field_str(vdi, "SR"))?;
    Ok(Value::str(""))
}

/// `VDI.enable_cbt` / `disable_cbt`: changed block tracking of user and system disks.
fn set_cbt(call: &Call, db: &mut Db, on: bool) -> ApiResult<Value> {
    let vdi = call.str(0);
    db.expect_is(vdi, "VDI")?;
    let sr = db.string(vdi, "SR");
    sr_allows(db, &sr, if on { "vdi_enable_cbt" } else { "vdi_disable_cbt" })?;
    let ty = db.string(vdi, "type");
    if !matches!(ty.as_str(), "user" | "system") {
        return Err(Failure::new("VDI_INCOMPATIBLE_TYPE", [vdi.to_string(), ty]));
    }
    if on && db.field_str(vdi, "on_boot") == "reset" {
        return Err(Failure::new::<&str>("VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION", []));
    }
    assert_sr_plugged(db, &sr)?;
    assert_managed(db, vdi)?;
    db.set_named(vdi, "cbt_enabled", Value::Bool(on));
    Ok(Value::str(""))
}

/// `VDI.set_on_boot`: "reset" disks go back to their snapshot on every boot.
fn set_on_boot(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vdi = call.str(0);
    db.expect_is(vdi, "VDI")?;
    let sr = db.string(vdi, "SR");
    if !driver::has_feature(db, db.field_str(&sr, "type"), "VDI_RESET_ON_BOOT") {
        return Err(Failure::new("SR_OPERATION_NOT_SUPPORTED", [sr]));
    }
    let value = call.args[1].as_str().unwrap_or("persist").to_ascii_lowercase();
    if value == "reset" && db.bool(vdi, "cbt_enabled") {
        return Err(Failure::new("VDI_CBT_ENABLED", [vdi]));
    }
    assert_sr_plugged(db, &sr)?;
    db.set_named(vdi, "on_boot", Value::String(value));
    refresh_vdi_ops(db, vdi);
    Ok(Value::str(""))
}
