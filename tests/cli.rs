//! The CLI's integration tests: one binary, golden transcripts under
//! `tests/golden/`, each run against a fresh in-process `xapi-sim` serving
//! real HTTP (or HTTPS) on loopback, with the real `xe` binary.

// Tests and benchmarks own the terminal and read their switches (XE_BLESS...).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;
mod docs;
mod graph;
mod hostile;
mod pool_hosts;
mod pools;
mod tasks;
mod top;
mod vdi_io;
mod xva;
mod xva_import;

use common::golden;

#[test]
fn golden_transcripts() {
    golden::run_all();
}

#[test]
fn every_test_file_is_included() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") {
            assert_eq!(
                name, "cli.rs",
                "tests/{name} would be a second test binary; add it as a module of tests/cli.rs"
            );
        }
    }
}

/// `-s sim://NAME` starts a background simulator once, reuses it, and `sim-stop` ends it.
#[test]
fn sim_scheme_starts_reuses_and_stops_a_simulator() {
    let home = std::env::temp_dir().join(format!("xe-sim-scheme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let xe = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_xe"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XE_DATA_DIR", home.join("data"))
            .env("RUST_BACKTRACE", "0")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let first = xe(&["host-list", "-s", "sim://t1", "params=name-label", "--minimal"]);
    assert_eq!(String::from_utf8_lossy(&first.stdout), "xs-host-1,xs-host-2,xs-host-3\n");
    assert!(String::from_utf8_lossy(&first.stderr).is_empty(), "--minimal hides the start notice");
    let info = std::fs::read_to_string(home.join("data/sims/t1/info")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.join("data/sims/t1/info")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "credentials are private");
    }
    let second = xe(&["vm-list", "-s", "sim://t1", "name-label=web01", "params=power-state", "--minimal"]);
    assert_eq!(String::from_utf8_lossy(&second.stdout), "running\n");
    assert_eq!(std::fs::read_to_string(home.join("data/sims/t1/info")).unwrap(), info, "the same simulator is reused");
    let listed = xe(&["sim-list", "--minimal"]);
    assert!(String::from_utf8_lossy(&listed.stdout).starts_with("t1 http://127.0.0.1:"));
    let stop = xe(&["sim-stop", "name=t1"]);
    assert!(stop.status.success(), "{}", String::from_utf8_lossy(&stop.stderr));
    let pid: u32 = info.lines().find_map(|l| l.strip_prefix("pid=")).unwrap().parse().unwrap();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "the simulator has exited");
    let again = xe(&["sim-stop", "name=t1"]);
    assert_eq!(String::from_utf8_lossy(&again.stderr), "Error: No simulated pool named 't1' is running\n");
    let bad = xe(&["vm-list", "-s", "sim://bad/name"]);
    assert_eq!(bad.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&home);
}

/// event-wait blocks until another process changes the object.
#[test]
fn event_wait_wakes_when_another_process_changes_the_vm() {
    let sim = common::start_sim(false);
    let xe = common::xe_at(&sim);
    let mut waiter = xe(&["event-wait", "class=vm", "name-label=test-halted", "power-state=running"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(waiter.try_wait().unwrap().is_none(), "event-wait returned before the change");
    let start = xe(&["vm-start", "vm=test-halted"]).output().unwrap();
    assert!(start.status.success(), "{}", String::from_utf8_lossy(&start.stderr));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(status) = waiter.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "event-wait did not wake up");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// event-wait tests the snapshot of a deleted object too: a VBD's
/// `attachable` is computed by a call, which fails once the VBD is gone.
#[test]
fn event_wait_tests_deleted_objects() {
    let sim = common::start_sim(false);
    let xe = common::xe_at(&sim);
    let out = |args: &[&str]| {
        let o = xe(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let sr = out(&["sr-list", "name-label=Local storage", "params=uuid", "--minimal"]);
    let sr = sr.split(',').next().unwrap().to_string();
    let vdi = out(&["vdi-create", &format!("sr-uuid={sr}"), "name-label=scratch", "virtual-size=1GiB"]);
    let vm = out(&["vm-list", "name-label=test-halted", "--minimal"]);
    let vbd = out(&["vbd-create", &format!("vm-uuid={vm}"), &format!("vdi-uuid={vdi}"), "device=5"]);
    assert_eq!(out(&["vbd-param-get", &format!("uuid={vbd}"), "param-name=attachable"]), "true");
    let mut waiter =
        xe(&["event-wait", "class=vbd", &format!("uuid={vbd}"), "attachable=/=true", "timeout=20"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(waiter.try_wait().unwrap().is_none(), "event-wait returned before the change");
    out(&["vbd-destroy", &format!("uuid={vbd}")]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(status) = waiter.try_wait().unwrap() {
            assert!(status.success(), "event-wait failed: {status}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "event-wait did not test the deletion");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Ctrl-C during a long operation cancels its task and leaves the VM as it was.
#[cfg(unix)]
#[test]
fn ctrl_c_cancels_the_running_operation() {
    let sim = common::start_sim_scaled(false, 2.0);
    let extra = format!("server=127.0.0.1,port={},password=xenroot", sim.addr.port());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_xe"))
        .args(["vm-start", "vm=test-halted"])
        .env("XE_EXTRA_ARGS", &extra)
        .env("HOME", std::env::temp_dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt only once the start is really under way (its task exists).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        {
            let db = sim.core.db.read();
            let tasks = db.class_index("task").unwrap();
            if db.iter(tasks).any(|(r, _)| db.field_str(r, "status") == "pending") {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "vm-start never started its task");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    // The operation notices the cancellation at its next step.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let db = sim.core.db.read();
        let tasks = db.class_index("task").unwrap();
        let statuses: Vec<String> = db.iter(tasks).map(|(r, _)| db.field_str(r, "status").to_string()).collect();
        if statuses.iter().all(|s| s != "pending" && s != "cancelling") {
            assert!(statuses.iter().all(|s| s == "cancelled"), "{statuses:?}");
            let sessions = db.class_index("session").unwrap();
            assert_eq!(db.count(sessions), 0, "the interrupted command logged out");
            break;
        }
        drop(db);
        assert!(std::time::Instant::now() < deadline, "the task was left running: {statuses:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let state = std::process::Command::new(env!("CARGO_BIN_EXE_xe"))
        .args(["vm-list", "name-label=test-halted", "params=power-state", "--minimal"])
        .env("XE_EXTRA_ARGS", &extra)
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&state.stdout), "halted\n", "the cancelled start left the VM halted");
}

/// Completion still offers values from a server without `get_all_records_where`,
/// filtering the records itself (templates are not VMs).
#[test]
fn completion_works_against_a_server_without_get_all_records_where() {
    let sim = common::start_sim_disabled(false, &["*.get_all_records_where".to_string()]);
    let extra = format!("server=127.0.0.1,port={},password=xenroot,nossl=true", sim.addr.port());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xe"))
        .args(["__complete", "bash", "2", "--", "xe", "vm-start", "vm="])
        .env("XE_EXTRA_ARGS", &extra)
        .env("HOME", std::env::temp_dir())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("web01"), "no VM names offered: {text}");
    assert!(!text.contains("Debian Bookworm 12"), "templates offered as VMs: {text}");
}

/// Arguments and settings that are not UTF-8 get one clear line and exit 1, never a panic.
#[cfg(unix)]
#[test]
fn non_utf8_input_is_refused_clearly() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let run = |args: &[&OsStr], extra: Option<&OsStr>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_xe"));
        c.args(args).env_remove("XE_EXTRA_ARGS").env("HOME", std::env::temp_dir()).env("RUST_BACKTRACE", "0");
        if let Some(e) = extra {
            c.env("XE_EXTRA_ARGS", e);
        }
        c.stdin(std::process::Stdio::null()).output().unwrap()
    };
    let out = run(&[OsStr::from_bytes(b"\xff")], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Error: argument 1 is not valid UTF-8: '\\xFF'\n");
    let out = run(&[OsStr::new("vm-list"), OsStr::from_bytes(b"name-label=caf\xe9")], None);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Error: argument 2 is not valid UTF-8: 'name-label=caf\\xE9'\n");
    let out = run(&[OsStr::new("vm-list")], Some(OsStr::from_bytes(b"server=\xff")));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Error: XE_EXTRA_ARGS is not valid UTF-8\n");
}

/// Like xe, messages the operation raised about the VM below `message-priority`
/// (default 5, so none of the lifecycle ones) are shown on stderr afterwards.
#[test]
fn vm_operations_show_new_messages_below_the_priority() {
    let sim = common::start_sim(false);
    let cmd = common::xe_at(&sim);
    let xe = |args: &[&str]| cmd(args).output().unwrap();
    let quiet = xe(&["vm-start", "vm=test-halted"]);
    assert!(quiet.status.success());
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), "");
    let shown = xe(&["vm-shutdown", "vm=test-halted", "message-priority=6"]);
    assert!(shown.status.success());
    let err = String::from_utf8_lossy(&shown.stderr);
    let line = err.lines().next().unwrap_or("");
    let time = line.strip_prefix("Message: time=").and_then(|r| r.strip_suffix(" priority=5 name='VM_SHUTDOWN'"));
    assert!(time.is_some_and(|t| t.len() == 18 && t.ends_with('Z')), "unexpected stderr: {err}");
    // --minimal drops them, as xe drops its stderr notes.
    let minimal = xe(&["vm-start", "vm=test-halted", "message-priority=6", "--minimal"]);
    assert_eq!(String::from_utf8_lossy(&minimal.stderr), "");
}
