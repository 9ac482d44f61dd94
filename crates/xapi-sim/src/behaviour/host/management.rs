//! The management interface: `host.management_reconfigure` (and the
//! pool-wide `pool.management_reconfigure`), `management_disable`,
//! `local_management_reconfigure` for a member in emergency mode, and
//! `is_in_emergency_mode`. A host answers at `host.address`, its management
//! PIF's IP: the simulator's listeners follow it (`server::wanted_doors`),
//! so a host moved to another loopback address answers there, and one with
//! its management disabled stops answering.

use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::rules::host::{address_of, assert_live, this_host};
use crate::rules::pool::master;
use std::collections::HashMap;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("host.management_reconfigure", Handler::Sync(management_reconfigure));
    t.insert("host.management_disable", Handler::Sync(management_disable));
    t.insert("host.local_management_reconfigure", Handler::Sync(local_management_reconfigure));
    t.insert("host.is_in_emergency_mode", Handler::Sync(is_in_emergency_mode));
    t.insert("pool.management_reconfigure", Handler::Sync(pool_management_reconfigure));
}

fn assert_ha_disabled(db: &Db) -> ApiResult<()> {
    let pool = db.all("pool").into_iter().next().unwrap_or_default();
    if db.bool(&pool, "ha_enabled") {
        return Err(Failure::new::<&str>("HA_IS_ENABLED", []));
    }
    Ok(())
}

/// xapi's `assert_usable_for_management`: not a bond member, and an
/// address of the primary type configured.
fn assert_usable(db: &Db, pif: &str) -> ApiResult<()> {
    if db.is(db.field_str(pif, "bond_slave_of"), "Bond") {
        return Err(Failure::new("CANNOT_PLUG_BOND_SLAVE", [pif]));
    }
    match db.field_str(pif, "primary_address_type") {
        "IPv6" if db.field_str(pif, "ipv6_configuration_mode") == "None" => {
            Err(Failure::new("PIF_HAS_NO_V6_NETWORK_CONFIGURATION", [pif]))
        }
        "IPv6" => Ok(()),
        _ if db.field_str(pif, "ip_configuration_mode") == "None" => {
            Err(Failure::new("PIF_HAS_NO_NETWORK_CONFIGURATION", [pif]))
        }
        _ => Ok(()),
    }
}

/// Makes `pif` its host's management interface: the only PIF of the host
/// marked so, attached, and the host's address is its address.
fn make_management(call: &Call, db: &mut Db, pif: &str) {
    let host = db.string(pif, "host");
    for p in db.strings(&host, "PIFs") {
        db.set_named(&p, "management", Value::Bool(p == pif));
    }
    db.set_named(pif, "currently_attached", Value::Bool(true));
    set_address(call, db, &host, &address_of(db, pif));
}

/// The host's address follows its management interface; the sessions
/// local to it follow too.
fn set_address(call: &Call, db: &mut Db, host: &str, address: &str) {
    if let Some(old) = crate::rules::host::set_address(db, host, address) {
        call.core.move_local_sessions(&old, address);
    }
}

/// xapi's checks of `Host.management_reconfigure`, then the change.
fn reconfigure_one(call: &Call, db: &mut Db, pif: &str) -> ApiResult<()> {
    if db.bool(pif, "managed") {
        assert_usable(db, pif)?;
    }
    if !db.bool(pif, "management") {
        make_management(call, db, pif);
    }
    Ok(())
}

fn management_reconfigure(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pif = call.str(0);
    db.expect_is(pif, "PIF")?;
    assert_ha_disabled(db)?;
    assert_live(db, db.field_str(pif, "host"))?;
    reconfigure_one(call, db, pif)?;
    Ok(Value::Nil)
}

/// The host the session runs on gives up its management interface; a
/// member may not (it would lose its master).
fn management_disable(call: &Call, db: &mut Db) -> ApiResult<Value> {
    assert_ha_disabled(db)?;
    let host = this_host(db, call.core.session_local_to(call.session.as_deref().unwrap_or_default()));
    if host != master(db) {
        return Err(Failure::new::<&str>("SLAVE_REQUIRES_MANAGEMENT_INTERFACE", []));
    }
    for p in db.strings(&host, "PIFs") {
        db.set_named(&p, "management", Value::Bool(false));
    }
    Ok(Value::Nil)
}

/// A member is in emergency mode while its master is unreachable.
fn in_emergency(call: &Call, db: &Db) -> bool {
    let host = this_host(db, call.core.session_local_to(call.session.as_deref().unwrap_or_default()));
    let master = master(db);
    host != master && !crate::rules::host::is_live(db, &master)
}

fn is_in_emergency_mode(call: &Call, db: &mut Db) -> ApiResult<Value> {
    Ok(Value::Bool(in_emergency(call, db)))
}

/// Only in emergency mode: the management interface moves to the PIF
/// named by its device or its network's bridge.
fn local_management_reconfigure(call: &Call, db: &mut Db) -> ApiResult<Value> {
    if !in_emergency(call, db) {
        return Err(Failure::new::<&str>("NOT_IN_EMERGENCY_MODE", []));
    }
    let interface = call.str(0);
    let host = this_host(db, call.core.session_local_to(call.session.as_deref().unwrap_or_default()));
    let pif = db.strings(&host, "PIFs").into_iter().find(|p| {
        db.field_str(p, "device") == interface || db.field_str(db.field_str(p, "network"), "bridge") == interface
    });
    let Some(pif) = pif else {
        return Err(Failure::new("INVALID_VALUE", ["interface", interface]));
    };
    make_management(call, db, &pif);
    Ok(Value::Nil)
}

/// Every host moves its management interface to its PIF on `network`:
/// each must have one, all of one address type and usable; members
/// first, the master last, as xapi orders it.
fn pool_management_reconfigure(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let network = call.str(0);
    db.expect_is(network, "network")?;
    assert_ha_disabled(db)?;
    let pifs = db.strings(network, "PIFs");
    let mut chosen = Vec::new();
    for host in db.all("host") {
        let Some(pif) = pifs.iter().find(|p| db.field_str(p, "host") == host) else {
            return Err(Failure::new("PIF_NOT_PRESENT", [host.as_str(), network]));
        };
        chosen.push((host, pif.clone()));
    }
    let kind = pifs.first().map(|p| db.string(p, "primary_address_type")).unwrap_or_default();
    for p in &pifs {
        if db.field_str(p, "primary_address_type") != kind {
            return Err(Failure::new("PIF_INCOMPATIBLE_PRIMARY_ADDRESS_TYPE", [p]));
        }
        assert_usable(db, p)?;
    }
    let master = master(db);
    for (host, _) in &chosen {
        assert_live(db, host)?;
    }
    chosen.sort_by_key(|(host, _)| *host == master);
    for (_, pif) in &chosen {
        reconfigure_one(call, db, pif)?;
    }
    Ok(Value::Nil)
}
