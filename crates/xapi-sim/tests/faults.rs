//! Fault and latency rules over the wire: every rule kind through this
//! workspace's XenAPI client against a real simulator, `/sim/faults` with
//! raw HTTP, drops checked byte by byte (HTTP and HTTPS), `--trace`, and the
//! binary's refusal of bad rule files.

// Tests own the terminal and read the environment.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xapi_sim::faults::parse_rules;
use xapi_sim::{Sim, SimOptions};
use xenapi::client::{Connection, Error, Options, Session, Tls};
use xenapi::Value;

fn sim_with(rules: &str) -> Sim {
    let mut opts = SimOptions::default().faults(parse_rules(rules).expect("valid rules"));
    opts.config.time_scale = 0.0;
    Sim::start(opts).expect("simulator")
}

fn conn(url: &str) -> Connection {
    Connection::new(url, Options::new(Tls::Insecure)).expect("connection")
}

fn login(url: &str) -> Session {
    Session::login(conn(url), "root", "xenroot", "fault-tests").expect("login")
}

fn s(text: &str) -> Value {
    Value::str(text)
}

/// The API error of a call that must fail that way.
fn api_error<T: std::fmt::Debug>(r: Result<T, Error>) -> Vec<String> {
    match r {
        Err(Error::Api { code, params }) => std::iter::once(code).chain(params).collect(),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// The ref of a guest VM (not a template, snapshot or dom0) in this power state.
fn guest_vm(state: &str, call: impl FnOnce(Value) -> Result<Value, Error>) -> Value {
    let expr = format!(
        r#"field "power_state" = "{state}" and field "is_a_template" = "false" and field "is_a_snapshot" = "false" and field "is_control_domain" = "false""#
    );
    let vms = call(s(&expr)).expect("records");
    let Value::Struct(map) = vms else { panic!("records: {vms:?}") };
    let (r, _) = map.into_iter().next().unwrap_or_else(|| panic!("a {state} VM in the demo pool"));
    Value::String(r)
}

fn halted_vm(session: &mut Session) -> Value {
    guest_vm("Halted", |e| session.call("VM.get_all_records_where", &[e]))
}

/// `(status, headers, body)` of a plain HTTP/1.1 request.
fn http(addr: SocketAddr, method: &str, path: &str, auth: Option<&str>, body: &str) -> (u16, String, String) {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).expect("send");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).expect("answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("a status");
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// `root:xenroot`, as HTTP Basic.
const ROOT: &str = "Basic cm9vdDp4ZW5yb290";

fn rules_of(sim: &Sim) -> serde_json::Value {
    let (status, _, body) = http(sim.addr, "GET", "/sim/faults", Some(ROOT), "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

fn hits(sim: &Sim) -> Vec<u64> {
    rules_of(sim).as_array().expect("a list").iter().map(|r| r["hits"].as_u64().expect("hits")).collect()
}

/// A JSON-RPC request as raw bytes.
fn json_call(addr: SocketAddr, method: &str, params: &[&str]) -> Vec<u8> {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    format!(
        "POST /jsonrpc HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn an_error_rule_fails_the_call_as_often_as_its_count() {
    let sim = sim_with(
        r#"[{"method": "VM.start", "error": ["HOST_NOT_ENOUGH_FREE_MEMORY", "4294967296", "1073741824"], "count": 1},
            {"method": "VM.get_by_*", "error": ["INTERNAL_ERROR", "disk on fire"], "probability": 0}]"#,
    );
    let mut session = login(&sim.url());
    let vm = halted_vm(&mut session);
    let start = [vm.clone(), Value::Bool(false), Value::Bool(false)];
    let e = api_error(session.call("VM.start", &start));
    assert_eq!(e, ["HOST_NOT_ENOUGH_FREE_MEMORY", "4294967296", "1073741824"]);
    // The failed call changed nothing; the second one runs.
    assert_eq!(session.call("VM.get_power_state", std::slice::from_ref(&vm)).unwrap(), s("Halted"));
    session.call("VM.start", &start).expect("the rule is used up");
    assert_eq!(session.call("VM.get_power_state", &[vm]).unwrap(), s("Running"));
    // Probability 0 never fires, and never counts.
    session.call("VM.get_by_name_label", &[s("nothing")]).expect("not faulted");
    assert_eq!(hits(&sim), [1, 0]);
}

#[test]
fn an_async_call_hit_by_an_error_rule_fails_its_task() {
    let sim = sim_with(r#"[{"method": "VM.start", "error": ["VM_BAD_POWER_STATE", "x", "halted", "running"]}]"#);
    let mut session = login(&sim.url());
    let vm = halted_vm(&mut session);
    let task = session.call("Async.VM.start", &[vm.clone(), Value::Bool(false), Value::Bool(false)]).expect("a task");
    let task = task.as_str().expect("a task ref").to_string();
    let record = session.call("task.get_record", &[s(&task)]).unwrap();
    assert_eq!(record.get("status").and_then(Value::as_str), Some("failure"));
    assert_eq!(record.get("name_label").and_then(Value::as_str), Some("Async.VM.start"));
    let e = api_error(session.wait_task(&task, &mut |_| {}));
    assert_eq!(e, ["VM_BAD_POWER_STATE", "x", "halted", "running"]);
    assert_eq!(session.call("VM.get_power_state", &[vm]).unwrap(), s("Halted"));
    // The Async call is checked like any other first.
    let e = api_error(session.call("Async.VM.start", &[s("OpaqueRef:nonsense")]));
    assert_eq!(e[0], "MESSAGE_PARAMETER_COUNT_MISMATCH");
    assert_eq!(hits(&sim), [2]);
}

#[test]
fn a_delay_rule_holds_the_answer() {
    let sim = sim_with(r#"[{"method": "host.get_all", "delay_ms": 300, "jitter_ms": 100}]"#);
    let mut session = login(&sim.url());
    let t = Instant::now();
    session.call("host.get_all", &[]).expect("answered");
    assert!(t.elapsed() >= Duration::from_millis(200), "answered after {:?}", t.elapsed());
    assert_eq!(hits(&sim), [1]);
}

#[test]
fn a_drop_rule_closes_the_connection_without_a_byte() {
    let sim = sim_with(r#"[{"method": "VM.get_all_records", "drop": true, "count": 2}]"#);
    let mut session = login(&sim.url());
    let mut tcp = TcpStream::connect(sim.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(&json_call(sim.addr, "VM.get_all_records", &[session.session_ref()])).unwrap();
    let mut got = Vec::new();
    tcp.read_to_end(&mut got).expect("the server closes the connection");
    assert_eq!(got, b"", "{}", String::from_utf8_lossy(&got));
    // The client sees a failed call, not an answer; the next call is served.
    match session.call("VM.get_all_records", &[]) {
        Err(Error::Api { .. }) | Ok(_) => panic!("a dropped call must not look answered"),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    assert!(matches!(session.call("VM.get_all_records", &[]).unwrap(), Value::Struct(_)));
    assert_eq!(hits(&sim), [2]);
}

/// Accepts any certificate: the test checks bytes, not trust.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[test]
fn a_drop_over_https_sends_no_answer_either() {
    let mut opts = SimOptions { tls: true, ..SimOptions::default() }
        .faults(parse_rules(r#"[{"method": "VM.get_all_records", "drop": true}]"#).unwrap());
    opts.config.time_scale = 0.0;
    let sim = Sim::start(opts).expect("simulator");
    let mut session = login(&sim.url());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(sim.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut stream = rustls::StreamOwned::new(tls, tcp);
    stream.write_all(&json_call(sim.addr, "VM.get_all_records", &[session.session_ref()])).unwrap();
    let mut got = Vec::new();
    // Closed without close_notify: rustls calls that an unexpected EOF.
    let end = stream.read_to_end(&mut got);
    assert!(end.is_ok() || end.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::UnexpectedEof), "{end:?}");
    assert_eq!(got, b"", "{}", String::from_utf8_lossy(&got));
    assert!(session.call("VM.get_all_records", &[]).is_err());
    assert!(session.call("host.get_all", &[]).is_ok());
}

#[test]
fn a_session_invalid_rule_forgets_the_session_once() {
    let sim = sim_with(r#"[{"method": "VM.clean_shutdown", "session_invalid": true}]"#);
    let url = sim.url();
    // The raw answer is SESSION_INVALID with the session, which is gone.
    let raw = conn(&url);
    let params = [s("root"), s("xenroot"), s("2.21"), s("raw")];
    let old = raw.call("session.login_with_password", &params).unwrap();
    let vm = guest_vm("Running", |e| raw.call("VM.get_all_records_where", &[old.clone(), e]));
    let e = api_error(raw.call("VM.clean_shutdown", &[old.clone(), vm.clone()]));
    assert_eq!(e, ["SESSION_INVALID".to_string(), old.as_str().unwrap().to_string()]);
    assert_eq!(api_error(raw.call("VM.get_all", std::slice::from_ref(&old)))[0], "SESSION_INVALID");
    assert!(sim.core.db.read().get(old.as_str().unwrap()).is_none(), "the session record is destroyed");
    // Used up ("once"): a client that logs in again is served.
    let mut session = login(&url);
    session.call("VM.clean_shutdown", std::slice::from_ref(&vm)).expect("served");
    assert_eq!(session.call("VM.get_power_state", &[vm]).unwrap(), s("Halted"));
    assert_eq!(rules_of(&sim)[0]["count"], 1);
    assert_eq!(hits(&sim), [1]);
}

#[test]
fn the_client_logs_in_again_after_a_session_invalid_fault() {
    let sim = sim_with(r#"[{"method": "VM.clean_shutdown", "session_invalid": true}]"#);
    let mut session = login(&sim.url());
    let before = session.session_ref().to_string();
    let vm = guest_vm("Running", |e| session.call("VM.get_all_records_where", &[e]));
    session.call("VM.clean_shutdown", std::slice::from_ref(&vm)).expect("re-logged in and served");
    assert_ne!(session.session_ref(), before);
    assert_eq!(session.call("VM.get_power_state", &[vm]).unwrap(), s("Halted"));
    // Calls without a session are left alone, and do not use the rule up.
    let sim = sim_with(r#"[{"session_invalid": true}]"#);
    let _ = login(&sim.url());
    assert_eq!(hits(&sim), [0]);
}

#[test]
fn a_host_is_slave_rule_sends_logins_to_the_master_address() {
    // Reached as 127.0.0.1, the "member" names localhost as its master:
    // the same server, reached by another name, where logins work.
    let sim = sim_with(r#"[{"host_is_slave": "localhost"}]"#);
    let port = sim.addr.port();
    let raw = conn(&format!("http://127.0.0.1:{port}"));
    let params = [s("root"), s("xenroot"), s("2.21"), s("raw")];
    assert_eq!(api_error(raw.call("session.login_with_password", &params)), ["HOST_IS_SLAVE", "localhost"]);
    let master = conn(&format!("http://localhost:{port}"));
    master.call("session.login_with_password", &params).expect("the master logs in");
    // Only logins: a session made on the master works on the member's address.
    let mut session = Session::login(conn(&format!("http://127.0.0.1:{port}")), "root", "xenroot", "t").unwrap();
    assert!(session.connection().base_url().contains("localhost"), "{}", session.connection().base_url());
    session.call("pool.get_all", &[]).expect("served");
    let r = session.session_ref().to_string();
    raw.call("pool.get_all", &[s(&r)]).expect("not a login");
    assert_eq!(hits(&sim), [2]);
    // An explicit method applies the rule to other calls too.
    let sim = sim_with(r#"[{"method": "VM.*", "host_is_slave": "localhost"}]"#);
    let raw = conn(&sim.url());
    let r = raw.call("session.login_with_password", &params).expect("not matched");
    assert_eq!(api_error(raw.call("VM.get_all", &[r])), ["HOST_IS_SLAVE", "localhost"]);
}

#[test]
fn sim_faults_needs_a_simulator_user() {
    let sim = sim_with(r#"[{"method": "VM.get_all", "error": ["X"]}]"#);
    for auth in [None, Some("Basic cm9vdDp3cm9uZw=="), Some("Bearer cm9vdDp4ZW5yb290"), Some("Basic !!")] {
        for method in ["GET", "PUT"] {
            let (status, head, _) = http(sim.addr, method, "/sim/faults", auth, "[]");
            assert_eq!(status, 401, "{method} with {auth:?}");
            assert!(head.contains("www-authenticate: basic realm=\"xapi-sim\""), "{head}");
        }
    }
    // The rules are untouched.
    assert_eq!(rules_of(&sim)[0]["error"][0], "X");
}

#[test]
fn sim_faults_replaces_the_rules_while_running() {
    let sim = sim_with(r#"[{"method": "VM.get_all", "error": ["X"]}]"#);
    let mut session = login(&sim.url());
    assert_eq!(api_error(session.call("VM.get_all", &[])), ["X"]);
    assert_eq!(hits(&sim), [1]);
    let count = || http(sim.addr, "GET", "/metrics/rpc-count", None, "").2.trim().parse::<u64>().unwrap();
    let before = count();
    let (status, _, body) =
        http(sim.addr, "PUT", "/sim/faults", Some(ROOT), r#"[{"method": "VM.get_all", "error": ["Y", "1"]}]"#);
    assert_eq!(status, 200, "{body}");
    let answered: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answered,
        serde_json::json!([{"method": "VM.get_all", "error": ["Y", "1"], "probability": 1.0, "hits": 0}])
    );
    assert_eq!(count(), before, "/sim/faults is not an RPC");
    assert_eq!(api_error(session.call("VM.get_all", &[])), ["Y", "1"]);
    assert_eq!(hits(&sim), [1]);
    // A bad list is refused whole, with a one-line reason.
    for (bad, reason) in [
        (r#"[{"method": "VM.get_all", "drop": true}, {"method": "*"}]"#, "rule 2: the rule has no effect"),
        (r#"[{"error": ["X"], "colour": "red"}]"#, "rule 1: unknown field `colour`"),
        ("nonsense", "not valid JSON"),
    ] {
        let (status, _, body) = http(sim.addr, "PUT", "/sim/faults", Some(ROOT), bad);
        assert_eq!(status, 400);
        assert!(body.starts_with(reason) && body.lines().count() == 1, "{body}");
    }
    assert_eq!(hits(&sim), [1]);
    // An empty list turns faults off.
    assert_eq!(http(sim.addr, "PUT", "/sim/faults", Some(ROOT), "[]").0, 200);
    assert!(matches!(session.call("VM.get_all", &[]).unwrap(), Value::Array(_)));
    assert_eq!(rules_of(&sim), serde_json::json!([]));
}

#[test]
fn the_trace_has_a_line_per_call_and_no_secrets() {
    let dir = std::env::temp_dir().join(format!("xapi-sim-fault-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.jsonl");
    let _ = std::fs::remove_file(&path);
    let mut opts = SimOptions::default().faults(
        parse_rules(
            r#"[{"method": "VM.get_all", "error": ["X", "y"]}, {"method": "VM.get_all_records", "drop": true},
                {"method": "host.get_all", "delay_ms": 20}]"#,
        )
        .unwrap(),
    );
    opts.config.trace = Some(path.clone());
    let sim = Sim::start(opts).unwrap();
    let mut session = login(&sim.url());
    let secret = session.session_ref().to_string();
    let _ = session.call("VM.get_all", &[]);
    let _ = session.call("VM.get_all_records", &[]);
    session.call("host.get_all", &[]).unwrap();
    session.call("pool.get_all", &[]).unwrap();
    drop(session);
    drop(sim);
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!text.contains("xenroot") && !text.contains(&secret), "{text}");
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    let summary: Vec<String> = lines
        .iter()
        .map(|l| {
            let end = l.get("error").map_or_else(|| l["result"].to_string(), |e| format!("error {e}"));
            format!("{} {end} {}", l["method"].as_str().unwrap(), l.get("fault").map_or("-".into(), |f| f.to_string()))
        })
        .collect();
    assert_eq!(
        summary,
        [
            "session.login_with_password \"ok\" -",
            "VM.get_all error \"X\" \"error\"",
            "VM.get_all_records \"dropped\" \"drop\"",
            "host.get_all \"ok\" \"delay\"",
            "pool.get_all \"ok\" -",
        ]
    );
    for l in &lines {
        let time = l["time"].as_str().unwrap();
        assert!(time.len() == 24 && time.ends_with('Z') && time.as_bytes()[19] == b'.', "{time}");
        assert!(l["client"].as_str().unwrap().starts_with("127.0.0.1:"), "{l}");
        assert!(l["duration_ms"].as_f64().unwrap() >= 0.0);
    }
    assert!(lines[3]["duration_ms"].as_f64().unwrap() >= 20.0);
}

/// Runs the binary with these arguments until it exits (it must not start).
fn refused(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xapi-sim"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_binary_refuses_bad_rules_in_one_line() {
    let dir = std::env::temp_dir().join(format!("xapi-sim-bad-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("faults.json");
    let name = file.display().to_string();
    for (text, reason) in [
        (
            r#"[{"method": "VM.start", "error": ["X"], "probability": 2}]"#,
            "rule 1: probability 2 is not between 0 and 1",
        ),
        (r#"[{"method": "VM.start", "error": ["X", 1]}]"#, "rule 1: error[1]: invalid type: integer `1`"),
        (r#"{"method": "VM.start"}"#, "expected a JSON list of rules"),
    ] {
        std::fs::write(&file, text).unwrap();
        let (code, stderr) = refused(&["--faults", &name]);
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.starts_with(&format!("xapi-sim: {name}: {reason}")) && stderr.lines().count() == 1, "{stderr}");
    }
    let (code, stderr) = refused(&["--faults", &dir.join("absent.json").display().to_string()]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("xapi-sim: cannot read ") && stderr.lines().count() == 1, "{stderr}");
    let (code, stderr) = refused(&["--delay", "3600000", "--jitter", "1"]);
    assert_eq!((code, stderr.as_str()), (1, "xapi-sim: --delay plus --jitter must be at most 3600000 ms\n"));
    let (code, stderr) = refused(&["--jitter", "5"]);
    assert_eq!(code, 2, "clap refuses --jitter without --delay: {stderr}");
    assert!(stderr.contains("--delay"), "{stderr}");
    let (code, stderr) = refused(&["--trace", &dir.join("no/such/dir/t.jsonl").display().to_string()]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("xapi-sim: cannot open trace file ") && stderr.lines().count() == 1, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
