//! `PIF.*` (plug, unplug, IP configuration, forget), `VLAN.*` and the
//! pool-wide `pool.create_VLAN*`: a VLAN is an untagged PIF on the tagged
//! PIF's host and device, carrying the VLAN's network.

use super::{assert_cidr, assert_dns, assert_ip, enum_arg};
use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::record::Rec;
use crate::values::sset;
use std::collections::HashMap;
use xenapi::{Value, NULL_REF};

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("PIF.plug", Handler::Sync(plug));
    t.insert("PIF.unplug", Handler::Sync(unplug));
    t.insert("PIF.reconfigure_ip", Handler::Sync(reconfigure_ip));
    t.insert("PIF.reconfigure_ipv6", Handler::Sync(reconfigure_ipv6));
    t.insert("PIF.scan", Handler::Sync(scan));
    t.insert("PIF.forget", Handler::Sync(forget));
    t.insert("PIF.destroy", Handler::Sync(destroy_vlan_pif));
    t.insert("PIF.create_VLAN", Handler::Sync(create_vlan_pif));
    t.insert("VLAN.create", Handler::Sync(vlan_create));
    t.insert("VLAN.destroy", Handler::Sync(vlan_destroy));
    t.insert("pool.create_VLAN", Handler::Sync(pool_create_vlan));
    t.insert("pool.create_VLAN_from_PIF", Handler::Sync(pool_create_vlan_from_pif));
}

fn assert_managed(db: &Db, pif: &str) -> ApiResult<()> {
    if db.bool(pif, "managed") {
        Ok(())
    } else {
        Err(Failure::new("PIF_UNMANAGED", [pif]))
    }
}

fn assert_not_management(db: &Db, pif: &str) -> ApiResult<()> {
    if db.bool(pif, "management") {
        Err(Failure::new("PIF_IS_MANAGEMENT_INTERFACE", [pif]))
    } else {
        Ok(())
    }
}

fn plug(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pif = call.str(0);
    db.expect_is(pif, "PIF")?;
    assert_managed(db, pif)?;
    if db.is(db.field_str(pif, "bond_slave_of"), "Bond") {
        return Err(Failure::new("CANNOT_PLUG_BOND_SLAVE", [pif]));
    }
    db.set_named(pif, "currently_attached", Value::Bool(true));
    Ok(Value::str(""))
}

/// Brings a PIF down after xapi's checks.
fn bring_down(db: &mut Db, pif: &str) -> ApiResult<()> {
    assert_managed(db, pif)?;
    assert_not_management(db, pif)?;
    // No VIF on the PIF's network may be in use by a VM on the PIF's host.
    let net = db.string(pif, "network");
    let host = db.string(pif, "host");
    for vif in db.strings(&net, "VIFs") {
        if db.bool(&vif, "currently_attached") && db.field_str(db.field_str(&vif, "VM"), "resident_on") == host {
            return Err(Failure::new("VIF_IN_USE", [net, vif]));
        }
    }
    if db.bool(pif, "disallow_unplug") {
        return Err(Failure::new("PIF_DOES_NOT_ALLOW_UNPLUG", [pif]));
    }
    db.set_named(pif, "currently_attached", Value::Bool(false));
    Ok(())
}

fn unplug(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pif = call.str(0);
    db.expect_is(pif, "PIF")?;
    bring_down(db, pif)?;
    Ok(Value::str(""))
}

fn reconfigure_ip(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pif = call.str(0);
    db.expect_is(pif, "PIF")?;
    assert_managed(db, pif)?;
    let mode = enum_arg(&call.args[1], "ip_configuration_mode");
    let (ip, netmask, gateway, dns) = (call.str(2), call.str(3), call.str(4), call.str(5));
    if mode == "Static" {
        assert_ip(false, "IP", ip)?;
        assert_ip(false, "netmask", netmask)?;
    }
    for (param, value) in [("IP", ip), ("netmask", netmask), ("gateway", gateway)] {
        if !value.is_empty() {
            assert_ip(false, param, value)?;
        }
    }
    assert_dns(false, dns)?;
    if db.bool(pif, "management") && mode == "None" && db.field_str(pif, "primary_address_type") == "IPv4" {
        return Err(Failure::new("PIF_IS_MANAGEMENT_INTERFACE", [pif]));
    }
    db.set_named(pif, "ip_configuration_mode", Value::str(&mode));
    // The simulated DHCP server leases the PIF the address it had, so a
    // management interface turned to DHCP keeps its host reachable.
    let leased = mode == "DHCP" && ip.is_empty();
    if !leased {
        db.set_named(pif, "IP", Value::str(ip));
        db.set_named(pif, "netmask", Value::str(netmask));
        db.set_named(pif, "gateway", Value::str(gateway));
    }
    db.set_named(pif, "DNS", Value::str(dns));
    follow_management(call, db, pif);
    Ok(Value::str(""))
}

/// A new address on the management interface is the host's new address.
fn follow_management(call: &Call, db: &mut Db, pif: &str) {
    if db.bool(pif, "management") {
        let (host, address) = (db.string(pif, "host"), crate::rules::host::address_of(db, pif));
        if let Some(old) = crate::rules::host::set_address(db, &host, &address) {
            call.core.move_local_sessions(&old, &address);
        }
    }
}

fn reconfigure_ipv6(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pif = call.str(0);
    db.expect_is(pif, "PIF")?;
    assert_managed(db, pif)?;
    let mode = enum_arg(&call.args[1], "ipv6_configuration_mode");
    let (ipv6, gateway, dns) = (call.str(2), call.str(3), call.str(4));
    if !gateway.is_empty() {
        assert_ip(true, "gateway", gateway)?;
    }
    if !ipv6.is_empty() {
        assert_cidr(true, "IPv6", ipv6)?;
    }
    assert_dns(true, dns)?;
    if db.bool(pif, "management") && mode == "None" && db.field_str(pif, "primary_address_type") == "IPv6" {
        return Err(Failure::new("PIF_IS_MANAGEMENT_INTERFACE", [pif]));
    }
    let addresses = if ipv6.is_empty() { Vec::new() } else { vec![ipv6] };
    db.set_named(pif, "ipv6_configuration_mode", Value::str(&mode));
    db.set_named(pif, "ipv6_gateway", Value::str(gateway));
    db.set_named(pif, "IPv6", sset(&addresses));
    if !dns.is_empty() {
        db.set_named(pif, "DNS", Value::str(dns));
    }
    follow_management(call, db, pif);
    Ok(Value::str(""))
}

fn scan(call: &Call, db: &mut Db) -> ApiResult<Value> {
    // The simulated hosts grow no new NICs: every device already has its PIF.
    db.expect_is(call.str(0), "host")?;
    Ok(Value::str(""))
}

fn forget(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pif = call.str(0);
    db.expect_is(pif, "PIF")?;
    assert_not_management(db, pif)?;
    if db.is(db.field_str(pif, "bond_slave_of"), "Bond") || !db.strings(pif, "bond_master_of").is_empty() {
        return Err(Failure::new("PIF_ALREADY_BONDED", [pif]));
    }
    if !db.strings(pif, "VLAN_slave_of").is_empty() || db.int(pif, "VLAN") != -1 {
        return Err(Failure::new("PIF_VLAN_STILL_EXISTS", [pif]));
    }
    if !db.strings(pif, "tunnel_transport_PIF_of").is_empty() || !db.strings(pif, "tunnel_access_PIF_of").is_empty() {
        return Err(Failure::new("PIF_TUNNEL_STILL_EXISTS", [pif]));
    }
    let metrics = db.string(pif, "metrics");
    db.destroy(pif);
    if db.is(&metrics, "PIF_metrics") {
        db.destroy(&metrics);
    }
    Ok(Value::str(""))
}

/// VLAN.create's checks and records; returns (VLAN, untagged PIF).
fn make_vlan(db: &mut Db, tagged: &str, tag: i64, network: &str) -> ApiResult<(String, String)> {
    db.expect_is(tagged, "PIF")?;
    db.expect_is(network, "network")?;
    assert_managed(db, tagged)?;
    let host = db.string(tagged, "host");
    if let Some(other) = db.strings(&host, "PIFs").into_iter().find(|p| db.field_str(p, "network") == network) {
        return Err(Failure::new("NETWORK_ALREADY_CONNECTED", [host, other]));
    }
    if db.is(db.field_str(tagged, "bond_slave_of"), "Bond") {
        return Err(Failure::new("CANNOT_ADD_VLAN_TO_BOND_SLAVE", [tagged]));
    }
    if db.int(tagged, "VLAN") >= 0 {
        return Err(Failure::new("PIF_IS_VLAN", [tagged]));
    }
    if !(0..=4094).contains(&tag) {
        return Err(Failure::new("VLAN_TAG_INVALID", [tag.to_string()]));
    }
    let device = db.string(tagged, "device");
    if db.strings(tagged, "VLAN_slave_of").iter().any(|v| db.int(v, "tag") == tag) {
        return Err(Failure::new("PIF_VLAN_EXISTS", [device]));
    }
    if !db.strings(tagged, "tunnel_access_PIF_of").is_empty() {
        return Err(Failure::new("IS_TUNNEL_ACCESS_PIF", [tagged]));
    }
    let vlan = db.new_ref();
    let mut p = Rec::blank(db, db.cls("PIF"));
    p.set("device", Value::str(&device))
        .set("network", Value::str(network))
        .set("host", Value::str(&host))
        .set("MAC", Value::String(db.string(tagged, "MAC")))
        .set("MTU", Value::Int(db.int(tagged, "MTU")))
        .set("VLAN", Value::Int(tag))
        .set("metrics", Value::String(db.string(tagged, "metrics")))
        .set("physical", Value::Bool(false))
        .set("currently_attached", Value::Bool(false))
        .set("VLAN_master_of", Value::str(&vlan))
        .set("bond_slave_of", Value::str(NULL_REF))
        .set("PCI", Value::str(NULL_REF))
        .set("managed", Value::Bool(true));
    let untagged = p.insert(db);
    let mut v = Rec::blank(db, db.cls("VLAN"));
    v.set("tagged_PIF", Value::str(tagged)).set("untagged_PIF", Value::str(&untagged)).set("tag", Value::Int(tag));
    db.insert(v.idx, vlan.clone(), v.fields);
    // The new interface comes up at once.
    db.set_named(&untagged, "currently_attached", Value::Bool(true));
    Ok((vlan, untagged))
}

fn vlan_create(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let tag = call.args[1].as_int().unwrap_or(-1);
    make_vlan(db, call.str(0), tag, call.str(2)).map(|(vlan, _)| Value::String(vlan))
}

/// VLAN.destroy: the untagged PIF goes down and away with the VLAN.
fn remove_vlan(db: &mut Db, vlan: &str) -> ApiResult<()> {
    let untagged = db.string(vlan, "untagged_PIF");
    if !db.is(&untagged, "PIF") {
        db.destroy(vlan);
        return Ok(());
    }
    if db.int(&untagged, "VLAN") < 0 {
        return Err(Failure::new::<&str>("PIF_IS_PHYSICAL", []));
    }
    bring_down(db, &untagged)?;
    db.destroy(vlan);
    db.destroy(&untagged);
    Ok(())
}

fn vlan_destroy(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vlan = call.str(0);
    db.expect_is(vlan, "VLAN")?;
    remove_vlan(db, vlan)?;
    Ok(Value::str(""))
}

/// Deprecated `PIF.destroy`: only VLAN interfaces can go.
fn destroy_vlan_pif(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pif = call.str(0);
    db.expect_is(pif, "PIF")?;
    if db.int(pif, "VLAN") < 0 {
        return Err(Failure::new::<&str>("PIF_IS_PHYSICAL", []));
    }
    let vlan = db.string(pif, "VLAN_master_of");
    db.expect_is(&vlan, "VLAN")?;
    remove_vlan(db, &vlan)?;
    Ok(Value::str(""))
}

/// The physical (untagged) PIF of a device on a host.
fn base_pif(db: &Db, host: &str, device: &str) -> Option<String> {
    db.strings(host, "PIFs").into_iter().find(|p| db.field_str(p, "device") == device && db.int(p, "VLAN") == -1)
}

/// Deprecated `PIF.create_VLAN(device, network, host, VLAN)`.
fn create_vlan_pif(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let (device, network, host) = (call.str(0), call.str(1), call.str(2));
    db.expect_is(host, "host")?;
    let tagged = base_pif(db, host, device).ok_or_else(|| Failure::new("INVALID_VALUE", ["device", device]))?;
    let tag = call.args[3].as_int().unwrap_or(-1);
    make_vlan(db, &tagged, tag, network).map(|(_, pif)| Value::String(pif))
}

/// A VLAN on every host that has the device; all or nothing.
fn vlan_on_every_host(db: &mut Db, device: &str, network: &str, tag: i64) -> ApiResult<Value> {
    db.expect_is(network, "network")?;
    let mut made: Vec<(String, String)> = Vec::new();
    for host in db.all("host") {
        let Some(tagged) = base_pif(db, &host, device) else {
            continue;
        };
        match make_vlan(db, &tagged, tag, network) {
            Ok(pair) => made.push(pair),
            Err(e) => {
                for (vlan, pif) in made {
                    db.destroy(&vlan);
                    db.destroy(&pif);
                }
                return Err(e);
            }
        }
    }
    Ok(sset(&made.iter().map(|(_, pif)| pif.as_str()).collect::<Vec<_>>()))
}

fn pool_create_vlan(call: &Call, db: &mut Db) -> ApiResult<Value> {
    vlan_on_every_host(db, call.str(0), call.str(1), call.args[2].as_int().unwrap_or(-1))
}

fn pool_create_vlan_from_pif(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pif = call.str(0);
    db.expect_is(pif, "PIF")?;
    let device = db.string(pif, "device");
    vlan_on_every_host(db, &device, call.str(1), call.args[2].as_int().unwrap_or(-1))
}
