//! High availability: `pool.enable_ha` (xapi's checks, a statefile and a
//! redo-log VDI on a shared SR), `disable_ha`, the number of host failures
//! to tolerate, the planning calls, and the VM fields HA reads
//! (`ha_restart_priority`, `order`). The planner is [`crate::rules::ha`];
//! what happens when a host fails is [`crate::ha`].

use crate::call::{BoxFuture, Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::rules::ha::{self, check_priority, enabled, pool_ref, protected, RESTART};
use crate::rules::host::is_live;
use std::collections::HashMap;
use xenapi::wire::Response;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("pool.enable_ha", Handler::Async(enable_ha));
    t.insert("pool.disable_ha", Handler::Sync(disable_ha));
    t.insert("pool.set_ha_host_failures_to_tolerate", Handler::Sync(set_failures_to_tolerate));
    t.insert("pool.ha_compute_max_host_failures_to_tolerate", Handler::Sync(compute_max));
    t.insert("pool.ha_compute_hypothetical_max_host_failures_to_tolerate", Handler::Sync(compute_hypothetical));
    t.insert("pool.ha_failover_plan_exists", Handler::Sync(plan_exists));
    t.insert("pool.ha_compute_vm_failover_plan", Handler::Sync(failover_plan));
    t.insert("host.emergency_ha_disable", Handler::Sync(emergency_ha_disable));
    t.insert("VM.set_ha_restart_priority", Handler::Sync(set_restart_priority));
    t.insert("VM.set_ha_always_run", Handler::Sync(set_always_run));
    t.insert("VM.set_order", Handler::Sync(set_order));
    t.insert("pool.ha_prevent_restarts_for", Handler::Sync(prevent_restarts_for));
}

/// `ha_prevent_restarts_for(seconds)`: HA restarts wait that long (0 or
/// less lifts it). Accepted with HA off too, as xapi does, for an HA about
/// to be enabled.
fn prevent_restarts_for(call: &Call, _: &mut Db) -> ApiResult<Value> {
    let seconds = call.args[0].as_int().unwrap_or(0);
    let until =
        (seconds > 0).then(|| std::time::Instant::now() + std::time::Duration::from_secs(seconds.unsigned_abs()));
    *call.core.ha_restarts_prevented_until.lock() = until;
    Ok(Value::str(""))
}

fn fail(code: &str) -> Failure {
    Failure::new::<&str>(code, [])
}

fn refs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).unwrap_or(&[]).iter().filter_map(Value::as_str).map(str::to_string).collect()
}

/// Sizes of the VDIs HA makes (xapi's statefile and redo-log minimums, rounded).
const STATEFILE_SIZE: i64 = 4 << 20;
const REDO_LOG_SIZE: i64 = 4 << 20;

/// xapi's `check_sr_can_host_statefile`: a PBD from every host, all
/// plugged, a driver that can attach offline, and room for the file.
fn check_statefile_sr(db: &Db, sr: &str) -> ApiResult<()> {
    db.expect_is(sr, "SR")?;
    let pbds = db.strings(sr, "PBDs");
    let hosts = db.all("host");
    if !hosts.iter().all(|h| pbds.iter().any(|p| db.field_str(p, "host") == h)) {
        return Err(Failure::new("SR_NO_PBDS", [sr]));
    }
    if pbds.iter().any(|p| !db.bool(p, "currently_attached")) {
        return Err(Failure::new("SR_NO_PBDS", [sr]));
    }
    let ty = db.string(sr, "type");
    let sm = db.all("SM").into_iter().find(|s| db.string(s, "type") == ty);
    let attachable = sm.is_some_and(|s| {
        db.field(&s, "features")
            .and_then(Value::as_struct)
            .is_some_and(|f| f.iter().any(|(k, _)| k == "VDI_GENERATE_CONFIG" || k == "VDI_ATTACH_OFFLINE"))
    });
    if !attachable {
        return Err(Failure::new("SR_OPERATION_NOT_SUPPORTED", [sr]));
    }
    let free = db.int(sr, "physical_size") - db.int(sr, "physical_utilisation");
    if free < STATEFILE_SIZE + REDO_LOG_SIZE {
        return Err(Failure::new("SR_SOURCE_SPACE_INSUFFICIENT", [sr]));
    }
    Ok(())
}

/// An existing VDI of this type on the SR, reused as xapi's `find_or_create` does.
fn existing(db: &Db, sr: &str, ty: &str) -> Option<String> {
    db.strings(sr, "VDIs").into_iter().find(|v| db.string(v, "type") == ty)
}

async fn make_vdi(call: &Call, session: &str, sr: &str, name: &str, ty: &str, size: i64) -> ApiResult<String> {
    if let Some(v) = existing(&call.core.db.read(), sr, ty) {
        return Ok(v);
    }
    let record = Value::Struct(vec![
        ("name_label".into(), Value::str(name)),
        ("name_description".into(), Value::str("Used for storage heartbeating")),
        ("SR".into(), Value::str(sr)),
        ("virtual_size".into(), Value::Int(size)),
        ("type".into(), Value::str(ty)),
        ("sharable".into(), Value::Bool(true)),
        ("read_only".into(), Value::Bool(false)),
        ("other_config".into(), Value::Struct(Vec::new())),
        ("xenstore_data".into(), Value::Struct(Vec::new())),
        ("sm_config".into(), Value::Struct(Vec::new())),
        ("tags".into(), Value::Array(Vec::new())),
    ]);
    match call.core.call("VDI.create", vec![Value::str(session), record]).await {
        Response::Success(v) => Ok(v.as_str().unwrap_or_default().to_string()),
        Response::Failure(e) => Err(Failure(e)),
    }
}

fn enable_ha(call: Call) -> BoxFuture {
    Box::pin(async move {
        let heartbeat = refs(call.args.first());
        let configuration = call.args.get(1).cloned().unwrap_or(Value::Struct(Vec::new()));
        let sr = {
            let db = call.core.db.read();
            if enabled(&db) {
                return Err(fail("HA_IS_ENABLED"));
            }
            if let Some(h) = db.all("host").into_iter().find(|h| !is_live(&db, h)) {
                return Err(Failure::new("HOST_OFFLINE", [h]));
            }
            let candidates: Vec<String> = if heartbeat.is_empty() {
                db.all("SR").into_iter().filter(|sr| check_statefile_sr(&db, sr).is_ok()).collect()
            } else {
                heartbeat
            };
            let sr = candidates.into_iter().next().ok_or_else(|| fail("CANNOT_CREATE_STATE_FILE"))?;
            check_statefile_sr(&db, &sr)?;
            sr
        };
        let session = call.core.internal_session();
        let made = async {
            let statefile = make_vdi(&call, &session, &sr, "Statefile for HA", "ha_statefile", STATEFILE_SIZE).await?;
            make_vdi(&call, &session, &sr, "Metadata for HA", "redo_log", REDO_LOG_SIZE).await?;
            Ok::<_, Failure>(statefile)
        }
        .await;
        call.core.end_internal_session(&session);
        let statefile = made?;
        call.core.write(|db| {
            if enabled(db) {
                return Err(fail("HA_IS_ENABLED"));
            }
            let pool = pool_ref(db);
            db.set_named(&pool, "ha_statefiles", Value::Array(vec![Value::str(&statefile)]));
            db.set_named(&pool, "ha_configuration", configuration);
            db.set_named(&pool, "ha_cluster_stack", Value::str("xhad"));
            db.set_named(&pool, "ha_plan_exists_for", Value::Int(0));
            let hosts = db.all("host");
            let peers: Vec<Value> = hosts.iter().map(|h| Value::String(db.string(h, "uuid"))).collect();
            for h in &hosts {
                db.set_named(h, "ha_statefiles", Value::Array(vec![Value::str(&statefile)]));
                db.set_named(h, "ha_network_peers", Value::Array(peers.clone()));
            }
            db.set_named(&pool, "ha_enabled", Value::Bool(true));
            ha::update_pool_status(db);
            Ok(Value::Nil)
        })
    })
}

fn disable_ha(_call: &Call, db: &mut Db) -> ApiResult<Value> {
    if !enabled(db) {
        return Err(fail("HA_NOT_ENABLED"));
    }
    let pool = pool_ref(db);
    db.set_named(&pool, "ha_enabled", Value::Bool(false));
    db.set_named(&pool, "ha_plan_exists_for", Value::Int(0));
    db.set_named(&pool, "ha_overcommitted", Value::Bool(false));
    db.set_named(&pool, "ha_statefiles", Value::Array(Vec::new()));
    for h in db.all("host") {
        db.set_named(&h, "ha_statefiles", Value::Array(Vec::new()));
        db.set_named(&h, "ha_network_peers", Value::Array(Vec::new()));
    }
    Ok(Value::Nil)
}

/// xapi's `assert_configuration_change_preserves_ha_plan`: with HA on and
/// a plan for the wanted number of failures, the change must keep one.
fn assert_preserves_plan(db: &Db, protected: &[String], n: i64) -> ApiResult<()> {
    let pool = pool_ref(db);
    if !enabled(db) || db.int(&pool, "ha_plan_exists_for") <= 0 {
        return Ok(());
    }
    if ha::plan_exists(db, protected, n.max(0) as usize) {
        Ok(())
    } else {
        Err(fail("HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN"))
    }
}

fn int_arg(call: &Call, i: usize) -> i64 {
    call.args.get(i).and_then(Value::as_int).unwrap_or(0)
}

fn set_failures_to_tolerate(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pool = call.str(0).to_string();
    db.expect_is(&pool, "pool")?;
    let value = int_arg(call, 1);
    if value < 0 {
        return Err(Failure::new("INVALID_VALUE", ["ha_host_failures_to_tolerate".to_string(), value.to_string()]));
    }
    assert_preserves_plan(db, &protected(db), value)?;
    db.set_named(&pool, "ha_host_failures_to_tolerate", Value::Int(value));
    if enabled(db) {
        ha::update_pool_status(db);
    }
    Ok(Value::Nil)
}

fn compute_max(_call: &Call, db: &mut Db) -> ApiResult<Value> {
    let n = if enabled(db) { ha::update_pool_status(db) } else { ha::max_failures(db, &protected(db)) };
    Ok(Value::Int(n))
}

fn compute_hypothetical(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let configuration = call.args.first().and_then(Value::as_struct).unwrap_or(&[]).to_vec();
    let mut vms = Vec::new();
    for (vm, priority) in &configuration {
        let priority = priority.as_str().unwrap_or_default();
        check_priority(priority)?;
        if priority == RESTART {
            db.expect_is(vm, "VM")?;
            vms.push(vm.clone());
        }
    }
    Ok(Value::Int(ha::max_failures(db, &vms)))
}

fn plan_exists(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let n = int_arg(call, 0).max(0) as usize;
    Ok(Value::Bool(ha::plan_exists(db, &protected(db), n)))
}

fn failover_plan(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let failed_hosts = refs(call.args.first());
    let failed_vms = refs(call.args.get(1));
    for h in &failed_hosts {
        db.expect_is(h, "host")?;
    }
    for vm in &failed_vms {
        db.expect_is(vm, "VM")?;
    }
    let survivors: Vec<String> = ha::live_hosts(db).into_iter().filter(|h| !failed_hosts.contains(h)).collect();
    let plan = ha::place(db, &survivors, &failed_vms)
        .into_iter()
        .map(|(vm, r)| {
            let entry = match r {
                Ok(h) => ("host".to_string(), Value::String(h)),
                Err(code) => ("error_code".to_string(), Value::String(code)),
            };
            (vm, Value::Struct(vec![entry]))
        })
        .collect();
    Ok(Value::Struct(plan))
}

fn set_restart_priority(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0).to_string();
    db.expect_is(&vm, "VM")?;
    restart_priority(db, &vm, call.str(1))
}

/// xapi's `set_ha_restart_priority`: a valid value; protecting a VM that
/// is not halted must keep the plan; a running VM's `ha_always_run` follows.
fn restart_priority(db: &mut Db, vm: &str, value: &str) -> ApiResult<Value> {
    check_priority(value)?;
    let current = db.string(vm, "ha_restart_priority");
    if current != RESTART && value == RESTART && db.string(vm, "power_state") != "Halted" {
        let mut vms = protected(db);
        vms.push(vm.to_string());
        let wanted = db.int(&pool_ref(db), "ha_host_failures_to_tolerate");
        assert_preserves_plan(db, &vms, wanted)?;
    }
    if current != value {
        db.set_named(vm, "ha_restart_priority", Value::str(value));
        if db.string(vm, "power_state") == "Running" {
            db.set_named(vm, "ha_always_run", Value::Bool(value == RESTART));
        }
    }
    if enabled(db) {
        ha::update_pool_status(db);
    }
    Ok(Value::Nil)
}

/// The deprecated field: true means "restart", false none.
fn set_always_run(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0).to_string();
    db.expect_is(&vm, "VM")?;
    restart_priority(db, &vm, if call.bool(1) { RESTART } else { "" })
}

fn set_order(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0).to_string();
    db.expect_is(&vm, "VM")?;
    let value = int_arg(call, 1);
    if value < 0 {
        return Err(Failure::new("INVALID_VALUE", ["order must be non-negative".to_string(), value.to_string()]));
    }
    db.set_named(&vm, "order", Value::Int(value));
    Ok(Value::Nil)
}

/// xapi's `emergency_ha_disable`: with HA off it fails unless `soft`; with
/// HA on, the local host stops its HA daemon and fencing, which is state of
/// the host, not of the database, so the simulator records nothing.
fn emergency_ha_disable(call: &Call, db: &mut Db) -> ApiResult<Value> {
    if !enabled(db) && !call.bool(0) {
        return Err(fail("HA_NOT_ENABLED"));
    }
    Ok(Value::Nil)
}
