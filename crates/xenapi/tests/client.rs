//! The client against an in-process simulator: both wire formats, the
//! fall-back to XML-RPC, error mapping, re-login, tasks, timeouts, and the
//! TLS policy (first-use pinning, mismatches, insecure mode).
//!
//! `HOST_IS_SLAVE` following is not covered: the simulator has no pool
//! members that answer with it, and faking the wire in tests is off limits.

// Tests and benchmarks own the terminal and read their switches (XE_BLESS...).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]
#![cfg(feature = "client")]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use xapi_sim::{Sim, SimOptions};
use xenapi::client::{fingerprint, Connection, Error, Options, Protocol, Session, Tls};
use xenapi::Value;

fn sim() -> Sim {
    Sim::start(SimOptions::default()).expect("simulator")
}

fn tls_sim(listen: Option<std::net::SocketAddr>) -> Sim {
    let mut opts = SimOptions { tls: true, ..SimOptions::default() };
    if let Some(addr) = listen {
        opts.listen = addr;
    }
    Sim::start(opts).expect("simulator")
}

fn connect(url: &str, opts: Options) -> Connection {
    Connection::new(url, opts).expect("connection")
}

fn login(url: &str, opts: Options) -> Session {
    Session::login(connect(url, opts), "root", "xenroot", "xenapi-tests").expect("login")
}

fn insecure() -> Options {
    Options::new(Tls::Insecure)
}

/// A fresh directory under the system temp dir, removed by the caller's guard.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "xenapi-client-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn first_vm(s: &mut Session) -> String {
    let vms = s.call("VM.get_all", &[]).unwrap();
    vms.as_array().and_then(|a| a.first()).and_then(Value::as_str).expect("a VM").to_string()
}

fn api(code: &str, params: &[&str]) -> Error {
    Error::Api { code: code.into(), params: params.iter().map(|p| p.to_string()).collect() }
}

#[test]
fn login_and_calls_use_json_rpc_by_default() {
    let sim = sim();
    let mut s = login(&sim.url(), insecure());
    assert!(s.session_ref().starts_with("OpaqueRef:"));
    let vm = first_vm(&mut s);
    // JSON-RPC carries ints as numbers; XML-RPC would give their text.
    let mem = s.call("VM.get_memory_static_max", &[Value::str(vm.as_str())]).unwrap();
    assert!(matches!(mem, Value::Int(n) if n > 0), "{mem:?}");
    assert_eq!(s.connection().protocol(), Protocol::JsonRpc);
    s.logout().unwrap();
    assert_eq!(s.connection().rpc_count(), 4);
    assert_eq!(sim.core.rpc_count.load(Ordering::Relaxed), 4);
    // A logged-out session does not come back to life.
    assert_eq!(s.call("VM.get_all", &[]).unwrap_err().api_code(), Some("SESSION_INVALID"));
    assert_eq!(s.connection().rpc_count(), 4);
}

#[test]
fn xml_rpc_is_used_when_asked() {
    let sim = sim();
    let mut s = login(&sim.url(), Options { protocol: Protocol::XmlRpc, ..insecure() });
    let vm = first_vm(&mut s);
    let mem = s.call("VM.get_memory_static_max", &[Value::str(vm.as_str())]).unwrap();
    assert!(matches!(&mem, Value::String(t) if t.parse::<i64>().is_ok()), "{mem:?}");
    assert_eq!(s.connection().protocol(), Protocol::XmlRpc);
    assert_eq!(s.connection().rpc_count(), 3);
}

#[test]
fn projected_calls_keep_only_the_wanted_members_in_both_formats() {
    let sim = sim();
    let keep = |k: &str| k == "uuid" || k == "power_state";
    for protocol in [Protocol::JsonRpc, Protocol::XmlRpc] {
        let mut s = login(&sim.url(), Options { protocol, ..insecure() });
        let all = s.call("VM.get_all_records", &[]).unwrap();
        let some = s.call_projected("VM.get_all_records", &[], &keep).unwrap();
        let (all, some) = (all.as_struct().unwrap(), some.as_struct().unwrap());
        assert_eq!(all.len(), some.len());
        for ((r1, full), (r2, part)) in all.iter().zip(some) {
            assert_eq!(r1, r2);
            let names: Vec<&str> = part.as_struct().unwrap().iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(names, ["uuid", "power_state"], "{protocol:?}");
            assert_eq!(part.get("uuid"), full.get("uuid"));
            assert_eq!(part.get("power_state"), full.get("power_state"));
        }
    }
}

#[test]
fn falls_back_to_xml_rpc_when_the_server_has_no_jsonrpc_endpoint() {
    let sim = sim();
    // The simulator also serves XML-RPC on /RPC2, where /RPC2/jsonrpc does not exist (404).
    let mut s = login(&format!("{}/RPC2", sim.url()), insecure());
    assert_eq!(s.connection().protocol(), Protocol::XmlRpc);
    let vm = first_vm(&mut s);
    let mem = s.call("VM.get_memory_static_max", &[Value::str(vm.as_str())]).unwrap();
    assert!(matches!(mem, Value::String(_)), "{mem:?}");
    // The probe counts as a request; the server saw only the real calls.
    assert_eq!(s.connection().rpc_count(), 4);
    assert_eq!(sim.core.rpc_count.load(Ordering::Relaxed), 3);
}

#[test]
fn api_errors_carry_code_and_params_in_both_formats() {
    let sim = sim();
    for protocol in [Protocol::JsonRpc, Protocol::XmlRpc] {
        let mut s = login(&sim.url(), Options { protocol, ..insecure() });
        let err = s.call("VM.get_record", &[Value::str("OpaqueRef:nope")]).unwrap_err();
        assert_eq!(err, api("HANDLE_INVALID", &["VM", "OpaqueRef:nope"]), "{protocol:?}");
        assert_eq!(err.to_string(), "HANDLE_INVALID: VM, OpaqueRef:nope");
    }
    let err = Session::login(connect(&sim.url(), insecure()), "root", "wrong", "t").unwrap_err();
    assert_eq!(err.api_code(), Some("SESSION_AUTHENTICATION_FAILED"), "{err:?}");
}

#[test]
fn an_invalid_session_is_replaced_by_one_new_login() {
    let sim = sim();
    let mut s = login(&sim.url(), insecure());
    let old = s.session_ref().to_string();
    let raw = connect(&sim.url(), insecure());
    raw.call("session.logout", &[Value::str(old.as_str())]).unwrap();
    assert_eq!(raw.call("pool.get_all", &[Value::str(old.as_str())]).unwrap_err().api_code(), Some("SESSION_INVALID"));

    let pools = s.call("pool.get_all", &[]).unwrap();
    assert_eq!(pools.as_array().map(<[Value]>::len), Some(1));
    assert_ne!(s.session_ref(), old);
    // pool.get_all (refused), login, pool.get_all again: one extra login only.
    assert_eq!(s.connection().rpc_count(), 4);
}

/// Handles on one session on several threads that all see it expire log in
/// again once between them; a limit on re-logins makes the next expiry an error.
#[test]
fn shared_handles_log_in_again_once_between_them() {
    let sim = sim();
    let s = login(&sim.url(), insecure());
    s.limit_relogins(1);
    let sessions = || {
        let db = sim.core.db.read();
        db.count(db.class_index("session").unwrap())
    };
    let raw = connect(&sim.url(), insecure());
    raw.call("session.logout", &[Value::str(s.session_ref())]).unwrap();
    assert_eq!(sessions(), 0);
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let mut h = s.share();
                scope.spawn(move || h.call("pool.get_all", &[]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(sessions(), 1, "one login again for all eight threads");
    assert_eq!(s.relogins(), 1);
    // The new ref serves every handle; the second expiry is past the limit: an error, no login.
    assert_ne!(s.current_session_ref(), s.session_ref());
    raw.call("session.logout", &[Value::str(s.current_session_ref().as_str())]).unwrap();
    let mut h = s.share();
    assert_eq!(h.call("pool.get_all", &[]).unwrap_err().api_code(), Some("SESSION_INVALID"));
    assert_eq!(sessions(), 0);
}

/// An answer larger than `max_value` is refused with the limit named: over
/// JSON-RPC what the decoded value keeps counts (a projection that keeps
/// little still fits), over XML-RPC the answer as a whole.
#[test]
fn answers_over_the_value_limit_are_refused() {
    let sim = sim();
    let port = sim.addr.port();
    let keep = |k: &str| k == "uuid";
    let mut s = login(&sim.url(), Options { max_value: 16 << 10, ..insecure() });
    let err = s.call("VM.get_all_records", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Unreadable answer from 127.0.0.1:{port} to VM.get_all_records: a value exceeds the 16 KiB limit")
    );
    let some = s.call_projected("VM.get_all_records", &[], &keep).unwrap();
    assert!(!some.as_struct().unwrap().is_empty());
    assert!(!s.call_records("VM.get_all_records", &[], &keep).unwrap().is_empty());
    // The connection is still usable.
    s.call("pool.get_all", &[]).unwrap();
    let mut x = login(&sim.url(), Options { max_value: 16 << 10, protocol: Protocol::XmlRpc, ..insecure() });
    let err = x.call_projected("VM.get_all_records", &[], &keep).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Unreadable answer from 127.0.0.1:{port} to VM.get_all_records: the answer exceeds the 16 KiB limit")
    );
    x.call("pool.get_all", &[]).unwrap();
}

#[test]
fn wait_task_returns_the_result_of_an_async_call() {
    let sim = sim();
    let mut s = login(&sim.url(), insecure());
    let record = Value::Struct(vec![
        ("name_label".into(), Value::str("client-test-net")),
        ("name_description".into(), Value::str("")),
        ("other_config".into(), Value::Struct(vec![])),
    ]);
    let task = s.call("Async.network.create", &[record]).unwrap();
    let task = task.as_str().expect("a task ref").to_string();
    let mut progress = Vec::new();
    let net = s.wait_task(&task, &mut |p| progress.push(p)).unwrap();
    let net = net.as_str().expect("a network ref");
    assert!(net.starts_with("OpaqueRef:"), "{net}");
    assert_eq!(progress.last(), Some(&1.0));
    let label = s.call("network.get_name_label", &[Value::str(net)]).unwrap();
    assert_eq!(label, Value::str("client-test-net"));
    // The task is destroyed once waited for.
    let gone = s.call("task.get_status", &[Value::str(task.as_str())]).unwrap_err();
    assert_eq!(gone.api_code(), Some("HANDLE_INVALID"));
}

#[test]
fn wait_task_reports_the_failure_of_an_async_call() {
    let sim = sim();
    let mut s = login(&sim.url(), insecure());
    let task = s.call("Async.network.destroy", &[Value::str("OpaqueRef:nope")]).unwrap();
    let err = s.wait_task(task.as_str().unwrap(), &mut |_| {}).unwrap_err();
    assert_eq!(err.api_code(), Some("HANDLE_INVALID"), "{err:?}");
}

#[test]
fn wait_task_follows_progress_until_the_task_ends() {
    let sim = sim();
    let mut s = login(&sim.url(), insecure());
    let session = s.session_ref().to_string();
    let task = s.call("task.create", &[Value::str("client-test"), Value::str("")]).unwrap();
    let task = task.as_str().unwrap().to_string();
    let t = task.clone();
    let waiter = std::thread::spawn(move || {
        let mut progress = Vec::new();
        let out = s.wait_task(&t, &mut |p| progress.push(p));
        (out, progress)
    });
    let raw = connect(&sim.url(), insecure());
    let set = |field: &str, v: Value| {
        std::thread::sleep(Duration::from_millis(150));
        raw.call(&format!("task.set_{field}"), &[Value::str(session.as_str()), Value::str(task.as_str()), v]).unwrap();
    };
    set("progress", Value::Float(0.25));
    set("result", Value::str("<value><array><data><value>a</value></data></array></value>"));
    set("status", Value::str("success"));
    let (out, progress) = waiter.join().unwrap();
    assert_eq!(out.unwrap(), Value::Array(vec![Value::str("a")]));
    assert_eq!(progress, vec![0.0, 0.25]);
}

#[test]
fn a_cancelled_task_gives_task_cancelled() {
    let sim = sim();
    let mut s = login(&sim.url(), insecure());
    let task = s.call("task.create", &[Value::str("client-test"), Value::str("")]).unwrap();
    let task = task.as_str().unwrap().to_string();
    s.cancel_task(&task).unwrap();
    s.call("task.set_status", &[Value::str(task.as_str()), Value::str("cancelled")]).unwrap();
    let err = s.wait_task(&task, &mut |_| {}).unwrap_err();
    assert_eq!(err, api("TASK_CANCELLED", &[&task]));
}

#[test]
fn a_closed_port_gives_a_quick_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let start = Instant::now();
    let conn = connect(&format!("http://127.0.0.1:{port}"), insecure());
    let err = Session::login(conn, "root", "xenroot", "t").unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("Unable to contact server at 127.0.0.1:{port}: connection refused"));
}

#[test]
fn a_slow_answer_times_out_per_call() {
    let sim = sim();
    let mut s = login(&sim.url(), insecure());
    let classes = Value::Array(vec![Value::str("pool")]);
    let now = s.call("event.from", &[classes.clone(), Value::str(""), Value::Float(0.0)]).unwrap();
    let token = now.get("token").cloned().expect("a token");
    let args = [classes, token, Value::Float(10.0)];
    let start = Instant::now();
    let err = s.call_with_timeout("event.from", &args, Duration::from_millis(300)).unwrap_err();
    assert!(matches!(err, Error::Timeout { ref method, .. } if method == "event.from"), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    // The connection is still usable.
    s.call("pool.get_all", &[]).unwrap();
}

#[test]
fn http_helpers_reuse_the_connection() {
    let sim = sim();
    let conn = connect(&sim.url(), insecure());
    // The simulator has no GET handler on `/` and no handler at all on
    // `/no_such_handler`: the helpers report the status.
    let err = conn.http_get("/?session_id=x").unwrap_err();
    assert!(matches!(err, Error::Http { status: 405, .. }), "{err:?}");
    let err = conn.http_put("/no_such_handler", std::io::Cursor::new(b"data".to_vec()), Some(4)).unwrap_err();
    assert!(matches!(err, Error::Http { status: 404, .. }), "{err:?}");
}

fn cert_fingerprint(sim: &Sim) -> String {
    use rustls::pki_types::pem::PemObject;
    let pem = sim.cert_pem.as_ref().expect("a certificate");
    let der = rustls::pki_types::CertificateDer::from_pem_slice(pem).expect("PEM");
    fingerprint(der.as_ref())
}

#[test]
fn https_pins_on_first_use_and_refuses_a_changed_certificate() {
    let dir = TempDir::new();
    let known_hosts = dir.0.join("nested").join("known_hosts");
    let verify = || Options::new(Tls::Verify { known_hosts: known_hosts.clone() });
    let sim = tls_sim(None);
    let addr = sim.addr;
    let host_port = format!("127.0.0.1:{}", addr.port());
    let fp = cert_fingerprint(&sim);

    // First use: pinned, with a notice for the user.
    let mut s = login(&sim.url(), verify());
    s.call("pool.get_all", &[]).unwrap();
    let notices = s.take_notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains(&host_port) && notices[0].contains(&fp), "{notices:?}");
    let text = std::fs::read_to_string(&known_hosts).unwrap();
    assert_eq!(text, format!("{host_port} {fp}\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&known_hosts).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    s.logout().unwrap();

    // Second use: accepted silently.
    let mut s = login(&sim.url(), verify());
    s.call("pool.get_all", &[]).unwrap();
    assert!(s.take_notices().is_empty());
    drop(s);
    drop(sim);

    // A new certificate on the same host:port is refused.
    let sim = tls_sim(Some(addr));
    let presented = cert_fingerprint(&sim);
    assert_ne!(presented, fp);
    let err = Session::login(connect(&sim.url(), verify()), "root", "xenroot", "t").unwrap_err();
    assert_eq!(
        err,
        Error::CertificateMismatch {
            host_port: host_port.clone(),
            pinned: fp.clone(),
            presented,
            known_hosts: known_hosts.clone()
        }
    );
    let line = err.to_string();
    assert!(line.contains(&format!("remove the line for {host_port} from {}", known_hosts.display())), "{line}");
    assert!(!line.contains('\n'));
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), text);
}

#[test]
fn https_refuses_a_certificate_that_does_not_match_the_pinned_fingerprint() {
    let dir = TempDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let known_hosts = dir.0.join("known_hosts");
    let sim = tls_sim(None);
    let host_port = format!("127.0.0.1:{}", sim.addr.port());
    let bogus = ["AB"; 32].join(":");
    std::fs::write(&known_hosts, format!("# pins\nother:443 {}\n{host_port} {bogus}\n", cert_fingerprint(&sim)))
        .unwrap();
    let conn = connect(&sim.url(), Options::new(Tls::Verify { known_hosts: known_hosts.clone() }));
    let err = Session::login(conn, "root", "xenroot", "t").unwrap_err();
    assert!(matches!(&err, Error::CertificateMismatch { pinned, .. } if *pinned == bogus), "{err:?}");
    assert_eq!(sim.core.rpc_count.load(Ordering::Relaxed), 0);
}

#[test]
fn https_insecure_needs_no_known_hosts() {
    let sim = tls_sim(None);
    let mut s = login(&sim.url(), insecure());
    s.call("pool.get_all", &[]).unwrap();
    assert!(s.take_notices().is_empty());
}

#[test]
fn https_to_a_plain_http_server_is_a_tls_error() {
    let sim = sim();
    let url = format!("https://{}", sim.addr);
    let err = Session::login(connect(&url, insecure()), "root", "xenroot", "t").unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&format!("TLS handshake with {} failed: ", sim.addr)), "{err}");
}

#[test]
fn an_unknown_host_name_is_a_connect_error() {
    let conn = connect("http://no-such-host.invalid", insecure());
    let err = conn.call("session.login_with_password", &[]).unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.to_string().starts_with("Unable to contact server at no-such-host.invalid:"), "{err}");
}

/// Measures a login and logout on a fresh connection over HTTP and HTTPS
/// (pinned certificate): `cargo test --release -p xenapi --features client -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_login_logout_http_vs_https() {
    let dir = TempDir::new();
    let known_hosts = dir.0.join("known_hosts");
    let http = sim();
    let https = tls_sim(None);
    let verify = Options::new(Tls::Verify { known_hosts });
    login(&https.url(), verify.clone()).logout().unwrap();
    let run = |url: &str, opts: &Options| {
        let mut times: Vec<Duration> = (0..200)
            .map(|_| {
                let start = Instant::now();
                login(url, opts.clone()).logout().unwrap();
                start.elapsed()
            })
            .collect();
        times.sort();
        times[times.len() / 2]
    };
    let plain = run(&http.url(), &insecure());
    let pinned = run(&https.url(), &verify);
    let skip = run(&https.url(), &insecure());
    eprintln!("login+logout median: http {plain:?}, https pinned {pinned:?}, https insecure {skip:?}");
}
