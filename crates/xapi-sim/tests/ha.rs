//! HA over the wire: `pool.enable_ha` and its checks, the planning calls,
//! `VM.set_ha_restart_priority`/`set_order`, and a failed host's protected
//! VMs restarting on the survivors (and not without HA).

// Tests own the terminal and read the environment.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use common::wire::{self, s, sim};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use xapi_sim::Sim;
use xenapi::client::{Error, Session};
use xenapi::Value;

fn login(sim: &Sim) -> Session {
    wire::login(sim, "ha-tests")
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

fn field(x: &mut Session, class: &str, name: &str, r: &str) -> Value {
    x.call(&format!("{class}.get_{name}"), &[s(r)]).expect(name)
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
        .find(|sr| text(field(x, "SR", "type", sr)) == ty)
        .expect("an SR of that type")
}

fn host_named(x: &mut Session, name: &str) -> String {
    refs(x.call("host.get_by_name_label", &[s(name)]).expect("hosts")).remove(0)
}

fn guests_on(x: &mut Session, host: &str) -> Vec<String> {
    refs(field(x, "host", "resident_VMs", host))
        .into_iter()
        .filter(|vm| !field(x, "VM", "is_control_domain", vm).as_bool().unwrap_or(true))
        .collect()
}

fn post(addr: SocketAddr, path: &str) -> (u16, String) {
    let answer = wire::post_as_root(addr, path);
    (answer.status(), String::from_utf8_lossy(&answer.body).into_owned())
}

fn until(what: &str, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The agile guests of a host: disks only on shared storage (or none).
fn agile_guests(x: &mut Session, host: &str) -> Vec<String> {
    let mut out = Vec::new();
    for vm in guests_on(x, host) {
        let plan = x
            .call("pool.ha_compute_vm_failover_plan", &[Value::Array(vec![s(host)]), Value::Array(vec![s(&vm)])])
            .expect("plan");
        let Value::Struct(entries) = plan else { panic!("{plan:?}") };
        if entries[0].1.as_struct().is_some_and(|e| e[0].0 == "host") {
            out.push(vm);
        }
    }
    out
}

#[test]
fn enable_ha_checks_and_records_the_statefile() {
    let sim = sim();
    let mut x = login(&sim);
    let p = pool(&mut x);
    assert_eq!(api_error(x.call("pool.disable_ha", &[])), ["HA_NOT_ENABLED"]);
    // A local SR lacks the other hosts' PBDs.
    let local = sr_of_type(&mut x, "lvm");
    assert_eq!(
        api_error(x.call("pool.enable_ha", &[Value::Array(vec![s(&local)]), Value::Struct(vec![])])),
        ["SR_NO_PBDS", local.as_str()]
    );
    let nfs = sr_of_type(&mut x, "nfs");
    x.call("pool.enable_ha", &[Value::Array(vec![s(&nfs)]), Value::Struct(vec![])]).expect("enable_ha");
    assert_eq!(field(&mut x, "pool", "ha_enabled", &p).as_bool(), Some(true));
    let statefiles = refs(field(&mut x, "pool", "ha_statefiles", &p));
    assert_eq!(statefiles.len(), 1);
    assert_eq!(text(field(&mut x, "VDI", "type", &statefiles[0])), "ha_statefile");
    assert_eq!(text(field(&mut x, "VDI", "SR", &statefiles[0])), nfs);
    let h1 = host_named(&mut x, "xs-host-1");
    assert_eq!(refs(field(&mut x, "host", "ha_statefiles", &h1)), statefiles);
    assert!(!refs(field(&mut x, "host", "ha_network_peers", &h1)).is_empty());
    assert_eq!(api_error(x.call("pool.enable_ha", &[Value::Array(vec![]), Value::Struct(vec![])])), ["HA_IS_ENABLED"]);
    let h2 = host_named(&mut x, "xs-host-2");
    assert_eq!(api_error(x.call("pool.designate_new_master", &[s(&h2)])), ["HA_IS_ENABLED"]);
    x.call("pool.disable_ha", &[]).expect("disable_ha");
    assert_eq!(field(&mut x, "pool", "ha_enabled", &p).as_bool(), Some(false));
    // Enabling again reuses the statefile.
    x.call("pool.enable_ha", &[Value::Array(vec![]), Value::Struct(vec![])]).expect("enable_ha on any SR");
    assert_eq!(refs(field(&mut x, "pool", "ha_statefiles", &p)), statefiles);
}

#[test]
fn priorities_order_and_failures_to_tolerate_are_validated() {
    let sim = sim();
    let mut x = login(&sim);
    let p = pool(&mut x);
    let h2 = host_named(&mut x, "xs-host-2");
    let vm = guests_on(&mut x, &h2).remove(0);
    assert_eq!(
        api_error(x.call("VM.set_ha_restart_priority", &[s(&vm), s("always")])),
        ["INVALID_VALUE", "ha_restart_priority", "always"]
    );
    x.call("VM.set_ha_restart_priority", &[s(&vm), s("restart")]).expect("restart");
    assert_eq!(field(&mut x, "VM", "ha_always_run", &vm).as_bool(), Some(true));
    x.call("VM.set_ha_restart_priority", &[s(&vm), s("best-effort")]).expect("best-effort");
    assert_eq!(field(&mut x, "VM", "ha_always_run", &vm).as_bool(), Some(false));
    assert_eq!(
        api_error(x.call("VM.set_order", &[s(&vm), Value::Int(-1)])),
        ["INVALID_VALUE", "order must be non-negative", "-1"]
    );
    x.call("VM.set_order", &[s(&vm), Value::Int(3)]).expect("order");
    assert_eq!(field(&mut x, "VM", "order", &vm).as_int(), Some(3));
    assert_eq!(
        api_error(x.call("pool.set_ha_host_failures_to_tolerate", &[s(&p), Value::Int(-1)])),
        ["INVALID_VALUE", "ha_host_failures_to_tolerate", "-1"]
    );
    let hypothetical = x.call(
        "pool.ha_compute_hypothetical_max_host_failures_to_tolerate",
        &[Value::Struct(vec![(vm.clone(), s("sometimes"))])],
    );
    assert_eq!(api_error(hypothetical), ["INVALID_VALUE", "ha_restart_priority", "sometimes"]);
    let max = x.call("pool.ha_compute_max_host_failures_to_tolerate", &[]).expect("max").as_int().expect("an int");
    let hosts = refs(x.call("host.get_all", &[]).expect("hosts")).len() as i64;
    assert!((0..hosts).contains(&max), "{max}");
    assert_eq!(x.call("pool.ha_failover_plan_exists", &[Value::Int(0)]).expect("plan").as_bool(), Some(true));
    assert_eq!(x.call("pool.ha_failover_plan_exists", &[Value::Int(hosts)]).expect("plan").as_bool(), Some(false));
}

#[test]
fn a_failed_hosts_protected_vms_restart_elsewhere_with_ha_only() {
    let sim = sim();
    let mut x = login(&sim);
    let p = pool(&mut x);
    let h2 = host_named(&mut x, "xs-host-2");
    let agile = agile_guests(&mut x, &h2);
    assert!(!agile.is_empty(), "xs-host-2 runs an agile guest");
    let protected = agile[0].clone();
    let others: Vec<String> = guests_on(&mut x, &h2).into_iter().filter(|v| *v != protected).collect();
    x.call("VM.set_ha_restart_priority", &[s(&protected), s("restart")]).expect("protect");
    let nfs = sr_of_type(&mut x, "nfs");
    x.call("pool.enable_ha", &[Value::Array(vec![s(&nfs)]), Value::Struct(vec![])]).expect("enable_ha");
    x.call("pool.set_ha_host_failures_to_tolerate", &[s(&p), Value::Int(1)]).expect("tolerate one");
    assert_eq!(field(&mut x, "pool", "ha_plan_exists_for", &p).as_int(), Some(1));
    // No plan survives every host failing: the change is refused once a plan exists.
    assert_eq!(
        api_error(x.call("pool.set_ha_host_failures_to_tolerate", &[s(&p), Value::Int(3)])),
        ["HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN"]
    );
    let uuid = text(field(&mut x, "host", "uuid", &h2));
    let (status, body) = post(sim.addr, &format!("/sim/hosts/{uuid}/fail"));
    assert_eq!(status, 200, "{body}");
    until("the protected VM runs again", || text(field(&mut x, "VM", "power_state", &protected)) == "Running");
    let on = text(field(&mut x, "VM", "resident_on", &protected));
    assert_ne!(on, h2);
    for vm in &others {
        assert_eq!(text(field(&mut x, "VM", "power_state", vm)), "Halted", "unprotected VMs stay down");
    }
    let messages = x.call("message.get_all_records", &[]).expect("messages");
    let Value::Struct(all) = messages else { panic!() };
    assert!(all.iter().any(|(_, m)| m.get("name").and_then(Value::as_str) == Some("HA_HOST_FAILED")
        && m.get("obj_uuid").and_then(Value::as_str) == Some(uuid.as_str())));

    // Without HA, a failed host's VMs stay down.
    x.call("pool.disable_ha", &[]).expect("disable_ha");
    let h3 = host_named(&mut x, "xs-host-3");
    let lost = guests_on(&mut x, &h3);
    for vm in &lost {
        let _ = x.call("VM.set_ha_restart_priority", &[s(vm), s("restart")]);
    }
    let uuid3 = text(field(&mut x, "host", "uuid", &h3));
    assert_eq!(post(sim.addr, &format!("/sim/hosts/{uuid3}/fail")).0, 200);
    std::thread::sleep(Duration::from_millis(200));
    for vm in &lost {
        assert_eq!(text(field(&mut x, "VM", "power_state", vm)), "Halted");
    }
}
