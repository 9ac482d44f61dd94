//! Host lifecycle over the wire, against a simulator with a listener per
//! host: xapi's preconditions and errors, a rebooting host's listener
//! closing and reopening, `/sim/hosts/<uuid>/fail` and `/recover` with the
//! failure hooks, `declare_dead` and `destroy`.

// Tests own the terminal and read the environment.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xapi_sim::{Sim, SimOptions};
use xenapi::client::{Connection, Error, Options, Session, Tls};
use xenapi::Value;

fn sim(time_scale: f64) -> Sim {
    let mut opts = SimOptions::default();
    opts.config.time_scale = time_scale;
    Sim::start(opts).expect("simulator")
}

fn login(sim: &Sim) -> Session {
    let conn = Connection::new(&sim.url(), Options::new(Tls::Insecure)).expect("connection");
    Session::login(conn, "root", "xenroot", "host-tests").expect("login")
}

fn s(text: &str) -> Value {
    Value::str(text)
}

fn api_error<T: std::fmt::Debug>(r: Result<T, Error>) -> Vec<String> {
    match r {
        Err(Error::Api { code, params }) => std::iter::once(code).chain(params).collect(),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn text(v: Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn host_named(x: &mut Session, name: &str) -> String {
    let hosts = x.call("host.get_by_name_label", &[s(name)]).expect("hosts");
    text(hosts.as_array().expect("a list")[0].clone())
}

fn field(x: &mut Session, class: &str, name: &str, r: &str) -> Value {
    x.call(&format!("{class}.get_{name}"), &[s(r)]).expect(name)
}

fn live(x: &mut Session, host: &str) -> bool {
    let metrics = text(field(x, "host", "metrics", host));
    field(x, "host_metrics", "live", &metrics).as_bool().unwrap_or(false)
}

fn guests_on(x: &mut Session, host: &str) -> Vec<String> {
    let vms = field(x, "host", "resident_VMs", host);
    let mut out = Vec::new();
    for vm in vms.as_array().expect("a list").iter().map(|v| text(v.clone())) {
        if !field(x, "VM", "is_control_domain", &vm).as_bool().unwrap_or(true) {
            out.push(vm);
        }
    }
    out
}

/// Whether something accepts connections on the host's own address.
fn listening(sim: &Sim, address: &str) -> bool {
    let at = SocketAddr::new(address.parse().expect("an IP"), sim.addr.port());
    TcpStream::connect_timeout(&at, Duration::from_millis(500)).is_ok()
}

fn until(what: &str, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `root:xenroot`, as HTTP Basic.
const ROOT: &str = "Basic cm9vdDp4ZW5yb290";

fn post(addr: SocketAddr, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    let req = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).expect("send");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).expect("answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    (head.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("a status"), body.to_string())
}

#[test]
fn reboot_and_shutdown_need_a_disabled_live_host() {
    let sim = sim(0.0);
    let mut x = login(&sim);
    let h2 = host_named(&mut x, "xs-host-2");
    assert_eq!(api_error(x.call("host.reboot", &[s(&h2)])), ["HOST_NOT_DISABLED"]);
    assert_eq!(api_error(x.call("host.shutdown", &[s(&h2)])), ["HOST_NOT_DISABLED"]);
    assert_eq!(api_error(x.call("host.power_on", &[s(&h2)])), ["HOST_IS_LIVE", h2.as_str()]);
    assert_eq!(api_error(x.call("host.declare_dead", &[s(&h2)])), ["HOST_IS_LIVE", h2.as_str()]);
    assert_eq!(api_error(x.call("host.destroy", &[s(&h2)])), ["HOST_IS_LIVE", h2.as_str()]);
    x.call("host.disable", &[s(&h2)]).expect("disable");
    x.call("host.disable", &[s(&h2)]).expect("disabling twice is no error");
    let ops = field(&mut x, "host", "allowed_operations", &h2);
    assert!(ops.as_array().expect("a set").iter().any(|o| o.as_str() == Some("reboot")), "{ops:?}");
    x.call("host.enable", &[s(&h2)]).expect("enable");
    assert_eq!(field(&mut x, "host", "enabled", &h2).as_bool(), Some(true));
}

#[test]
fn evacuation_errors_are_xapis() {
    let sim = sim(0.0);
    let mut x = login(&sim);
    let h1 = host_named(&mut x, "xs-host-1");
    // web01's disk is on xs-host-1's local SR.
    let why = x.call("host.get_vms_which_prevent_evacuation", &[s(&h1)]).expect("map");
    let Value::Struct(map) = why else { panic!("{why:?}") };
    assert_eq!(map.len(), 1);
    let reasons: Vec<String> = map[0].1.as_array().expect("a set").iter().map(|v| text(v.clone())).collect();
    assert_eq!(reasons[0], "VM_REQUIRES_SR");
    assert_eq!(reasons[1], map[0].0);
    let e = api_error(x.call("host.assert_can_evacuate", &[s(&h1)]));
    assert_eq!(e[0], "CANNOT_EVACUATE_HOST");
    assert_eq!(e[1], reasons.join(","));
    // With every other host disabled, nothing on xs-host-2 can go anywhere.
    let h2 = host_named(&mut x, "xs-host-2");
    for h in [&h1, &host_named(&mut x, "xs-host-3")] {
        x.call("host.disable", &[s(h)]).expect("disable");
    }
    let db01 = guests_on(&mut x, &h2);
    assert_eq!(api_error(x.call("host.evacuate", &[s(&h2)])), ["NO_HOSTS_AVAILABLE", db01[0].as_str()]);
    assert!(
        api_error(x.call("host.evacuate", &[s(&h2), s("OpaqueRef:nope"), Value::Int(0)]))[0] == "NO_HOSTS_AVAILABLE"
    );
}

#[test]
fn a_rebooting_host_closes_its_listener_and_reopens_it() {
    let sim = sim(0.2);
    let mut x = login(&sim);
    let h3 = host_named(&mut x, "xs-host-3");
    let address = text(field(&mut x, "host", "address", &h3));
    assert!(listening(&sim, &address));
    x.call("host.disable", &[s(&h3)]).expect("disable");
    let guests = guests_on(&mut x, &h3);
    x.call("host.evacuate", &[s(&h3)]).expect("evacuate");
    assert!(guests_on(&mut x, &h3).is_empty());
    for vm in &guests {
        assert_eq!(text(field(&mut x, "VM", "power_state", vm)), "Running");
    }
    x.call("host.reboot", &[s(&h3)]).expect("reboot");
    assert_eq!(api_error(x.call("host.enable", &[s(&h3)])), ["HOST_DISABLED_UNTIL_REBOOT", h3.as_str()]);
    until("the host is down", || !live(&mut x, &h3));
    until("its listener is closed", || !listening(&sim, &address));
    assert_eq!(api_error(x.call("host.disable", &[s(&h3)])), ["HOST_OFFLINE", h3.as_str()]);
    until("the host is back", || live(&mut x, &h3));
    until("its listener is open", || listening(&sim, &address));
    assert_eq!(field(&mut x, "host", "enabled", &h3).as_bool(), Some(true));
}

#[test]
fn a_failed_host_loses_its_vms_until_it_recovers() {
    let sim = sim(0.0);
    let seen = Arc::new(AtomicUsize::new(0));
    let counted = seen.clone();
    sim.core.host_failure_hooks.lock().push(Arc::new(
        move |_core: &Arc<xapi_sim::Core>, _host: &str, vms: &[String]| {
            counted.fetch_add(vms.len(), Ordering::SeqCst);
        },
    ));
    let mut x = login(&sim);
    let h2 = host_named(&mut x, "xs-host-2");
    let uuid = text(field(&mut x, "host", "uuid", &h2));
    let address = text(field(&mut x, "host", "address", &h2));
    let guests = guests_on(&mut x, &h2);
    assert!(!guests.is_empty());
    let path = format!("/sim/hosts/{uuid}/fail");
    assert_eq!(post(sim.addr, &path, None).0, 401);
    assert_eq!(post(sim.addr, "/sim/hosts/no-such-uuid/fail", Some(ROOT)).0, 404);
    let (status, body) = post(sim.addr, &path, Some(ROOT));
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(answer["live"], false);
    assert_eq!(answer["vms_halted"].as_array().map(Vec::len), Some(guests.len()));
    assert_eq!(seen.load(Ordering::SeqCst), guests.len(), "the hooks ran with the lost VMs");
    assert_eq!(post(sim.addr, &path, Some(ROOT)).0, 409);
    assert!(!live(&mut x, &h2));
    for vm in &guests {
        assert_eq!(text(field(&mut x, "VM", "power_state", vm)), "Halted");
    }
    until("its listener is closed", || !listening(&sim, &address));
    let (status, body) = post(sim.addr, &format!("/sim/hosts/{uuid}/recover"), Some(ROOT));
    assert_eq!(status, 200, "{body}");
    assert!(live(&mut x, &h2));
    until("its listener is open", || listening(&sim, &address));
    assert_eq!(post(sim.addr, &format!("/sim/hosts/{uuid}/recover"), Some(ROOT)).0, 409);
}

#[test]
fn a_dead_host_is_declared_dead_then_forgotten() {
    let sim = sim(0.0);
    let mut x = login(&sim);
    let h2 = host_named(&mut x, "xs-host-2");
    let uuid = text(field(&mut x, "host", "uuid", &h2));
    let pbds = field(&mut x, "host", "PBDs", &h2);
    assert_eq!(post(sim.addr, &format!("/sim/hosts/{uuid}/fail"), Some(ROOT)).0, 200);
    x.call("host.declare_dead", &[s(&h2)]).expect("declare_dead");
    assert_eq!(field(&mut x, "host", "enabled", &h2).as_bool(), Some(false));
    x.call("host.destroy", &[s(&h2)]).expect("destroy");
    assert_eq!(api_error(x.call("host.get_uuid", &[s(&h2)]))[0], "HANDLE_INVALID");
    for pbd in pbds.as_array().expect("a set") {
        assert_eq!(api_error(x.call("PBD.get_uuid", std::slice::from_ref(pbd)))[0], "HANDLE_INVALID");
    }
    let hosts = x.call("host.get_all", &[]).expect("hosts");
    assert_eq!(hosts.as_array().map(|a| a.len()), Some(2));
    let master = host_named(&mut x, "xs-host-1");
    assert_eq!(api_error(x.call("host.destroy", &[s(&master)])), ["HOST_IS_LIVE", master.as_str()]);
}

#[test]
fn hostnames_plugins_and_capabilities() {
    let sim = sim(0.0);
    let mut x = login(&sim);
    let h3 = host_named(&mut x, "xs-host-3");
    let bad = api_error(x.call("host.set_hostname_live", &[s(&h3), s("bad_name")]));
    assert_eq!(bad, ["HOST_NAME_INVALID", "hostname contains invalid characters"]);
    x.call("host.set_hostname_live", &[s(&h3), s("rack7-node3")]).expect("hostname");
    assert_eq!(text(field(&mut x, "host", "hostname", &h3)), "rack7-node3");
    let args = Value::Struct(vec![("a".into(), s("1"))]);
    let echo = x.call("host.call_plugin", &[s(&h3), s("echo"), s("main"), args.clone()]).expect("echo");
    assert_eq!(text(echo), r#"{"a":"1"}"#);
    let missing = api_error(x.call("host.call_plugin", &[s(&h3), s("nope"), s("main"), args]));
    assert_eq!(missing, ["XENAPI_MISSING_PLUGIN", "nope"]);
    let caps = text(x.call("host.get_system_status_capabilities", &[s(&h3)]).expect("capabilities"));
    assert!(caps.starts_with("<?xml version=\"1.0\" ?>\n<system-status-capabilities>"), "{caps}");
    assert!(caps.contains("key=\"xenserver-logs\""));
    let free = x.call("host.compute_free_memory", &[s(&h3)]).expect("free").as_int().expect("an int");
    assert!(free > 0);
}
