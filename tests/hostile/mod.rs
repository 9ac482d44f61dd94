//! xe against hostile or broken servers (`tests/common/hostile.rs`): it
//! never panics, never hangs past its timeouts and keeps memory bounded;
//! each case ends with one line on stderr naming what failed, nothing on
//! stdout, and exit status 1.

use crate::common::hostile::{html, json_error, json_ok, session_calls, xml_ok, Hostile, Reply, Request};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longer than any case may take: a hang fails the test instead of blocking CI.
const DEADLINE: Duration = Duration::from_secs(60);

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// `xe` aimed at `127.0.0.1:port` over plain HTTP, with a neutral home.
fn xe(port: u16, args: &[&str]) -> Command {
    let mut c = xe_with(&["-s", "127.0.0.1", "-p", &port.to_string(), "--nossl", "-pw", "x"]);
    c.args(args);
    c
}

/// `xe` with these words and a neutral home.
fn xe_with(args: &[&str]) -> Command {
    let home = std::env::temp_dir().join(format!("xe-hostile-home-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&home);
    let mut c = Command::new(env!("CARGO_BIN_EXE_xe"));
    c.args(args)
        .env_remove("XE_EXTRA_ARGS")
        .env_remove("XE_TIMEOUT")
        .env_remove("XE_MAX_VALUE")
        .env("HOME", &home)
        .env("XE_KNOWN_HOSTS", home.join("known_hosts"))
        .env("RUST_BACKTRACE", "0");
    c
}

/// Runs a command to its end, killing it past [`DEADLINE`].
fn run(c: &mut Command) -> Outcome {
    let started = Instant::now();
    let mut child = c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("xe runs");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("xe still running after {DEADLINE:?}: {c:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Outcome {
        code: status.code(),
        stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
        took: started.elapsed(),
    }
}

/// Exit status 1, nothing on stdout, exactly `line` on stderr.
fn fails_with(o: &Outcome, line: &str) {
    assert_eq!(o.code, Some(1), "stderr: {}", o.stderr);
    assert_eq!(o.stdout, "", "stderr: {}", o.stderr);
    assert_eq!(o.stderr, format!("{line}\n"));
}

/// Exit status 1, nothing on stdout, one stderr line matching `want`.
fn fails_with_line(o: &Outcome, want: impl Fn(&str) -> bool) {
    assert_eq!(o.code, Some(1), "stderr: {}", o.stderr);
    assert_eq!(o.stdout, "", "stderr: {}", o.stderr);
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "not one line: {}", o.stderr);
    assert!(want(lines[0]), "unexpected: {}", o.stderr);
}

/// Logs in properly, then answers every other call with `reply`.
fn after_login(reply: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Hostile {
    Hostile::start(move |req| session_calls(req).unwrap_or_else(|| reply(req)))
}

/// The call `xe vm-list` makes after logging in.
const LISTING: &str = "VM.get_all_records";

#[test]
fn answers_nested_100000_deep_are_refused() {
    let deep = |open: &str, close: &str| format!("{}1{}", open.repeat(100_000), close.repeat(100_000));
    let h = after_login(move |_| json_ok(&deep("[", "]")));
    let o = run(&mut xe(h.port, &["vm-list"]));
    let port = h.port;
    fails_with(
        &o,
        &format!(
            "Unreadable answer from 127.0.0.1:{port} to {LISTING}: JSON-RPC: recursion limit exceeded at byte 153"
        ),
    );
    // XML-RPC: no JSON-RPC endpoint, then the same depth in XML.
    let value = format!(
        "{}<value>1</value>{}",
        "<value><array><data>".repeat(100_000),
        "</data></array></value>".repeat(100_000)
    );
    let h = Hostile::start(move |req| {
        if req.json() {
            return Reply::Status { status: 404, content_type: "text/plain", body: b"not found".to_vec() };
        }
        session_calls(req).unwrap_or_else(|| xml_ok(&value))
    });
    let o = run(&mut xe(h.port, &["vm-list"]));
    fails_with(
        &o,
        &format!("Unreadable answer from 127.0.0.1:{} to {LISTING}: XML-RPC: values nested deeper than 256", h.port),
    );
}

const GIB: u64 = 1 << 30;

/// A 1 GiB JSON-RPC answer of many small strings.
fn huge_json(length: bool) -> Reply {
    Reply::Huge {
        content_type: "application/json",
        head: br#"{"jsonrpc":"2.0","id":1,"result":["#.to_vec(),
        unit: br#""OpaqueRef:0123456789","#.to_vec(),
        tail: br#""x"]}"#.to_vec(),
        total: GIB,
        length,
    }
}

/// A 1 GiB XML-RPC answer: one array of many small values.
fn huge_xml(length: bool) -> Reply {
    Reply::Huge {
        content_type: "text/xml",
        head: b"<?xml version=\"1.0\"?><methodResponse><params><param><value><struct><member><name>Status</name>\
                <value>Success</value></member><member><name>Value</name><value><array><data>"
            .to_vec(),
        unit: b"<value>OpaqueRef:0123456789</value>".to_vec(),
        tail: b"</data></array></value></member></struct></value></param></params></methodResponse>".to_vec(),
        total: GIB,
        length,
    }
}

/// A 1 GiB answer to a small call is refused at the limit, without reading
/// the rest: with the default 64 MiB limit, and a smaller one, with and
/// without a Content-Length, in both wire formats.
#[test]
fn a_1_gib_answer_is_refused_at_the_limit() {
    let h = after_login(|_| huge_json(true));
    let o = run(&mut xe(h.port, &["vm-list"]));
    let line = |port: u16, what: &str, limit: &str| {
        format!(
            "Unreadable answer from 127.0.0.1:{port} to {LISTING}: {what} exceeds the {limit} limit \
             (set XE_MAX_VALUE to raise it)"
        )
    };
    fails_with(&o, &line(h.port, "a value", "64 MiB"));
    let h = after_login(|_| huge_json(false));
    let o = run(xe(h.port, &["vm-list"]).env("XE_MAX_VALUE", "1MiB"));
    fails_with(&o, &line(h.port, "a value", "1 MiB"));
    // One string of 1 GiB.
    let h = after_login(|_| Reply::Huge {
        content_type: "application/json",
        head: br#"{"jsonrpc":"2.0","id":1,"result":""#.to_vec(),
        unit: b"x".to_vec(),
        tail: br#""}"#.to_vec(),
        total: GIB,
        length: true,
    });
    let o = run(xe(h.port, &["vm-list"]).env("XE_MAX_VALUE", "1MiB"));
    fails_with(&o, &line(h.port, "a value", "1 MiB"));
    for length in [true, false] {
        let h = Hostile::start(move |req| {
            if req.json() {
                return html(404);
            }
            session_calls(req).unwrap_or_else(|| huge_xml(length))
        });
        let o = run(xe(h.port, &["vm-list"]).env("XE_MAX_VALUE", "2MiB"));
        fails_with(&o, &line(h.port, "the answer", "2 MiB"));
    }
}

#[test]
fn invalid_utf8_is_refused() {
    let h = after_login(|_| Reply::Ok {
        content_type: "application/json",
        body: b"{\"jsonrpc\":\"2.0\",\"result\":{\"OpaqueRef:a\":{\"uuid\":\"\xff\xfe\"}},\"id\":1}".to_vec(),
    });
    let o = run(&mut xe(h.port, &["vm-list"]));
    fails_with(
        &o,
        &format!(
            "Unreadable answer from 127.0.0.1:{} to {LISTING}: JSON-RPC: invalid unicode code point at byte 50",
            h.port
        ),
    );
}

#[test]
fn a_truncated_answer_is_refused() {
    let h = after_login(|_| {
        Reply::Raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\":\"2.0\",\"result\":{".to_vec())
    });
    let o = run(&mut xe(h.port, &["vm-list"]));
    fails_with_line(&o, |l| l.starts_with(&format!("Unreadable answer from 127.0.0.1:{} to {LISTING}: ", h.port)));
}

/// A server that stops sending in the middle of an answer, or never answers,
/// holds xe for `XE_TIMEOUT` (or `--timeout`), not for the default 600 s.
#[test]
fn a_stalled_server_is_given_up_after_the_timeout() {
    let h = after_login(|_| {
        Reply::Stall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\":\"2.0\",\"result\":{".to_vec())
    });
    let o = run(xe(h.port, &["vm-list"]).env("XE_TIMEOUT", "1"));
    fails_with(&o, &format!("Timed out waiting for 127.0.0.1:{} to answer {LISTING}", h.port));
    assert!(o.took < Duration::from_secs(20), "took {:?}", o.took);
    let silent = Hostile::silent();
    let o = run(&mut xe(silent.port, &["vm-list", "--timeout", "1.5"]));
    fails_with(&o, &format!("Timed out waiting for 127.0.0.1:{} to answer session.login_with_password", silent.port));
    assert!(o.took < Duration::from_secs(20), "took {:?}", o.took);
    assert!(o.took >= Duration::from_millis(1500), "took {:?}", o.took);
    // Over HTTPS, the TLS handshake is what never ends.
    let o = run(&mut xe_with(&["vm-list", "-s", "localhost", "-p", &silent.port.to_string(), "--timeout", "1"]));
    fails_with_line(&o, |l| {
        l.contains(&format!("localhost:{}", silent.port)) && l.to_lowercase().contains("timed out")
    });
    assert!(o.took < Duration::from_secs(20), "took {:?}", o.took);
}

/// A value of the wrong type is an error naming the call, never an empty success.
#[test]
fn a_wrongly_typed_answer_is_an_error() {
    let h = after_login(|_| json_ok("\"surprise\""));
    let port = h.port;
    let o = run(&mut xe(port, &["vm-list"]));
    fails_with(
        &o,
        &format!("Unreadable answer from 127.0.0.1:{port} to {LISTING}: expected a map of records, got a string"),
    );
    let o = run(&mut xe(port, &["vm-list", "--minimal"]));
    fails_with(
        &o,
        &format!("Unreadable answer from 127.0.0.1:{port} to {LISTING}: expected a map of records, got a string"),
    );
    let o = run(&mut xe(port, &["vm-start", "vm=x"]));
    fails_with(&o, &format!("Unreadable answer from 127.0.0.1:{port} to VM.get_all_records_where: expected a map of records, got a string"));
    // get_by_uuid's answer is a string, as it should be; get_record's is not a record.
    let o = run(&mut xe(port, &["vm-param-list", "uuid=x"]));
    fails_with(&o, &format!("Unreadable answer from 127.0.0.1:{port} to VM.get_record: expected a map, got a string"));
    let h = after_login(|_| json_ok("{}"));
    let o = run(&mut xe(h.port, &["vm-param-list", "uuid=x"]));
    fails_with(
        &o,
        &format!("Unreadable answer from 127.0.0.1:{} to VM.get_by_uuid: expected a string, got a struct", h.port),
    );
}

#[test]
fn html_error_pages_are_named() {
    // HTTP 500 on both endpoints: the JSON-RPC probe falls back to XML-RPC, which gets it too.
    let h = Hostile::start(|_| html(500));
    let o = run(&mut xe(h.port, &["vm-list"]));
    fails_with(&o, &format!("Server 127.0.0.1:{} answered HTTP 500 for /", h.port));
    // A 200 page where an answer should be.
    let h = Hostile::start(|_| html(200));
    let o = run(&mut xe(h.port, &["vm-list"]));
    let page = "the server sent an HTML page (text/html), not an RPC answer";
    fails_with(&o, &format!("Unreadable answer from 127.0.0.1:{} to session.login_with_password: {page}", h.port));
    let h = after_login(|_| html(200));
    let o = run(&mut xe(h.port, &["vm-list"]));
    fails_with(&o, &format!("Unreadable answer from 127.0.0.1:{} to {LISTING}: {page}", h.port));
    let h = after_login(|_| html(502));
    let o = run(&mut xe(h.port, &["vm-list"]));
    fails_with(&o, &format!("Server 127.0.0.1:{} answered HTTP 502 for /jsonrpc", h.port));
}

#[test]
fn a_tls_port_that_sends_garbage_is_a_tls_error() {
    let h = Hostile::garbage();
    // Over HTTPS: the same address by name, so the plain-HTTP rule for 127.0.0.1 does not apply.
    let o = run(&mut xe_with(&["vm-list", "-s", "localhost", "-p", &h.port.to_string(), "-pw", "x"]));
    fails_with_line(&o, |l| l.starts_with(&format!("TLS handshake with localhost:{} failed: ", h.port)));
}

#[test]
fn a_connection_dropped_after_login_is_named() {
    let h = after_login(|_| Reply::Drop);
    let o = run(&mut xe(h.port, &["vm-list"]));
    fails_with_line(&o, |l| l.contains(&format!("127.0.0.1:{}", h.port)));
}

#[test]
fn bad_timeout_and_limit_settings_are_refused() {
    let o = run(xe(1, &["vm-list"]).env("XE_TIMEOUT", "soon"));
    fails_with(&o, "Error: XE_TIMEOUT must be a positive number of seconds, not 'soon'");
    let o = run(&mut xe(1, &["vm-list", "--timeout", "0"]));
    fails_with(&o, "Error: --timeout takes a positive number of seconds, not '0'");
    let o = run(xe(1, &["vm-list"]).env("XE_MAX_VALUE", "lots"));
    fails_with(
        &o,
        "Error: XE_MAX_VALUE must be a number of bytes, optionally with KiB, MiB or GiB (e.g. 256MiB), not 'lots'",
    );
}

/// `xe` aimed at a proxy in front of a simulator, with its credentials.
fn xe_via(proxy: &Hostile, args: &[&str]) -> Command {
    let mut c = xe_with(&["-s", "127.0.0.1", "-p", &proxy.port.to_string(), "--nossl", "-pw", "xenroot"]);
    c.args(args);
    c
}

/// The demo pool plus 40 VMs, 10 of them running: 12 VMs to shut down.
fn busy_sim() -> xapi_sim::Sim {
    let mut opts = xapi_sim::SimOptions::default();
    opts.config.time_scale = 0.0;
    opts.fixture.extra_vms = 40;
    xapi_sim::Sim::start(opts).expect("simulator starts on loopback")
}

/// How many VMs (not control domains) run.
fn running(sim: &xapi_sim::Sim) -> usize {
    let o = crate::common::xe_at(sim)(&["vm-list", "power-state=running", "is-control-domain=false", "--minimal"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().split(',').filter(|s| !s.is_empty()).count()
}

fn logins(h: &Hostile) -> usize {
    h.methods().iter().filter(|m| *m == "session.login_with_password").count()
}

/// The session expires in the middle of `--multiple`: the threads log in
/// again once between them and every VM is done.
#[test]
fn an_expired_session_under_multiple_logs_in_again_once() {
    let sim = busy_sim();
    let state = std::sync::Mutex::new((None::<String>, 0usize));
    let h = Hostile::proxy(sim.addr, move |req| {
        let mut st = state.lock().unwrap();
        if st.0.is_none() {
            st.0 = req.session.clone();
        }
        if req.method == "Async.VM.clean_shutdown" {
            st.1 += 1;
        }
        // From the third shutdown on, the first session is gone.
        if st.1 >= 3 && req.session.is_some() && req.session == st.0 {
            return json_error("SESSION_INVALID", &[req.session.as_deref().unwrap_or("")]);
        }
        Reply::Forward
    });
    assert_eq!(running(&sim), 12);
    let o = run(&mut xe_via(&h, &["vm-shutdown", "power-state=running", "--multiple"]));
    assert_eq!(o.code, Some(0), "stdout: {}\nstderr: {}", o.stdout, o.stderr);
    assert_eq!(running(&sim), 0);
    assert_eq!(logins(&h), 2, "{:?}", h.methods());
}

/// A session that is still refused after logging in again is an error,
/// and xe does not log in again for every VM.
#[test]
fn a_session_refused_after_logging_in_again_is_an_error() {
    let sim = busy_sim();
    let h = Hostile::proxy(sim.addr, |req| {
        if req.method == "Async.VM.clean_shutdown" {
            return json_error("SESSION_INVALID", &[req.session.as_deref().unwrap_or("")]);
        }
        Reply::Forward
    });
    let o = run(&mut xe_via(&h, &["vm-shutdown", "power-state=running", "--multiple"]));
    assert_eq!(o.code, Some(1), "stderr: {}", o.stderr);
    let failed: Vec<&str> = o.stdout.lines().filter(|l| l.starts_with("operation failed on ")).collect();
    assert_eq!(failed.len(), 12, "stdout: {}", o.stdout);
    assert!(failed.iter().all(|l| l.ends_with("The session is not valid; it may have expired or been logged out.")));
    assert_eq!(running(&sim), 12);
    assert_eq!(logins(&h), 2, "{:?}", h.methods());
    let o = run(&mut xe_via(&h, &["vm-shutdown", "vm=web01"]));
    assert_eq!(o.code, Some(1));
    assert_eq!(logins(&h), 4, "{:?}", h.methods());
}

/// The connection drops while xe waits for a task: the error gives the
/// task's uuid, and the task is left for the admin to check.
#[test]
fn a_connection_lost_while_waiting_for_a_task_names_the_task() {
    let sim = crate::common::start_sim(false);
    let h = Hostile::proxy(sim.addr, |req| if req.method == "event.from" { Reply::Drop } else { Reply::Forward });
    let o = run(&mut xe_via(&h, &["vm-start", "vm=test-halted"]));
    let port = h.port;
    let line = o.stderr.trim_end();
    let uuid = line
        .strip_prefix(&format!("Lost the connection to 127.0.0.1:{port} while waiting for task "))
        .and_then(|rest| rest.split_once(' '))
        .map(|(uuid, _)| uuid.to_string())
        .unwrap_or_default();
    fails_with(
        &o,
        &format!(
            "Lost the connection to 127.0.0.1:{port} while waiting for task {uuid} (VM.start): connection closed \
             before message completed; the operation may still complete: check it with xe task-list uuid={uuid}"
        ),
    );
    let task = crate::common::xe_at(&sim)(&["task-list", &format!("uuid={uuid}"), "params=uuid", "--minimal"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&task.stdout).trim(), uuid, "the task is still there");
}

/// A short `XE_TIMEOUT` bounds each answer, not the calls that wait on
/// purpose: a task that takes longer, `event-wait` with its own timeout.
#[test]
fn a_short_timeout_leaves_waiting_calls_alone() {
    // VM.start takes 2 s here.
    let sim = crate::common::start_sim_scaled(false, 1.0);
    let xe = crate::common::xe_at(&sim);
    let o = run(xe(&["vm-start", "vm=test-halted"]).env("XE_TIMEOUT", "1"));
    assert_eq!((o.code, o.stderr.as_str()), (Some(0), ""));
    assert!(o.took >= Duration::from_secs(2), "took {:?}", o.took);
    let o = run(xe(&["event-wait", "class=vm", "name-label=test-halted", "power-state=halted", "timeout=2.5"])
        .env("XE_TIMEOUT", "1"));
    assert_eq!((o.code, o.stderr.as_str()), (Some(124), "Error: event-wait gave up after 2.5 seconds\n"));
}

/// An `event.from` answer without a token and events is an error, not a
/// loop asking again at once.
#[test]
fn event_wait_refuses_a_batch_without_events() {
    let h = after_login(|_| json_ok(r#"{"valid_ref_counts":{}}"#));
    let o = run(&mut xe(h.port, &["event-wait", "class=vm", "power-state=running"]));
    fails_with(
        &o,
        &format!(
            "Unreadable answer from 127.0.0.1:{} to event.from: expected a token and a list of events, got a struct",
            h.port
        ),
    );
}
