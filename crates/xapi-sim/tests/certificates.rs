//! Certificates: each host's server certificate and its `Certificate`
//! records, `host.install_server_certificate` with xapi's checks in xapi's
//! order, reset and refresh, the pool's CA certificates and CRLs, and the
//! TLS verification flags.

mod common;

use common::{core, err, fails, login, ok, s};
use std::sync::Arc;
use xapi_sim::Core;
use xenapi::Value;

const SERVER_CRT: &str = include_str!("fixtures/certs/server.crt");
const SERVER_KEY: &str = include_str!("fixtures/certs/server.key");
const OTHER_KEY: &str = include_str!("fixtures/certs/other.key");
const SMALL_KEY: &str = include_str!("fixtures/certs/small.key");
const SHA1_CRT: &str = include_str!("fixtures/certs/sha1.crt");
const CA_CRT: &str = include_str!("fixtures/certs/ca.crt");

async fn hosts(core: &Arc<Core>, session: &Value) -> Vec<Value> {
    ok(core, "host.get_all", vec![session.clone()]).await.as_array().unwrap().to_vec()
}

/// The host's certificate records of a type, as (ref, record).
async fn certs_of(core: &Arc<Core>, session: &Value, host: &Value, kind: &str) -> Vec<Value> {
    let all = ok(core, "Certificate.get_all_records", vec![session.clone()]).await;
    let Value::Struct(map) = all else { panic!("{all:?}") };
    map.into_iter()
        .map(|(_, rec)| rec)
        .filter(|rec| rec.get("host") == Some(host) && rec.get("type").and_then(Value::as_str) == Some(kind))
        .collect()
}

fn sha256_of_pem(pem: &str) -> String {
    let der = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap().1.contents;
    xapi_sim::certs::pp_hash(ring::digest::digest(&ring::digest::SHA256, &der).as_ref())
}

/// A certificate for SERVER_KEY valid from `from` to `to` (seconds from now).
fn rsa_cert(from: i64, to: i64) -> String {
    let key = rcgen::KeyPair::from_pem(SERVER_KEY).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["xapi-sim.test".to_string()]).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::seconds(from);
    params.not_after = now + time::Duration::seconds(to);
    params.self_signed(&key).unwrap().pem()
}

#[tokio::test]
async fn every_host_has_a_server_certificate_and_its_records() {
    let core = core();
    let session = login(&core).await;
    for host in hosts(&core, &session).await {
        let pem = ok(&core, "host.get_server_certificate", vec![session.clone(), host.clone()]).await;
        let pem = pem.as_str().unwrap().to_string();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
        let recs = certs_of(&core, &session, &host, "host").await;
        assert_eq!(recs.len(), 1, "{recs:?}");
        assert_eq!(recs[0].get("fingerprint").and_then(Value::as_str), Some(sha256_of_pem(&pem).as_str()));
        assert_eq!(recs[0].get("name").and_then(Value::as_str), Some(""));
        assert_eq!(certs_of(&core, &session, &host, "host_internal").await.len(), 1);
        let mine = ok(&core, "host.get_certificates", vec![session.clone(), host.clone()]).await;
        assert_eq!(mine.as_array().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn install_checks_in_xapis_order() {
    let core = core();
    let session = login(&core).await;
    let host = hosts(&core, &session).await[0].clone();
    let install = |cert: &str, key: &str, chain: &str| vec![session.clone(), host.clone(), s(cert), s(key), s(chain)];
    let m = "host.install_server_certificate";
    assert_eq!(fails(&core, m, install(SERVER_CRT, "junk", "")).await, err(&["SERVER_CERTIFICATE_KEY_INVALID"]));
    assert_eq!(
        fails(&core, m, install(SERVER_CRT, SMALL_KEY, "")).await,
        err(&["SERVER_CERTIFICATE_KEY_RSA_LENGTH_NOT_SUPPORTED", "1024"])
    );
    let ec = rcgen::KeyPair::generate().unwrap().serialize_pem();
    assert_eq!(
        fails(&core, m, install(SERVER_CRT, &ec, "")).await,
        err(&["SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED", "P256"])
    );
    assert_eq!(fails(&core, m, install("junk", SERVER_KEY, "")).await, err(&["SERVER_CERTIFICATE_INVALID"]));
    let e = fails(&core, m, install(&rsa_cert(-7200, -3600), SERVER_KEY, "")).await;
    assert_eq!(e[0], "SERVER_CERTIFICATE_EXPIRED", "{e:?}");
    assert!(e[1].ends_with('Z') && e[1].contains('-') && e.len() == 3, "{e:?}");
    let e = fails(&core, m, install(&rsa_cert(3600, 7200), SERVER_KEY, "")).await;
    assert_eq!(e[0], "SERVER_CERTIFICATE_NOT_VALID_YET", "{e:?}");
    assert_eq!(fails(&core, m, install(SERVER_CRT, OTHER_KEY, "")).await, err(&["SERVER_CERTIFICATE_KEY_MISMATCH"]));
    assert_eq!(
        fails(&core, m, install(SHA1_CRT, SERVER_KEY, "")).await,
        err(&["SERVER_CERTIFICATE_SIGNATURE_NOT_SUPPORTED"])
    );
    assert_eq!(
        fails(&core, m, install(SERVER_CRT, SERVER_KEY, "junk")).await,
        err(&["SERVER_CERTIFICATE_CHAIN_INVALID"])
    );
    let before = certs_of(&core, &session, &host, "host").await;
    ok(&core, m, install(SERVER_CRT, SERVER_KEY, CA_CRT)).await;
    let pem = ok(&core, "host.get_server_certificate", vec![session.clone(), host.clone()]).await;
    assert_eq!(sha256_of_pem(pem.as_str().unwrap()), sha256_of_pem(SERVER_CRT));
    let after = certs_of(&core, &session, &host, "host").await;
    assert_eq!(after.len(), 1);
    assert_ne!(after[0].get("uuid"), before[0].get("uuid"));
    assert_eq!(after[0].get("fingerprint").and_then(Value::as_str), Some(sha256_of_pem(SERVER_CRT).as_str()));
    let uuid = ok(&core, "host.get_uuid", vec![session.clone(), host.clone()]).await;
    let served = core.certs.get(uuid.as_str().unwrap()).unwrap();
    assert_eq!(served.key.cert.len(), 2, "the chain is served after the leaf");
}

#[tokio::test]
async fn reset_makes_a_new_self_signed_certificate_and_refresh_a_new_internal_one() {
    let core = core();
    let session = login(&core).await;
    let host = hosts(&core, &session).await[1].clone();
    let old = ok(&core, "host.get_server_certificate", vec![session.clone(), host.clone()]).await;
    let internal = certs_of(&core, &session, &host, "host_internal").await;
    ok(&core, "host.reset_server_certificate", vec![session.clone(), host.clone()]).await;
    let new = ok(&core, "host.get_server_certificate", vec![session.clone(), host.clone()]).await;
    assert_ne!(old, new);
    let recs = certs_of(&core, &session, &host, "host").await;
    assert_eq!(recs[0].get("fingerprint").and_then(Value::as_str), Some(sha256_of_pem(new.as_str().unwrap()).as_str()));
    assert_eq!(certs_of(&core, &session, &host, "host_internal").await, internal);
    ok(&core, "host.refresh_server_certificate", vec![session.clone(), host.clone()]).await;
    let refreshed = certs_of(&core, &session, &host, "host_internal").await;
    assert_eq!(refreshed.len(), 1);
    assert_ne!(refreshed, internal);
    let again = ok(&core, "host.get_server_certificate", vec![session.clone(), host.clone()]).await;
    assert_eq!(again, new, "refresh leaves the server certificate");
}

#[tokio::test]
async fn install_is_refused_while_ha_is_on() {
    let core = core();
    let session = login(&core).await;
    let host = hosts(&core, &session).await[0].clone();
    core.write(|db| {
        let pool = db.all("pool")[0].clone();
        db.set_named(&pool, "ha_enabled", Value::Bool(true));
        Ok(())
    })
    .unwrap();
    let e = fails(
        &core,
        "host.install_server_certificate",
        vec![session.clone(), host, s(SERVER_CRT), s(SERVER_KEY), s("")],
    )
    .await;
    assert_eq!(e, err(&["HA_IS_ENABLED"]));
}

#[tokio::test]
async fn ca_certificates_by_name() {
    let core = core();
    let session = login(&core).await;
    let install = |name: &str, cert: &str| vec![session.clone(), s(name), s(cert)];
    let e = fails(&core, "pool.install_ca_certificate", install("ca.pem", "junk")).await;
    assert_eq!(e, err(&["CA_CERTIFICATE_INVALID"]));
    let e = fails(&core, "pool.install_ca_certificate", install("ca.crt", CA_CRT)).await;
    assert_eq!(e, err(&["CERTIFICATE_NAME_INVALID", "ca.crt"]));
    ok(&core, "pool.install_ca_certificate", install("ca.pem", CA_CRT)).await;
    let e = fails(&core, "pool.certificate_install", install("ca.pem", CA_CRT)).await;
    assert_eq!(e, err(&["CERTIFICATE_ALREADY_EXISTS", "ca.pem"]));
    ok(&core, "pool.certificate_install", install("ca-2.pem", CA_CRT)).await;
    let names = ok(&core, "pool.certificate_list", vec![session.clone()]).await;
    assert_eq!(names, Value::Array(vec![s("ca.pem"), s("ca-2.pem")]));
    let all = ok(&core, "Certificate.get_all_records", vec![session.clone()]).await;
    let Value::Struct(map) = all else { panic!() };
    let ca: Vec<_> =
        map.iter().map(|(_, r)| r).filter(|r| r.get("type").and_then(Value::as_str) == Some("ca")).collect();
    assert_eq!(ca.len(), 2);
    assert!(ca.iter().all(|r| r.get("host").and_then(Value::as_str) == Some(xenapi::NULL_REF)));
    ok(&core, "pool.uninstall_ca_certificate", vec![session.clone(), s("ca.pem")]).await;
    let e = fails(&core, "pool.certificate_uninstall", vec![session.clone(), s("ca.pem")]).await;
    assert_eq!(e, err(&["CERTIFICATE_DOES_NOT_EXIST", "ca.pem"]));
    let e = fails(&core, "pool.uninstall_ca_certificate", vec![session.clone(), s(".x.pem")]).await;
    assert_eq!(e, err(&["CERTIFICATE_NAME_INVALID", ".x.pem"]));
    let names = ok(&core, "pool.certificate_list", vec![session.clone()]).await;
    assert_eq!(names, Value::Array(vec![s("ca-2.pem")]));
    ok(&core, "pool.certificate_sync", vec![session.clone()]).await;
}

#[tokio::test]
async fn crls_by_name() {
    let core = core();
    let session = login(&core).await;
    let e = fails(&core, "pool.crl_install", vec![session.clone(), s("a b.pem"), s("x")]).await;
    assert_eq!(e, err(&["CRL_NAME_INVALID", "a b.pem"]));
    ok(&core, "pool.crl_install", vec![session.clone(), s("b.pem"), s("x")]).await;
    ok(&core, "pool.crl_install", vec![session.clone(), s("a.pem"), s("x")]).await;
    let e = fails(&core, "pool.crl_install", vec![session.clone(), s("a.pem"), s("x")]).await;
    assert_eq!(e, err(&["CRL_ALREADY_EXISTS", "a.pem"]));
    assert_eq!(ok(&core, "pool.crl_list", vec![session.clone()]).await, Value::Array(vec![s("a.pem"), s("b.pem")]));
    ok(&core, "pool.crl_uninstall", vec![session.clone(), s("a.pem")]).await;
    let e = fails(&core, "pool.crl_uninstall", vec![session.clone(), s("a.pem")]).await;
    assert_eq!(e, err(&["CRL_DOES_NOT_EXIST", "a.pem"]));
    assert_eq!(ok(&core, "pool.crl_list", vec![session.clone()]).await, Value::Array(vec![s("b.pem")]));
}

#[tokio::test]
async fn tls_verification_flags() {
    let core = core();
    let session = login(&core).await;
    let pool = ok(&core, "pool.get_all", vec![session.clone()]).await.as_array().unwrap()[0].clone();
    // The demo pool verifies; a pool that never enabled it does not.
    core.write(|db| {
        for r in db.all("pool").into_iter().chain(db.all("host")) {
            db.set_named(&r, "tls_verification_enabled", Value::Bool(false));
        }
        Ok(())
    })
    .unwrap();
    let e = fails(&core, "host.emergency_reenable_tls_verification", vec![session.clone()]).await;
    assert_eq!(e, err(&["TLS_VERIFICATION_NOT_ENABLED_IN_POOL"]));
    ok(&core, "pool.enable_tls_verification", vec![session.clone()]).await;
    let on = ok(&core, "pool.get_tls_verification_enabled", vec![session.clone(), pool.clone()]).await;
    assert_eq!(on, Value::Bool(true));
    for h in hosts(&core, &session).await {
        let v = ok(&core, "host.get_tls_verification_enabled", vec![session.clone(), h]).await;
        assert_eq!(v, Value::Bool(true));
    }
    let master = ok(&core, "pool.get_master", vec![session.clone(), pool.clone()]).await;
    ok(&core, "host.emergency_disable_tls_verification", vec![session.clone()]).await;
    let v = ok(&core, "host.get_tls_verification_enabled", vec![session.clone(), master.clone()]).await;
    assert_eq!(v, Value::Bool(false));
    ok(&core, "host.emergency_reenable_tls_verification", vec![session.clone()]).await;
    let v = ok(&core, "host.get_tls_verification_enabled", vec![session.clone(), master]).await;
    assert_eq!(v, Value::Bool(true));
}

#[test]
fn a_state_keeps_each_hosts_certificate() {
    let dir = std::env::temp_dir().join(format!("xapi-sim-certs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let opts = || xapi_sim::server::SimOptions { state: Some(dir.join("state")), ..Default::default() };
    let first = xapi_sim::server::build_core(&opts()).unwrap();
    let uuids: Vec<String> = {
        let db = first.db.read();
        db.all("host").iter().map(|h| db.string(h, "uuid")).collect()
    };
    let host = uuids[0].clone();
    let pem = xapi_sim::certs::check_server_certificate(SERVER_CRT, SERVER_KEY, "", 0).err();
    assert!(pem.is_some(), "validity is checked against the time given");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let pem = xapi_sim::certs::check_server_certificate(SERVER_CRT, SERVER_KEY, "", now).unwrap();
    first.certs.put(&host, &pem).unwrap();
    assert!(first.certs.crl_add("kept.pem", "a CRL").unwrap());
    let prints: Vec<String> = uuids.iter().map(|u| first.certs.get(u).unwrap().facts.sha256.clone()).collect();
    first.checkpoint().unwrap();
    drop(first);
    let second = xapi_sim::server::build_core(&opts()).unwrap();
    let again: Vec<String> = uuids.iter().map(|u| second.certs.get(u).unwrap().facts.sha256.clone()).collect();
    assert_eq!(prints, again);
    assert_eq!(again[0], sha256_of_pem(SERVER_CRT));
    assert_eq!(second.certs.crl_names(), vec!["kept.pem".to_string()]);
    let db = second.db.read();
    let h = db.by_uuid(db.cls("host"), &host).unwrap().to_string();
    let recs = xapi_sim::rules::certificate::of_host(&db, &h, "host");
    assert_eq!(recs.len(), 1);
    assert_eq!(db.string(&recs[0], "fingerprint"), again[0], "the record follows the kept certificate");
    drop(db);
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}
