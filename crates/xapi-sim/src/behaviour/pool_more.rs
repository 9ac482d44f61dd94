//! The pool's single calls of issue 13: the telemetry UUID, the pool
//! secret, the vSwitch controller, the redo log, local storage caching,
//! Workload Balancing and `send_test_post`, with xapi's checks and errors.
//!
//! There is no WLB server behind the simulator: a call that would talk to
//! one fails as xapi does when the server cannot be reached
//! (WLB_URL_INVALID for a URL without host and port, WLB_UNKNOWN_HOST for
//! a name, which the simulator never resolves, WLB_CONNECTION_REFUSED for
//! an address). So `initialize_wlb`, which keeps the URL, user and a
//! password secret only once the server accepted the pool, keeps nothing;
//! a pool that has a WLB URL (a restored database) is deconfigured anyway,
//! as xapi does whatever the server answers. `send_test_post` makes no
//! request beyond loopback.

use crate::call::{BoxFuture, Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::rules::host::is_live;
use crate::rules::local_cache;
use crate::rules::pool::master;
use crate::rules::wlb;
use crate::values::empty_map;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;
use xenapi::wire::Response;
use xenapi::{Value, NULL_REF};

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("pool.reset_telemetry_uuid", Handler::Sync(reset_telemetry_uuid));
    t.insert("pool.rotate_secret", Handler::Sync(rotate_secret));
    t.insert("pool.set_vswitch_controller", Handler::Sync(set_vswitch_controller));
    t.insert("pool.enable_redo_log", Handler::Async(enable_redo_log));
    t.insert("pool.disable_redo_log", Handler::Sync(disable_redo_log));
    t.insert("pool.enable_local_storage_caching", Handler::Sync(enable_local_storage_caching));
    t.insert("pool.disable_local_storage_caching", Handler::Sync(disable_local_storage_caching));
    t.insert("pool.initialize_wlb", Handler::Sync(initialize_wlb));
    t.insert("pool.deconfigure_wlb", Handler::Sync(deconfigure_wlb));
    t.insert("pool.send_wlb_configuration", Handler::Sync(wlb_configuration));
    t.insert("pool.retrieve_wlb_configuration", Handler::Sync(wlb_configuration));
    t.insert("pool.retrieve_wlb_recommendations", Handler::Sync(retrieve_wlb_recommendations));
    t.insert("pool.send_test_post", Handler::Sync(send_test_post));
}

fn fail(code: &str) -> Failure {
    Failure::new::<&str>(code, [])
}

fn pool_ref(db: &Db) -> String {
    db.all("pool").into_iter().next().unwrap_or_else(|| NULL_REF.to_string())
}

fn destroy_secret(db: &mut Db, r: &str) {
    if db.is(r, "secret") {
        db.destroy(r);
    }
}

fn new_secret(db: &mut Db, value: &str) -> String {
    let c = db.cls("secret");
    db.create(c, vec![("value", Value::str(value)), ("other_config", empty_map())])
}

/// A new secret holding a new UUID becomes `telemetry_uuid`; the old one goes.
fn reset_telemetry_uuid(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pool = call.str(0).to_string();
    db.expect_is(&pool, "pool")?;
    let old = db.string(&pool, "telemetry_uuid");
    let uuid = db.new_uuid();
    let secret = new_secret(db, &uuid);
    db.set_named(&pool, "telemetry_uuid", Value::String(secret));
    destroy_secret(db, &old);
    Ok(Value::Nil)
}

/// xapi's checks before a pool secret rotation: every host reachable
/// (CANNOT_CONTACT_HOST, the least ref first), HA off, no pool operation
/// under way. The secret itself lives outside the database.
fn rotate_secret(_call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pool = pool_ref(db);
    let mut offline: Vec<String> = db.all("host").into_iter().filter(|h| !is_live(db, h)).collect();
    offline.sort();
    if let Some(h) = offline.first() {
        return Err(Failure::new("CANNOT_CONTACT_HOST", [h.as_str()]));
    }
    if db.bool(&pool, "ha_enabled") {
        return Err(fail("HA_IS_ENABLED"));
    }
    let ops = db.string_map(&pool, "current_operations");
    if !ops.is_empty() {
        let names: Vec<String> = ops.into_iter().map(|(_, op)| op).collect();
        return Err(Failure::new("INTERNAL_ERROR", [format!("pool operations in progress: [ {} ]", names.join("; "))]));
    }
    Ok(Value::Nil)
}

/// Only with Open vSwitch on the master; a changed address (IPv4, or empty
/// to clear) replaces the pool's SDN controller (ssl, port 6632).
fn set_vswitch_controller(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let address = call.str(0).to_string();
    let backend = db.map_get(&master(db), "software_version", "network_backend");
    if backend.as_deref() != Some("openvswitch") {
        return Err(Failure::new("OPERATION_NOT_ALLOWED", ["host not configured for vswitch operation"]));
    }
    let pool = pool_ref(db);
    if db.string(&pool, "vswitch_controller") == address {
        return Ok(Value::Nil);
    }
    if !address.is_empty() && address.parse::<Ipv4Addr>().is_err() {
        return Err(Failure::new("INVALID_IP_ADDRESS_SPECIFIED", ["address"]));
    }
    db.set_named(&pool, "vswitch_controller", Value::str(&address));
    if let Some(old) = db.all("SDN_controller").into_iter().next() {
        db.destroy(&old);
    }
    if !address.is_empty() {
        let c = db.cls("SDN_controller");
        db.create(
            c,
            vec![("protocol", Value::str("ssl")), ("address", Value::str(&address)), ("port", Value::Int(6632))],
        );
    }
    Ok(Value::Nil)
}

/// xapi's `Redo_log.minimum_vdi_size`: 4 GB in 4 MiB blocks, less two.
const REDO_LOG_MIN_SIZE: i64 = (4_000_000_000 / (4 << 20) - 2) * (4 << 20);

fn cannot_enable(why: &str) -> Failure {
    Failure::new("CANNOT_ENABLE_REDO_LOG", [why])
}

/// A redo-log VDI of the SR big enough, else a new one; then it must be
/// attachable by every host (a plugged PBD of the SR on each), and the
/// pool records it.
fn enable_redo_log(call: Call) -> BoxFuture {
    Box::pin(async move {
        let sr = call.str(0).to_string();
        let existing = {
            let db = call.core.db.read();
            db.expect_is(&sr, "SR")?;
            db.strings(&sr, "VDIs")
                .into_iter()
                .find(|v| db.string(v, "type") == "redo_log" && db.int(v, "virtual_size") >= REDO_LOG_MIN_SIZE)
        };
        let vdi = match existing {
            Some(v) => v,
            None => {
                let session = call.core.internal_session();
                let record = Value::Struct(vec![
                    ("name_label".into(), Value::str("Metadata redo-log")),
                    (
                        "name_description".into(),
                        Value::str("Used when HA is disabled, while extra security is still desired"),
                    ),
                    ("SR".into(), Value::str(&sr)),
                    ("virtual_size".into(), Value::Int(REDO_LOG_MIN_SIZE)),
                    ("type".into(), Value::str("redo_log")),
                    ("sharable".into(), Value::Bool(true)),
                    ("read_only".into(), Value::Bool(false)),
                    ("other_config".into(), empty_map()),
                    ("xenstore_data".into(), empty_map()),
                    ("sm_config".into(), Value::Struct(vec![("type".into(), Value::str("raw"))])),
                    ("tags".into(), Value::Array(Vec::new())),
                ]);
                let made = call.core.call("VDI.create", vec![Value::str(&session), record]).await;
                call.core.end_internal_session(&session);
                match made {
                    Response::Success(v) => v.as_str().unwrap_or_default().to_string(),
                    Response::Failure(_) => {
                        return Err(cannot_enable(
                            "failed to create a VDI for the redo log on the SR with the given UUID.",
                        ))
                    }
                }
            }
        };
        call.core.write(|db| {
            let pbds = db.strings(&sr, "PBDs");
            let reachable = |h: &String| {
                pbds.iter().any(|p| db.field_str(p, "host") == h.as_str() && db.bool(p, "currently_attached"))
            };
            if !db.all("host").iter().all(reachable) {
                return Err(cannot_enable("failed to make VDI static."));
            }
            let pool = pool_ref(db);
            db.set_named(&pool, "redo_log_vdi", Value::str(&vdi));
            db.set_named(&pool, "redo_log_enabled", Value::Bool(true));
            Ok(Value::Nil)
        })
    })
}

/// The flag goes off; the VDI stays recorded, as xapi leaves it.
fn disable_redo_log(_call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pool = pool_ref(db);
    db.set_named(&pool, "redo_log_enabled", Value::Bool(false));
    Ok(Value::Nil)
}

/// Each host caches on one of its own acceptable SRs (unshared, one PBD,
/// a driver that can): as xapi, `Host.enable_local_storage_caching` is
/// tried with each; a host where none worked fails the call with
/// HOSTS_FAILED_TO_ENABLE_CACHING, the others keep their cache.
fn enable_local_storage_caching(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect_is(call.str(0), "pool")?;
    let acceptable: Vec<String> = db.all("SR").into_iter().filter(|sr| local_cache::acceptable(db, sr)).collect();
    let mut failed = Vec::new();
    for host in db.all("host") {
        let mine: Vec<&String> = acceptable
            .iter()
            .filter(|sr| db.strings(sr, "PBDs").first().is_some_and(|p| db.field_str(p, "host") == host))
            .collect();
        let mut done = false;
        for sr in mine {
            done |= local_cache::enable(db, &host, sr).is_ok();
        }
        if !done {
            failed.push(host);
        }
    }
    if failed.is_empty() {
        Ok(Value::Nil)
    } else {
        Err(Failure::new("HOSTS_FAILED_TO_ENABLE_CACHING", failed))
    }
}

/// Every host stops caching (HOSTS_FAILED_TO_DISABLE_CACHING names those
/// not disabled or running guests, which keep theirs).
fn disable_local_storage_caching(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect_is(call.str(0), "pool")?;
    let mut failed = Vec::new();
    for host in db.all("host") {
        if local_cache::disable(db, &host).is_err() {
            failed.push(host);
        }
    }
    if failed.is_empty() {
        Ok(Value::Nil)
    } else {
        Err(Failure::new("HOSTS_FAILED_TO_DISABLE_CACHING", failed))
    }
}

/// xapi keeps the configuration only after the server accepted the pool.
fn initialize_wlb(call: &Call, _db: &mut Db) -> ApiResult<Value> {
    Err(wlb::unreachable(call.str(0)))
}

/// WLB_NOT_INITIALIZED without a URL; otherwise the configuration is
/// dropped whatever the server says, as xapi does.
fn deconfigure_wlb(_call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pool = pool_ref(db);
    if db.string(&pool, "wlb_url").is_empty() {
        return Err(fail("WLB_NOT_INITIALIZED"));
    }
    let secret = db.string(&pool, "wlb_password");
    db.set_named(&pool, "wlb_username", Value::str(""));
    db.set_named(&pool, "wlb_password", Value::str(NULL_REF));
    db.set_named(&pool, "wlb_url", Value::str(""));
    db.set_named(&pool, "wlb_enabled", Value::Bool(false));
    destroy_secret(db, &secret);
    Ok(Value::Nil)
}

/// Sending or fetching the optimisation settings: the server must be configured.
fn wlb_configuration(_call: &Call, db: &mut Db) -> ApiResult<Value> {
    Err(wlb::request(db))
}

/// Recommendations need WLB configured and enabled.
fn retrieve_wlb_recommendations(_call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pool = pool_ref(db);
    let url = db.string(&pool, "wlb_url");
    if url.is_empty() {
        return Err(fail("WLB_NOT_INITIALIZED"));
    }
    if !db.bool(&pool, "wlb_enabled") {
        return Err(fail("WLB_DISABLED"));
    }
    Err(wlb::unreachable(&url))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
}

/// An HTTPS POST of the body to `host:port`. Only loopback is tried (a
/// closed port answers as stunnel's refused connection does); anything
/// else is out of the simulator's reach and times out as xapi's 30 s wait
/// would, at once. An open loopback port is not posted to either.
fn send_test_post(call: &Call, _db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0);
    let port = call.args.get(1).and_then(Value::as_int).unwrap_or(0);
    if !is_loopback(host) {
        return Err(Failure::new("WLB_TIMEOUT", ["30.0"]));
    }
    let Ok(port) = u16::try_from(port) else {
        return Err(Failure::new("INTERNAL_ERROR", ["Stunnel.Stunnel_error(\"Invalid argument\")"]));
    };
    let ip: IpAddr = if host == "localhost" {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    };
    match TcpStream::connect_timeout(&SocketAddr::new(ip, port), Duration::from_secs(2)) {
        Err(_) => Err(Failure::new("INTERNAL_ERROR", ["Stunnel.Stunnel_error(\"Connection refused\")"])),
        Ok(_) => Err(Failure::new(
            "INTERNAL_ERROR",
            [format!("the simulator does not post to {host}:{port}, it only checks that nothing listens there")],
        )),
    }
}
