//! `network.*`: bridge allocation on create, and destroy refused while
//! devices still use the network.

use super::enum_arg;
use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::record::parse_record;
use std::collections::HashMap;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("network.create", Handler::Sync(create));
    t.insert("network.destroy", Handler::Sync(destroy));
    t.insert("network.set_default_locking_mode", Handler::Sync(set_default_locking_mode));
}

/// Bridge name prefixes a client may not choose: the pool's own naming schemes.
const RESERVED_BRIDGE_PREFIXES: &[&str] = &["xen", "xapi", "vif", "tap", "eth"];
/// Longest Linux interface name.
const MAX_BRIDGE_LEN: usize = 15;

fn create(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let mut rec = parse_record(db, db.cls("network"), &call.args[0])?;
    let bridges: Vec<String> = db.all("network").iter().map(|n| db.string(n, "bridge")).collect();
    let bridge = rec.str("bridge").to_string();
    let bridge = if bridge.is_empty() {
        (0..).map(|n| format!("xapi{n}")).find(|b| !bridges.contains(b)).unwrap_or_default()
    } else {
        if bridge.len() > MAX_BRIDGE_LEN || RESERVED_BRIDGE_PREFIXES.iter().any(|p| bridge.starts_with(p)) {
            return Err(Failure::new("INVALID_VALUE", ["bridge", bridge.as_str()]));
        }
        if bridges.contains(&bridge) {
            return Err(Failure::new("BRIDGE_NAME_EXISTS", [bridge]));
        }
        bridge
    };
    if rec.int("MTU") <= 0 {
        rec.set("MTU", Value::Int(1500));
    }
    rec.set("bridge", Value::String(bridge));
    Ok(Value::String(rec.insert(db)))
}

fn destroy(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let net = call.str(0);
    db.expect_is(net, "network")?;
    let vifs = db.strings(net, "VIFs");
    let connected: Vec<String> = vifs.iter().filter(|v| db.bool(v, "currently_attached")).cloned().collect();
    if !connected.is_empty() {
        return Err(Failure::new("NETWORK_CONTAINS_VIF", connected));
    }
    let pifs = db.strings(net, "PIFs");
    if !pifs.is_empty() {
        return Err(Failure::new("NETWORK_CONTAINS_PIF", pifs));
    }
    if db.map_get(net, "other_config", "is_host_internal_management_network").as_deref() == Some("true") {
        return Err(Failure::new("CANNOT_DESTROY_SYSTEM_NETWORK", [net]));
    }
    // xapi destroys the (unplugged) VIFs at once rather than leaving them to its GC.
    for v in vifs {
        db.destroy(&v);
    }
    db.destroy(net);
    Ok(Value::str(""))
}

fn set_default_locking_mode(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let net = call.str(0);
    db.expect_is(net, "network")?;
    if let Some(v) = db.strings(net, "VIFs").into_iter().find(|v| db.bool(v, "currently_attached")) {
        return Err(Failure::new("VIF_IN_USE", [net.to_string(), v]));
    }
    let mode = enum_arg(&call.args[1], "network_default_locking_mode");
    db.set_named(net, "default_locking_mode", Value::String(mode));
    Ok(Value::str(""))
}
