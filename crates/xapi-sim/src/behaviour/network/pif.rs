//! `PIF.*` (plug, unplug, IP configuration, forget), `VLAN.*` and the
//! pool-wide `pool.create_VLAN*`: a VLAN is an untagged PIF on the tagged
//! PIF's host and device, carrying the VLAN's network.

use super::super::storage::common::*;
use super::{assert_cidr, assert_dns, assert_ip, enum_arg};
use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
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
    if flag(db, pif, "managed") {
        Ok(())
    } else {
        Err(Failure::new("PIF_UNMANAGED", [pif]))
    }
}

fn assert_not_management(db: &Db, pif: &str) -> ApiResult<()> {
    if flag(db, pif, "management") {
        Err(Failure::new("PIF_IS_MANAGEMENT_INTERFACE", [pif]))
    } else {
        Ok(())
    }
}

fn plug(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pif = call.str(0);
    handle(db, "PIF", pif)?;
    assert_managed(db, pif)?;
    if is(db, "Bond", db.field_str(pif, "bond_slave_of")) {
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
    let net = s(db, pif, "network");
    let host = s(db, pif, "host");
    for vif in refs(db, &net, "VIFs") {
        if flag(db, &vif, "currently_attached") && db.field_str(db.field_str(&vif, "VM"), "resident_on") == host {
            return Err(Failure::new("VIF_IN_USE", [net, vif]));
        }
    }
    if flag(db, pif, "disallow_unplug") {
        return Err(Failure::new("PIF_DOES_NOT_ALLOW_UNPLUG", [pif]));
    }
    db.set_named(pif, "currently_attached", Value::Bool(false));
    Ok(())
}

fn unplug(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pif = call.str(0);
    handle(db, "PIF", pif)?;
    bring_down(db, pif)?;
    Ok(Value::str(""))
}

fn reconfigure_ip(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pif = call.str(0);
    handle(db, "PIF", pif)?;
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
    if flag(db, pif, "management") && mode == "None" && db.field_str(pif, "primary_address_type") == "IPv4" {
        return Err(Failure::new("PIF_IS_MANAGEMENT_INTERFACE", [pif]));
    }
    db.set_named(pif, "ip_configuration_mode", Value::str(&mode));
    db.set_named(pif, "IP", Value::str(ip));
    db.set_named(pif, "netmask", Value::str(netmask));
    db.set_named(pif, "gateway", Value::str(gateway));
    db.set_named(pif, "DNS", Value::str(dns));
    Ok(Value::str(""))
}

fn reconfigure_ipv6(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pif = call.str(0);
    handle(db, "PIF", pif)?;
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
    if flag(db, pif, "management") && mode == "None" && db.field_str(pif, "primary_address_type") == "IPv6" {
        return Err(Failure::new("PIF_IS_MANAGEMENT_INTERFACE", [pif]));
    }
    let addresses = if ipv6.is_empty() { Vec::new() } else { vec![ipv6] };
    db.set_named(pif, "ipv6_configuration_mode", Value::str(&mode));
    db.set_named(pif, "ipv6_gateway", Value::str(gateway));
    db.set_named(pif, "IPv6", strs(&addresses));
    if !dns.is_empty() {
        db.set_named(pif, "DNS", Value::str(dns));
    }
    Ok(Value::str(""))
}

fn scan(call: &Call, db: &mut Db) -> ApiResult<Value> {
    // The simulated hosts grow no new NICs: every device already has its PIF.
    handle(db, "host", call.str(0))?;
    Ok(Value::str(""))
}

fn forget(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pif = call.str(0);
    handle(db, "PIF", pif)?;
    assert_not_management(db, pif)?;
    if is(db, "Bond", db.field_str(pif, "bond_slave_of")) || !refs(db, pif, "bond_master_of").is_empty() {
        return Err(Failure::new("PIF_ALREADY_BONDED", [pif]));
    }
    if !refs(db, pif, "VLAN_slave_of").is_empty() || int(db, pif, "VLAN") != -1 {
        return Err(Failure::new("PIF_VLAN_STILL_EXISTS", [pif]));
    }
    if !refs(db, pif, "tunnel_transport_PIF_of").is_empty() || !refs(db, pif, "tunnel_access_PIF_of").is_empty() {
        return Err(Failure::new("PIF_TUNNEL_STILL_EXISTS", [pif]));
    }
    let metrics = s(db, pif, "metrics");
    db.destroy(pif);
    if is(db, "PIF_metrics", &metrics) {
        db.destroy(&metrics);
    }
    Ok(Value::str(""))
}

/// VLAN.create's checks and records; returns (VLAN, untagged PIF).
fn make_vlan(db: &mut Db, tagged: &str, tag: i64, network: &str) -> ApiResult<(String, String)> {
    handle(db, "PIF", tagged)?;
    handle(db, "network", network)?;
    assert_managed(db, tagged)?;
    let host = s(db, tagged, "host");
    if let Some(other) = refs(db, &host, "PIFs").into_iter().find(|p| db.field_str(p, "network") == network) {
        return Err(Failure::new("NETWORK_ALREADY_CONNECTED", [host, other]));
    }
    if is(db, "Bond", db.field_str(tagged, "bond_slave_of")) {
        return Err(Failure::new("CANNOT_ADD_VLAN_TO_BOND_SLAVE", [tagged]));
    }
    if int(db, tagged, "VLAN") >= 0 {
        return Err(Failure::new("PIF_IS_VLAN", [tagged]));
    }
    if !(0..=4094).contains(&tag) {
        return Err(Failure::new("VLAN_TAG_INVALID", [tag.to_string()]));
    }
    let device = s(db, tagged, "device");
    if refs(db, tagged, "VLAN_slave_of").iter().any(|v| int(db, v, "tag") == tag) {
        return Err(Failure::new("PIF_VLAN_EXISTS", [device]));
    }
    if !refs(db, tagged, "tunnel_access_PIF_of").is_empty() {
        return Err(Failure::new("IS_TUNNEL_ACCESS_PIF", [tagged]));
    }
    let vlan = db.new_ref();
    let mut p = Rec::blank(db, cls(db, "PIF"));
    p.set("device", Value::str(&device))
        .set("network", Value::str(network))
        .set("host", Value::str(&host))
        .set("MAC", Value::String(s(db, tagged, "MAC")))
        .set("MTU", Value::Int(int(db, tagged, "MTU")))
        .set("VLAN", Value::Int(tag))
        .set("metrics", Value::String(s(db, tagged, "metrics")))
        .set("physical", Value::Bool(false))
        .set("currently_attached", Value::Bool(false))
        .set("VLAN_master_of", Value::str(&vlan))
        .set("bond_slave_of", Value::str(NULL_REF))
        .set("PCI", Value::str(NULL_REF))
        .set("managed", Value::Bool(true));
    let untagged = p.insert(db);
    let mut v = Rec::blank(db, cls(db, "VLAN"));
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
    let untagged = s(db, vlan, "untagged_PIF");
    if !is(db, "PIF", &untagged) {
        db.destroy(vlan);
        return Ok(());
    }
    if int(db, &untagged, "VLAN") < 0 {
        return Err(Failure::new::<&str>("PIF_IS_PHYSICAL", []));
    }
    bring_down(db, &untagged)?;
    db.destroy(vlan);
    db.destroy(&untagged);
    Ok(())
}

fn vlan_destroy(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vlan = call.str(0);
    handle(db, "VLAN", vlan)?;
    remove_vlan(db, vlan)?;
    Ok(Value::str(""))
}

/// Deprecated `PIF.destroy`: only VLAN interfaces can go.
fn destroy_vlan_pif(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pif = call.str(0);
    handle(db, "PIF", pif)?;
    if int(db, pif, "VLAN") < 0 {
        return Err(Failure::new::<&str>("PIF_IS_PHYSICAL", []));
    }
    let vlan = s(db, pif, "VLAN_master_of");
    handle(db, "VLAN", &vlan)?;
    remove_vlan(db, &vlan)?;
    Ok(Value::str(""))
}

/// The physical (untagged) PIF of a device on a host.
fn base_pif(db: &Db, host: &str, device: &str) -> Option<String> {
    refs(db, host, "PIFs").into_iter().find(|p| db.field_str(p, "device") == device && int(db, p, "VLAN") == -1)
}

/// Deprecated `PIF.create_VLAN(device, network, host, VLAN)`.
fn create_vlan_pif(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let (device, network, host) = (call.str(0), call.str(1), call.str(2));
    handle(db, "host", host)?;
    let tagged = base_pif(db, host, device).ok_or_else(|| Failure::new("INVALID_VALUE", ["device", device]))?;
    let tag = call.args[3].as_int().unwrap_or(-1);
    make_vlan(db, &tagged, tag, network).map(|(_, pif)| Value::String(pif))
}

/// A VLAN on every host that has the device; all or nothing.
fn vlan_on_every_host(db: &mut Db, device: &str, network: &str, tag: i64) -> ApiResult<Value> {
    handle(db, "network", network)?;
    let mut made: Vec<(String, String)> = Vec::new();
    for host in all(db, "host") {
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
    Ok(strs(&made.iter().map(|(_, pif)| pif.as_str()).collect::<Vec<_>>()))
}

fn pool_create_vlan(call: &Call, db: &mut Db) -> ApiResult<Value> {
    vlan_on_every_host(db, call.str(0), call.str(1), call.args[2].as_int().unwrap_or(-1))
}

fn pool_create_vlan_from_pif(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pif = call.str(0);
    handle(db, "PIF", pif)?;
    let device = s(db, pif, "device");
    vlan_on_every_host(db, &device, call.str(1), call.args[2].as_int().unwrap_or(-1))
}
