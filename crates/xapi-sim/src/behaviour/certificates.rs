//! Certificates and TLS verification: a host's server certificate (read,
//! installed with xapi's checks and errors, reset to a new self-signed one;
//! the host's listener serves the new one from the next handshake on), its
//! pool-internal certificate (`refresh_server_certificate`), the pool's CA
//! certificates and CRLs (by name, as xapi's certificate stores), and the
//! `tls_verification_enabled` flags. The checks and the store are in
//! [`crate::certs`], the `Certificate` records in [`crate::rules::certificate`].
//!
//! The simulator has no stunnel and no connections between its hosts, so
//! `certificate_sync` has nothing to copy and enabling verification only
//! records it.

use crate::call::{Call, Handler};
use crate::certs::{self, Refusal, Served};
use crate::db::{ApiResult, Db, Failure};
use crate::rules::certificate as records;
use crate::rules::ha::{enabled as ha_enabled, pool_ref};
use crate::rules::pool::master;
use std::collections::HashMap;
use std::sync::Arc;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("host.get_server_certificate", Handler::Sync(get_server_certificate));
    t.insert("host.install_server_certificate", Handler::Sync(install_server_certificate));
    t.insert("host.reset_server_certificate", Handler::Sync(reset_server_certificate));
    t.insert("host.emergency_reset_server_certificate", Handler::Sync(emergency_reset_server_certificate));
    t.insert("host.refresh_server_certificate", Handler::Sync(refresh_server_certificate));
    t.insert("host.emergency_disable_tls_verification", Handler::Sync(emergency_disable_tls_verification));
    t.insert("host.emergency_reenable_tls_verification", Handler::Sync(emergency_reenable_tls_verification));
    t.insert("pool.enable_tls_verification", Handler::Sync(enable_tls_verification));
    t.insert("pool.install_ca_certificate", Handler::Sync(install_ca_certificate));
    t.insert("pool.certificate_install", Handler::Sync(install_ca_certificate));
    t.insert("pool.uninstall_ca_certificate", Handler::Sync(uninstall_ca_certificate));
    t.insert("pool.certificate_uninstall", Handler::Sync(uninstall_ca_certificate));
    t.insert("pool.certificate_list", Handler::Sync(certificate_list));
    t.insert("pool.certificate_sync", Handler::Sync(certificate_sync));
    t.insert("pool.crl_install", Handler::Sync(crl_install));
    t.insert("pool.crl_uninstall", Handler::Sync(crl_uninstall));
    t.insert("pool.crl_list", Handler::Sync(crl_list));
    t.insert("pool.enable_client_certificate_auth", Handler::Sync(enable_client_certificate_auth));
    t.insert("pool.disable_client_certificate_auth", Handler::Sync(disable_client_certificate_auth));
}

fn refused((code, params): Refusal) -> Failure {
    Failure::new(code, params)
}

fn internal(e: impl std::fmt::Display) -> Failure {
    Failure::new("INTERNAL_ERROR", [e.to_string()])
}

fn now(db: &Db) -> i64 {
    db.now().as_str().and_then(xenapi::datetime::parse).unwrap_or(0)
}

/// The host a session made with `slave_local_login_with_password` is on,
/// else the master: where an emergency call runs.
fn this_host(call: &Call, db: &Db) -> String {
    let session = call.session.as_deref().unwrap_or_default();
    let local = call.core.sessions.lock().get(session).and_then(|m| m.local_to.clone());
    local
        .and_then(|address| db.all("host").into_iter().find(|h| db.string(h, "address") == address))
        .unwrap_or_else(|| master(db))
}

/// Makes `pem` the host's server certificate and records it.
fn serve(call: &Call, db: &mut Db, host: &str, pem: &str) -> ApiResult<Arc<Served>> {
    let served = call.core.certs.put(&db.string(host, "uuid"), pem).map_err(internal)?;
    records::replace_host(db, host, "host", &served.facts);
    Ok(served)
}

/// A new self-signed certificate for the host, served and recorded.
fn new_self_signed(call: &Call, db: &mut Db, host: &str) -> ApiResult<Arc<Served>> {
    let pem = certs::self_signed(&db.string(host, "hostname"), &db.string(host, "address"), certs::SELF_SIGNED_DAYS)
        .map_err(internal)?;
    serve(call, db, host, &pem)
}

fn get_server_certificate(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0).to_string();
    db.expect_is(&host, "host")?;
    // What the host's listener serves: its own certificate, else (a host
    // that came into this pool after the start) the front door's pair.
    let served = call.core.certs.get(&db.string(&host, "uuid")).or_else(|| call.core.certs.front());
    match served {
        Some(s) => Ok(Value::str(&s.leaf_pem)),
        None => Err(Failure::new::<&str>("CERTIFICATE_LIBRARY_CORRUPT", [])),
    }
}

/// xapi's order: HA refuses, then the key, the certificate, their match,
/// the signature, the chain.
fn install_server_certificate(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0).to_string();
    db.expect_is(&host, "host")?;
    if ha_enabled(db) {
        return Err(Failure::new::<&str>("HA_IS_ENABLED", []));
    }
    let pem = certs::check_server_certificate(call.str(1), call.str(2), call.str(3), now(db)).map_err(refused)?;
    serve(call, db, &host, &pem)?;
    Ok(Value::Nil)
}

fn reset_server_certificate(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0).to_string();
    db.expect_is(&host, "host")?;
    new_self_signed(call, db, &host)?;
    Ok(Value::Nil)
}

/// On the host the call reached. xapi does this without its database; the
/// simulator's hosts always reach it, so the record follows too.
fn emergency_reset_server_certificate(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = this_host(call, db);
    new_self_signed(call, db, &host)?;
    Ok(Value::Nil)
}

/// A new pool-internal (`host_internal`) certificate for the host; its
/// server certificate stays.
fn refresh_server_certificate(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0).to_string();
    db.expect_is(&host, "host")?;
    let pem = certs::self_signed(&db.string(&host, "uuid"), "", certs::SELF_SIGNED_DAYS).map_err(internal)?;
    let served = certs::served(&pem).map_err(internal)?;
    records::replace_host(db, &host, "host_internal", &served.facts);
    Ok(Value::Nil)
}

fn emergency_disable_tls_verification(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = this_host(call, db);
    db.set_named(&host, "tls_verification_enabled", Value::Bool(false));
    Ok(Value::Nil)
}

fn emergency_reenable_tls_verification(call: &Call, db: &mut Db) -> ApiResult<Value> {
    if !db.bool(&pool_ref(db), "tls_verification_enabled") {
        return Err(Failure::new::<&str>("TLS_VERIFICATION_NOT_ENABLED_IN_POOL", []));
    }
    let host = this_host(call, db);
    db.set_named(&host, "tls_verification_enabled", Value::Bool(true));
    Ok(Value::Nil)
}

/// Every host verifies, then the pool records it.
fn enable_tls_verification(_call: &Call, db: &mut Db) -> ApiResult<Value> {
    for h in db.all("host") {
        db.set_named(&h, "tls_verification_enabled", Value::Bool(true));
    }
    let pool = pool_ref(db);
    db.set_named(&pool, "tls_verification_enabled", Value::Bool(true));
    Ok(Value::Nil)
}

/// The certificate is checked first (CA_CERTIFICATE_*), then its name.
fn install_ca_certificate(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let (name, cert) = (call.str(0), call.str(1));
    let facts = certs::check_ca_certificate(cert, now(db)).map_err(refused)?;
    if certs::unsafe_name(name) {
        return Err(Failure::new("CERTIFICATE_NAME_INVALID", [name]));
    }
    if !records::ca_named(db, name).is_empty() {
        return Err(Failure::new("CERTIFICATE_ALREADY_EXISTS", [name]));
    }
    records::add_ca(db, name, &facts);
    Ok(Value::Nil)
}

fn uninstall_ca_certificate(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let name = call.str(0);
    if certs::unsafe_name(name) {
        return Err(Failure::new("CERTIFICATE_NAME_INVALID", [name]));
    }
    let named = records::ca_named(db, name);
    if named.is_empty() {
        return Err(Failure::new("CERTIFICATE_DOES_NOT_EXIST", [name]));
    }
    for c in named {
        db.destroy(&c);
    }
    Ok(Value::Nil)
}

fn certificate_list(_call: &Call, db: &mut Db) -> ApiResult<Value> {
    Ok(Value::Array(records::ca_names(db).iter().map(Value::str).collect()))
}

fn certificate_sync(_call: &Call, _db: &mut Db) -> ApiResult<Value> {
    Ok(Value::Nil)
}

fn crl_install(call: &Call, _db: &mut Db) -> ApiResult<Value> {
    let (name, crl) = (call.str(0), call.str(1));
    if certs::unsafe_name(name) {
        return Err(Failure::new("CRL_NAME_INVALID", [name]));
    }
    if !call.core.certs.crl_add(name, crl).map_err(|_| Failure::new::<&str>("CERTIFICATE_LIBRARY_CORRUPT", []))? {
        return Err(Failure::new("CRL_ALREADY_EXISTS", [name]));
    }
    Ok(Value::Nil)
}

fn crl_uninstall(call: &Call, _db: &mut Db) -> ApiResult<Value> {
    let name = call.str(0);
    if certs::unsafe_name(name) {
        return Err(Failure::new("CRL_NAME_INVALID", [name]));
    }
    if !call.core.certs.crl_remove(name).map_err(|_| Failure::new("CRL_CORRUPT", [name]))? {
        return Err(Failure::new("CRL_DOES_NOT_EXIST", [name]));
    }
    Ok(Value::Nil)
}

fn crl_list(call: &Call, _db: &mut Db) -> ApiResult<Value> {
    Ok(Value::Array(call.core.certs.crl_names().iter().map(Value::str).collect()))
}

/// Records the name client certificates are accepted for (xapi itself does
/// no more yet than record it and restart its management interface).
fn enable_client_certificate_auth(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pool = call.str(0).to_string();
    db.expect_is(&pool, "pool")?;
    db.set_named(&pool, "client_certificate_auth_enabled", Value::Bool(true));
    db.set_named(&pool, "client_certificate_auth_name", Value::str(call.str(1)));
    Ok(Value::Nil)
}

fn disable_client_certificate_auth(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pool = call.str(0).to_string();
    db.expect_is(&pool, "pool")?;
    db.set_named(&pool, "client_certificate_auth_enabled", Value::Bool(false));
    db.set_named(&pool, "client_certificate_auth_name", Value::str(""));
    Ok(Value::Nil)
}
