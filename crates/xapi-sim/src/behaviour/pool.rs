//! Pool membership and master changes: `pool.join` (a host of another
//! simulated pool of the process joins this one, after xapi's checks),
//! `eject` (the host leaves with what is its own and starts over as a
//! standalone pool), `designate_new_master`, the emergency transitions,
//! `recover_slaves` and `sync_database`.
//!
//! A call runs "on" the host its session is local to (made by
//! `session.slave_local_login_with_password` at that host's address),
//! otherwise on the master. All hosts of a simulated pool share one
//! database, so there is no split brain: a member that becomes master
//! makes the whole pool follow it.

use crate::call::{BoxFuture, Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::rules::membership;
use crate::rules::pool::master;
use std::collections::HashMap;
use std::sync::Arc;
use xenapi::{Value, NULL_REF};

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("pool.join", Handler::Async(|call| join(call, false)));
    t.insert("pool.join_force", Handler::Async(|call| join(call, true)));
    t.insert("pool.eject", Handler::Async(eject));
    t.insert("pool.designate_new_master", Handler::Sync(designate_new_master));
    t.insert("pool.emergency_transition_to_master", Handler::Sync(emergency_transition_to_master));
    t.insert("pool.emergency_reset_master", Handler::Sync(emergency_reset_master));
    t.insert("pool.recover_slaves", Handler::Sync(recover_slaves));
    t.insert("pool.sync_database", Handler::Sync(|_, _| Ok(Value::Nil)));
}

fn fail(code: &str) -> Failure {
    Failure::new::<&str>(code, [])
}

/// The host a call runs on: the one its session is local to, else the master.
fn this_host(call: &Call, db: &Db) -> String {
    crate::rules::host::this_host(db, call.core.session_local_to(call.session.as_deref().unwrap_or_default()))
}

fn pool_ref(db: &Db) -> String {
    db.all("pool").into_iter().next().unwrap_or_else(|| NULL_REF.to_string())
}

fn ha_enabled(db: &Db) -> bool {
    db.bool(&pool_ref(db), "ha_enabled")
}

fn join(call: Call, force: bool) -> BoxFuture {
    Box::pin(async move { join_common(&call, force) })
}

/// xapi's `join_common`: log in at the master's address, then
/// `pre_join_checks` in xapi's order, then the host moves to the master's pool.
fn join_common(call: &Call, force: bool) -> ApiResult<Value> {
    let (address, user, password) = (call.str(0), call.str(1), call.str(2));
    let me = &call.core;
    let there =
        me.federation().and_then(|f| f.pool_at(address)).ok_or_else(|| fail("JOINING_HOST_CONNECTION_FAILED"))?;
    // The login: a member refuses it with its master's address; then the credentials.
    {
        let db = there.db.read();
        let master_address = db.string(&master(&db), "address");
        if master_address != address {
            return Err(Failure::new("HOST_IS_SLAVE", [master_address]));
        }
    }
    if !there.users.read().iter().any(|(u, p)| u == user && p == password) {
        return Err(Failure::new("SESSION_AUTHENTICATION_FAILED", [user, "Authentication failure"]));
    }
    let same = Arc::ptr_eq(me, &there);
    // Both databases locked, always in the same order.
    let (mut mine, mut theirs) = if same {
        (me.db.write(), None)
    } else if Arc::as_ptr(me) < Arc::as_ptr(&there) {
        let a = me.db.write();
        (a, Some(there.db.write()))
    } else {
        let b = there.db.write();
        (me.db.write(), Some(b))
    };
    let host = this_host(call, &mine);
    if ha_enabled(&mine) || theirs.as_ref().is_some_and(|t| ha_enabled(t)) {
        return Err(fail("HA_IS_ENABLED"));
    }
    let Some(theirs_db) = theirs.as_mut() else {
        let why = if mine.all("host").len() > 1 {
            "Host is already part of a pool"
        } else {
            "Host cannot become slave of itself"
        };
        return Err(Failure::new("OPERATION_NOT_ALLOWED", [why]));
    };
    pre_join_checks(&mine, theirs_db, &host, force)?;
    let objects = membership::host_objects(&mine, &host, &[]);
    membership::transplant(&mut mine, theirs_db, &objects);
    there.commit(theirs_db)?;
    // The joining host's own database is gone: it now serves its new pool's.
    let mut empty = Db::new(0);
    empty.set_rng_state(mine.rng_state());
    drop(theirs);
    drop(mine);
    me.replace_db(empty).map_err(|e| Failure::new("INTERNAL_ERROR", [format!("cannot write state: {e}")]))?;
    Ok(Value::Nil)
}

/// The checks of xapi's `pre_join_checks` that a simulated host can fail,
/// in xapi's order.
fn pre_join_checks(mine: &Db, theirs: &Db, host: &str, force: bool) -> ApiResult<()> {
    if mine.all("host").len() > 1 {
        return Err(fail("JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS"));
    }
    let guests: Vec<String> = mine.all("VM").into_iter().filter(|vm| !mine.bool(vm, "is_control_domain")).collect();
    if guests.iter().any(|vm| mine.string(vm, "power_state") == "Running") {
        return Err(fail("JOINING_HOST_CANNOT_HAVE_RUNNING_VMS"));
    }
    if mine
        .all("VM")
        .iter()
        .any(|vm| mine.field(vm, "current_operations").and_then(Value::as_struct).is_some_and(|m| !m.is_empty()))
    {
        return Err(fail("JOINING_HOST_CANNOT_HAVE_VMS_WITH_CURRENT_OPERATIONS"));
    }
    if !force {
        let their_master = master(theirs);
        let version = |db: &Db, h: &str| db.map_get(h, "software_version", "product_version");
        if version(mine, host) != version(theirs, &their_master) {
            return Err(Failure::new("HOSTS_NOT_HOMOGENEOUS", ["Software version differs"]));
        }
        let vendor = |db: &Db, h: &str| db.map_get(h, "cpu_info", "vendor");
        if vendor(mine, host) != vendor(theirs, &their_master) {
            return Err(Failure::new("HOSTS_NOT_HOMOGENEOUS", ["CPUs differ"]));
        }
    }
    if mine.all("SR").iter().any(|sr| mine.bool(sr, "shared") && !mine.bool(sr, "is_tools_sr")) {
        return Err(fail("JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS"));
    }
    for (class, code) in [
        ("Bond", "POOL_JOINING_HOST_HAS_BONDS"),
        ("tunnel", "POOL_JOINING_HOST_HAS_TUNNELS"),
        ("network_sriov", "POOL_JOINING_HOST_HAS_NETWORK_SRIOVS"),
    ] {
        if !mine.all(class).is_empty() {
            return Err(fail(code));
        }
    }
    let management_vlan = |v: &String| {
        let pif = mine.string(v, "untagged_PIF");
        mine.bool(&pif, "management")
    };
    if mine.all("VLAN").iter().any(|v| !management_vlan(v)) {
        return Err(fail("POOL_JOINING_HOST_HAS_NON_MANAGEMENT_VLANS"));
    }
    Ok(())
}

/// xapi's `eject`: refused for the master and for a host with running
/// guests; the host leaves with its control domain, PIFs, PBDs and local
/// SRs (their disks are lost, and halted guests lose the drives on them),
/// and starts over as a standalone pool of its own (same uuid, name and
/// address) in a vacant pool of the process.
fn eject(call: Call) -> BoxFuture {
    Box::pin(async move {
        let host = call.str(0).to_string();
        let core = call.core.clone();
        let (name, address, uuid) = core.write(|db| {
            let c = db.cls("host");
            db.expect(c, &host)?;
            if ha_enabled(db) {
                return Err(fail("HA_IS_ENABLED"));
            }
            if host == master(db) {
                return Err(Failure::new("INTERNAL_ERROR", ["Xapi_pool.Cannot_eject_master"]));
            }
            let busy = db
                .strings(&host, "resident_VMs")
                .iter()
                .any(|vm| !db.bool(vm, "is_control_domain") && db.string(vm, "power_state") != "Halted");
            if busy {
                return Err(Failure::new("OPERATION_NOT_ALLOWED", ["VM resident on host"]));
            }
            let who = (db.string(&host, "name_label"), db.string(&host, "address"), db.string(&host, "uuid"));
            let objects = membership::host_objects(db, &host, &[]);
            let lost: Vec<String> = objects.iter().filter(|r| db.is(r, "VDI")).cloned().collect();
            // Guests' drives on the disks that go, and their ties to the host.
            let drives: Vec<String> =
                db.all("VBD").into_iter().filter(|vbd| lost.contains(&db.string(vbd, "VDI"))).collect();
            membership::destroy_all(db, &drives);
            for vm in db.all("VM") {
                for field in ["affinity", "resident_on", "scheduled_to_be_resident_on"] {
                    if db.string(&vm, field) == host {
                        db.set_named(&vm, field, Value::str(NULL_REF));
                    }
                }
            }
            membership::destroy_all(db, &objects);
            Ok(who)
        })?;
        if let Some(federation) = core.federation() {
            federation
                .take_in(&name, &address, &uuid)
                .map_err(|e| Failure::new("INTERNAL_ERROR", [format!("cannot make a pool for the host: {e}")]))?;
        }
        Ok(Value::Nil)
    })
}

/// xapi's `designate_new_master`: the named host becomes the master (a
/// no-op when it is already); the others then answer HOST_IS_SLAVE with its address.
fn designate_new_master(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0).to_string();
    db.expect(db.cls("host"), &host)?;
    if host == master(db) {
        return Ok(Value::Nil);
    }
    if ha_enabled(db) {
        return Err(fail("HA_IS_ENABLED"));
    }
    let pool = pool_ref(db);
    db.set_named(&pool, "master", Value::String(host));
    Ok(Value::Nil)
}

/// The host the call runs on becomes the master (refused while HA is on).
fn emergency_transition_to_master(call: &Call, db: &mut Db) -> ApiResult<Value> {
    if ha_enabled(db) {
        return Err(fail("HA_IS_ENABLED"));
    }
    let host = this_host(call, db);
    let pool = pool_ref(db);
    db.set_named(&pool, "master", Value::String(host));
    Ok(Value::Nil)
}

/// The host the call runs on restarts as a member of the master at this
/// address. Its pool shares one database, so that must be the pool's master.
fn emergency_reset_master(call: &Call, db: &mut Db) -> ApiResult<Value> {
    if ha_enabled(db) {
        return Err(fail("HA_IS_ENABLED"));
    }
    let address = call.str(0);
    if address.parse::<std::net::IpAddr>().is_err()
        && !db.all("host").iter().any(|h| db.string(h, "address") == address)
    {
        return Err(Failure::new("INTERNAL_ERROR", [format!("Couldn't resolve hostname: {address}")]));
    }
    let master_address = db.string(&master(db), "address");
    if address != master_address {
        return Err(Failure::new(
            "INTERNAL_ERROR",
            [format!("the simulator's hosts can follow only their pool's master ({master_address}), not {address}")],
        ));
    }
    Ok(Value::Nil)
}

/// The master resets the master address of every other host: each of them
/// answers, so each is listed.
fn recover_slaves(_call: &Call, db: &mut Db) -> ApiResult<Value> {
    let me = master(db);
    Ok(Value::Array(db.all("host").into_iter().filter(|h| *h != me).map(Value::String).collect()))
}
