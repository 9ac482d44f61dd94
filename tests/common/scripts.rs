//! Our versions of the SDK's example scripts (`tests/scripts/`), run
//! unchanged with `XE=` pointing at this xe, against a real simulator.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Env {
    home: PathBuf,
    _sim: xapi_sim::Sim,
}

fn setup(name: &str) -> Env {
    let sim = super::start_sim(false);
    let home = std::env::temp_dir().join(format!("xe-scripts-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let rc = format!("server=127.0.0.1\nport={}\nusername=root\npassword=xenroot\n", sim.addr.port());
    std::fs::write(home.join(".xe"), rc).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(home.join(".xe"), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    Env { home, _sim: sim }
}

fn run(env: &Env, program: &str, args: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts").join(program);
    Command::new("bash")
        .arg(script)
        .args(args)
        .env("XE", env!("CARGO_BIN_EXE_xe"))
        .env("HOME", &env.home)
        .env_remove("XE_EXTRA_ARGS")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

fn xe(env: &Env, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_xe"))
        .args(args)
        .env("HOME", &env.home)
        .env_remove("XE_EXTRA_ARGS")
        .output()
        .unwrap();
    assert!(out.status.success(), "xe {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn clone_vms_clones_a_running_vm_and_restarts_both() {
    let env = setup("clone");
    let web = xe(&env, &["vm-list", "name-label=web01", "--minimal"]);
    let out = run(&env, "clone-vms", &[&web]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Shutting down web01"));
    let clone = xe(&env, &["vm-list", "name-label=cloned_vm", "--minimal"]);
    assert_eq!(clone.len(), 36, "one clone: {clone}");
    assert_eq!(xe(&env, &["vm-list", &format!("uuid={clone}"), "params=power-state", "--minimal"]), "running");
    assert_eq!(xe(&env, &["vm-list", &format!("uuid={web}"), "params=power-state", "--minimal"]), "running");
    let missing = run(&env, "clone-vms", &["00000000-0000-0000-0000-000000000000"]);
    assert_eq!(missing.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&env.home);
}

#[test]
fn suspend_resume_round_trips_a_vm() {
    let env = setup("suspend");
    let db = xe(&env, &["vm-list", "name-label=db01", "--minimal"]);
    let out = run(&env, "suspend-resume", &[&db]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Suspended; memory image in VDI "));
    assert_eq!(xe(&env, &["vm-list", &format!("uuid={db}"), "params=power-state", "--minimal"]), "running");
    let halted = xe(&env, &["vm-list", "name-label=test-halted", "--minimal"]);
    assert_eq!(run(&env, "suspend-resume", &[&halted]).status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&env.home);
}

#[test]
fn install_debian_reports_the_guest_ip() {
    let env = setup("install");
    let out = run(&env, "install-debian", &["deb1"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("deb1 is up at "), "{}", text(&out));
    assert_eq!(xe(&env, &["vm-list", "name-label=deb1", "params=power-state", "--minimal"]), "running");
    let _ = std::fs::remove_dir_all(&env.home);
}

/// The README's fault example: its own simulator (the `xapi-sim` binary
/// beside `xe`) fails the first `VM.start`, and the script's retry copes.
#[test]
fn the_readme_fault_example_survives_a_failing_vm_start() {
    let xe = Path::new(env!("CARGO_BIN_EXE_xe"));
    let sim = xe.with_file_name("xapi-sim");
    assert!(sim.is_file(), "{} is missing: cargo build --workspace", sim.display());
    let home = std::env::temp_dir().join(format!("xe-scripts-{}-faults", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/survive-start-failure");
    let out = Command::new("bash")
        .arg(script)
        .env("XE", xe)
        .env("XAPI_SIM", &sim)
        .env("HOME", &home)
        .env_remove("XE_EXTRA_ARGS")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&home);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "The host does not have enough free memory.\nneeded: 4294967296\navailable: 1073741824\n\
         vm-start failed, retrying\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "survived\n");
}

/// The README's rehearsal: a simulator started from a dump of a small real
/// pool (`xapi-sim --load`, the binary beside `xe`) answers real `xe`.
#[test]
fn the_readme_rehearsal_runs_against_a_loaded_pool_dump() {
    let xe = Path::new(env!("CARGO_BIN_EXE_xe"));
    let sim = xe.with_file_name("xapi-sim");
    assert!(sim.is_file(), "{} is missing: cargo build --workspace", sim.display());
    let home = std::env::temp_dir().join(format!("xe-scripts-{}-rehearse", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("tests/scripts/rehearse-pool-copy"))
        .arg(root.join("crates/xapi-sim/tests/fixtures/pool-2hosts.db"))
        .arg("db-01")
        .env("XE", xe)
        .env("XAPI_SIM", &sim)
        .env("HOME", &home)
        .env_remove("XE_EXTRA_ARGS")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&home);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hosts: xcp-ng-02,xcp-ng-01\nshared SRs: NFS VM storage,ISO library\n\
         db-01 runs on xcp-ng-02\nDry-run backup restore successful\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "note: the file has database schema 5.789, the simulator's is 5.780: columns are matched by name\n\
         note: table VM_group (1 row) is not in the simulator's datamodel: kept as is\n\
         note: column VM.groups (3 rows) is not in the simulator's datamodel: kept as is\n\
         note: column host.ssh_enabled (2 rows) is not in the simulator's datamodel: kept as is\n\
         note: dropped the 1 session and 1 task rows: they do not outlive xapi\n"
    );
}

/// The README's backup and restore: a VM exported as an XVA, the pool
/// database dumped, the VM imported as a copy whose disks match byte for
/// byte, and the copy started.
#[test]
fn the_readme_backup_restores_a_vm_with_its_disks() {
    let env = setup("backup");
    let dir = env.home.join("backups");
    std::fs::create_dir_all(&dir).unwrap();
    let out = run(&env, "backup-restore", &["test-halted", "NFS virtual disk storage", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Export succeeded\ndisk 0 restored\ntest-halted restored as test-halted-restored: running\n"
    );
    let archive = std::fs::read(dir.join("test-halted.xva")).unwrap();
    assert_eq!(&archive[..4], &[0x28, 0xb5, 0x2f, 0xfd], "a zstd archive");
    let dump = std::fs::read_to_string(dir.join("pool.db")).unwrap();
    assert!(dump.contains("<database><manifest>"), "an xapi database dump");
    assert_eq!(xe(&env, &["vm-list", "name-label=test-halted", "params=power-state", "--minimal"]), "halted");
    let _ = std::fs::remove_dir_all(&env.home);
}

/// The README's rolling maintenance: a 3-host pool with 20 running VMs (the
/// `xapi-sim` binary beside `xe`, `--vms 76` less web01, whose disk is on
/// local storage), each host disabled, evacuated, rebooted, waited for with
/// `event-wait` and enabled, the master last; no VM ever stops.
#[test]
fn the_readme_rolling_maintenance_keeps_every_vm_running() {
    let xe = Path::new(env!("CARGO_BIN_EXE_xe"));
    let sim = xe.with_file_name("xapi-sim");
    assert!(sim.is_file(), "{} is missing: cargo build --workspace", sim.display());
    let home = std::env::temp_dir().join(format!("xe-scripts-{}-rolling", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let ready = home.join("ready");
    let mut child = Command::new(&sim)
        .args(["--vms", "76", "--time-scale", "0.05", "--ready-file"])
        .arg(&ready)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ready.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let port = std::fs::read_to_string(&ready).unwrap_or_default();
    let port = port.lines().find_map(|l| l.strip_prefix("port=")).unwrap_or("0").to_string();
    let extra = format!("server=127.0.0.1,port={port},nossl=true,username=root,password=xenroot");
    let xe_run =
        |args: &[&str]| Command::new(xe).args(args).env("HOME", &home).env("XE_EXTRA_ARGS", &extra).output().unwrap();
    assert!(xe_run(&["vm-shutdown", "vm=web01"]).status.success());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hosts/rolling-maintenance.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("XE", xe)
        .env("HOME", &home)
        .env("XE_EXTRA_ARGS", &extra)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let enabled = xe_run(&["host-list", "params=enabled", "--minimal"]);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&home);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "20 VMs running\nxs-host-2: rebooted, 0 VMs on it\nxs-host-3: rebooted, 0 VMs on it\n\
         xs-host-1: rebooted, 0 VMs on it\nall hosts maintained, 20 VMs still running\n"
    );
    assert_eq!(String::from_utf8_lossy(&enabled.stdout).trim(), "true,true,true");
}
