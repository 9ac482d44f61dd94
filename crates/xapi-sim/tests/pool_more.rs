//! The pool's single calls of issue 13 over the wire, where xapi has a
//! rule: a pool secret rotation needs every host and no HA; the redo log
//! does not reuse HA's small redo-log VDI; test posts reach loopback only.

// Tests own the terminal and read the environment.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use common::wire::{self, s, sim};
use std::net::SocketAddr;
use xapi_sim::Sim;
use xenapi::client::{Error, Session};
use xenapi::Value;

fn login(sim: &Sim) -> Session {
    wire::login(sim, "pool-more-tests")
}

fn text(v: Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn api_error<T: std::fmt::Debug>(r: Result<T, Error>) -> Vec<String> {
    match r {
        Err(Error::Api { code, params }) => std::iter::once(code).chain(params).collect(),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn refs(v: Value) -> Vec<String> {
    v.as_array().expect("a list").iter().map(|v| text(v.clone())).collect()
}

fn pool(x: &mut Session) -> String {
    refs(x.call("pool.get_all", &[]).expect("pools")).remove(0)
}

fn sr_of_type(x: &mut Session, ty: &str) -> String {
    refs(x.call("SR.get_all", &[]).expect("SRs"))
        .into_iter()
        .find(|sr| text(x.call("SR.get_type", &[s(sr)]).expect("type")) == ty)
        .expect("an SR of that type")
}

fn post(addr: SocketAddr, path: &str) -> u16 {
    wire::post_as_root(addr, path).status()
}

#[test]
fn rotating_the_pool_secret_needs_every_host_and_no_ha() {
    let sim = sim();
    let mut x = login(&sim);
    x.call("pool.rotate_secret", &[]).expect("rotate_secret");
    let nfs = sr_of_type(&mut x, "nfs");
    x.call("pool.enable_ha", &[Value::Array(vec![s(&nfs)]), Value::Struct(vec![])]).expect("enable_ha");
    assert_eq!(api_error(x.call("pool.rotate_secret", &[])), ["HA_IS_ENABLED"]);
    x.call("pool.disable_ha", &[]).expect("disable_ha");
    let host = refs(x.call("host.get_by_name_label", &[s("xs-host-3")]).expect("host")).remove(0);
    let uuid = text(x.call("host.get_uuid", &[s(&host)]).expect("uuid"));
    assert_eq!(post(sim.addr, &format!("/sim/hosts/{uuid}/fail")), 200);
    assert_eq!(api_error(x.call("pool.rotate_secret", &[])), ["CANNOT_CONTACT_HOST", host.as_str()]);
}

#[test]
fn the_redo_log_does_not_take_has_small_vdi() {
    let sim = sim();
    let mut x = login(&sim);
    let p = pool(&mut x);
    let nfs = sr_of_type(&mut x, "nfs");
    x.call("pool.enable_ha", &[Value::Array(vec![s(&nfs)]), Value::Struct(vec![])]).expect("enable_ha");
    let small: Vec<String> = refs(x.call("SR.get_VDIs", &[s(&nfs)]).expect("VDIs"))
        .into_iter()
        .filter(|v| text(x.call("VDI.get_type", &[s(v)]).expect("type")) == "redo_log")
        .collect();
    assert_eq!(small.len(), 1);
    x.call("pool.enable_redo_log", &[s(&nfs)]).expect("enable_redo_log");
    let vdi = text(x.call("pool.get_redo_log_vdi", &[s(&p)]).expect("vdi"));
    assert_ne!(vdi, small[0]);
    assert_eq!(x.call("VDI.get_virtual_size", &[s(&vdi)]).expect("size").as_int(), Some(3_988_783_104));
    assert_eq!(x.call("pool.get_redo_log_enabled", &[s(&p)]).expect("flag").as_bool(), Some(true));
}

#[test]
fn test_posts_go_no_further_than_loopback() {
    let sim = sim();
    let mut x = login(&sim);
    let post =
        |x: &mut Session, host: &str, port: i64| x.call("pool.send_test_post", &[s(host), Value::Int(port), s("hi")]);
    assert_eq!(api_error(post(&mut x, "192.0.2.9", 443)), ["WLB_TIMEOUT", "30.0"]);
    assert_eq!(api_error(post(&mut x, "wlb.example.com", 443)), ["WLB_TIMEOUT", "30.0"]);
    // Something listens at the simulator's own port: it is not posted to.
    let error = api_error(post(&mut x, "127.0.0.1", i64::from(sim.addr.port())));
    assert_eq!(error[0], "INTERNAL_ERROR");
    assert!(error[1].contains("does not post"), "{error:?}");
    assert_eq!(
        api_error(post(&mut x, "127.0.0.1", 70_000)),
        ["INTERNAL_ERROR", "Stunnel.Stunnel_error(\"Invalid argument\")"]
    );
}
