//! `vdi-export` and `vdi-import` with the real `xe` against a simulator, over
//! HTTP and HTTPS: raw and VHD round trips checked byte for byte and by
//! qemu-img (an independent VHD reader and writer), standard output, a
//! redirect to another pool member, and interrupted or cancelled transfers.

mod host_logs;

use crate::common::{ok, scratch as scratch_in, xe_home as xe};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use xapi_sim::Sim;

const MIB: usize = 1 << 20;

/// qemu-img, when installed (Debian's qemu-utils); the checks that need it say so when it is not.
fn qemu_img() -> Option<&'static str> {
    let there = Command::new("qemu-img").arg("--version").output().is_ok_and(|o| o.status.success());
    if !there {
        println!("note: qemu-img is not installed; the qemu-img checks are skipped (install qemu-utils)");
    }
    there.then_some("qemu-img")
}

/// A disk image with data in some 2 MiB blocks and zeros in the others.
fn image(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    for (i, b) in v.iter_mut().enumerate() {
        let block = i / (2 * MIB);
        if block % 3 == 0 && i % (2 * MIB) < 300_000 {
            *b = ((i * 31 + block) % 251 + 1) as u8;
        }
    }
    v
}

fn new_disk(x: &impl Fn(&[&str]) -> Command, size: &str) -> String {
    let sr = ok(x(&["sr-list", "name-label=NFS virtual disk storage", "--minimal"]));
    ok(x(&["vdi-create", &format!("sr-uuid={sr}"), "name-label=io test", &format!("virtual-size={size}")]))
}

#[test]
fn raw_and_vhd_round_trips_over_http_and_https() {
    let qemu = qemu_img();
    for tls in [false, true] {
        let sim = crate::common::start_sim(tls);
        let dir = scratch(if tls { "https" } else { "http" });
        let x = xe(&sim, &dir);
        let data = image(64 * MIB);
        let source = dir.join("source.raw");
        std::fs::write(&source, &data).unwrap();
        let disk = new_disk(&x, "64MiB");
        let uuid = format!("uuid={disk}");
        assert_eq!(ok(x(&["vdi-import", &uuid, &format!("filename={}", source.display())])), "");

        let raw = dir.join("out.raw");
        assert_eq!(ok(x(&["vdi-export", &uuid, &format!("filename={}", raw.display())])), "");
        assert!(std::fs::read(&raw).unwrap() == data, "raw export (tls={tls})");
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let meta = std::fs::metadata(&raw).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
            // Written sparsely: the zero blocks take no space.
            assert!((meta.blocks() * 512) < (40 * MIB) as u64, "{} bytes allocated", meta.blocks() * 512);
        }

        let vhd = dir.join("out.vhd");
        ok(x(&["vdi-export", &uuid, &format!("filename={}", vhd.display()), "format=vhd"]));
        let bytes = std::fs::read(&vhd).unwrap();
        assert_eq!(&bytes[..8], b"conectix");
        // 11 of the 32 blocks hold data.
        assert_eq!(bytes.len(), 2048 + 512 + 11 * (512 + 2 * MIB) + 512);

        if let Some(qemu) = qemu {
            let info = Command::new(qemu).args(["info", "-f", "vpc"]).arg(&vhd).output().unwrap();
            let text = String::from_utf8_lossy(&info.stdout);
            assert!(info.status.success() && text.contains("file format: vpc"), "{text}");
            assert!(text.contains("(67108864 bytes)"), "{text}");
            let converted = dir.join("converted.raw");
            let opts = format!("driver=vpc,force_size_calc=current_size,file.filename={}", vhd.display());
            let conv =
                Command::new(qemu).args(["convert", "--image-opts", &opts, "-O", "raw"]).arg(&converted).output();
            assert!(conv.unwrap().status.success());
            assert!(std::fs::read(&converted).unwrap() == data, "qemu reads our VHD as the raw export");

            // A VHD written by qemu imports to the same bytes.
            let theirs = dir.join("qemu.vhd");
            let made = Command::new(qemu)
                .args(["convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic"])
                .arg(&source)
                .arg(&theirs)
                .output()
                .unwrap();
            assert!(made.status.success());
            let second = new_disk(&x, "64MiB");
            ok(x(&["vdi-import", &format!("uuid={second}"), &format!("filename={}", theirs.display()), "format=vhd"]));
            let back = dir.join("back.raw");
            ok(x(&["vdi-export", &format!("uuid={second}"), &format!("filename={}", back.display())]));
            assert!(std::fs::read(&back).unwrap() == data, "qemu's VHD imported (tls={tls})");
        }

        // Our VHD imports back too, and an empty file name means standard output.
        let third = new_disk(&x, "64MiB");
        ok(x(&["vdi-import", &format!("uuid={third}"), &format!("filename={}", vhd.display()), "format=vhd"]));
        let out = x(&["vdi-export", &format!("uuid={third}"), "filename="]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout == data, "stdout export (tls={tls})");
        let tasks = ok(x(&["task-list", "--minimal"]));
        assert_eq!(tasks, "", "every transfer destroyed its task");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_disk_on_a_members_storage_is_fetched_from_that_member() {
    for tls in [false, true] {
        let sim = crate::common::start_sim(tls);
        let dir = scratch(if tls { "redirect-tls" } else { "redirect" });
        let x = xe(&sim, &dir);
        // The second host answers under another name of the same simulator
        // (xe reaches the master as 127.0.0.1, or as localhost over HTTPS):
        // the redirect names it, and xe follows with its own port and TLS mode.
        let member_name = if tls { "127.0.0.1" } else { "localhost" };
        let sr = sim
            .core
            .write(|db| {
                let member = db.all("host").into_iter().find(|h| db.string(h, "name_label") == "xs-host-2").unwrap();
                db.set_named(&member, "address", xenapi::Value::str(member_name));
                let local = db
                    .strings(&member, "PBDs")
                    .into_iter()
                    .map(|p| db.string(&p, "SR"))
                    .find(|sr| db.string(sr, "name_label") == "Local storage")
                    .unwrap();
                Ok(db.string(&local, "uuid"))
            })
            .unwrap();
        let disk = ok(x(&["vdi-create", &format!("sr-uuid={sr}"), "name-label=remote", "virtual-size=4MiB"]));
        let data = image(4 * MIB);
        let source = dir.join("in.raw");
        std::fs::write(&source, &data).unwrap();
        let import = x(&["vdi-import", &format!("uuid={disk}"), &format!("filename={}", source.display())]).output();
        let import = import.unwrap();
        assert!(import.status.success(), "{}", String::from_utf8_lossy(&import.stderr));
        if tls {
            // The member's certificate is pinned (under its own name) like any other.
            let err = String::from_utf8_lossy(&import.stderr);
            assert!(err.contains(&format!("Pinned the certificate of 127.0.0.1:{}", sim.addr.port())), "{err}");
        }
        let out = dir.join("out.raw");
        ok(x(&["vdi-export", &format!("uuid={disk}"), &format!("filename={}", out.display())]));
        assert!(std::fs::read(&out).unwrap() == data, "tls={tls}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Waits until the simulator has a pending task that a handler took (progress above zero).
fn wait_for_transfer(sim: &Sim) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        {
            let db = sim.core.db.read();
            let tasks = db.class_index("task").unwrap();
            let moving = db.iter(tasks).any(|(r, _)| {
                db.field_str(r, "status") == "pending"
                    && db.field(r, "progress").and_then(xenapi::Value::as_float).is_some_and(|p| p > 0.0)
            });
            if moving {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the transfer never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_cancelled_export_removes_its_partial_file_and_says_so() {
    let sim = crate::common::start_sim(false);
    let dir = scratch("cancel");
    let x = xe(&sim, &dir);
    let disk = new_disk(&x, "8GiB");
    let out = dir.join("big.raw");
    let child = x(&["vdi-export", &format!("uuid={disk}"), &format!("filename={}", out.display())])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_transfer(&sim);
    // Another client cancels the task.
    let conn = xenapi::client::Connection::new(&sim.url(), xenapi::client::Options::new(xenapi::client::Tls::Insecure));
    let mut other = xenapi::client::Session::login(conn.unwrap(), "root", "xenroot", "other").unwrap();
    let pending = other.call("task.get_all_records_where", &[xenapi::Value::str(r#"field "status" = "pending""#)]);
    let task = match pending.unwrap() {
        xenapi::Value::Struct(m) => m.into_iter().next().unwrap().0,
        v => panic!("{v:?}"),
    };
    other.cancel_task(&task).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("TASK_CANCELLED") || err.contains("cancelled"), "{err}");
    assert!(!out.exists(), "the partial file is removed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn ctrl_c_during_an_export_cancels_its_task_and_removes_the_file() {
    let sim = crate::common::start_sim(false);
    let dir = scratch("ctrl-c");
    let x = xe(&sim, &dir);
    let disk = new_disk(&x, "8GiB");
    let out = dir.join("big.raw");
    let child = x(&["vdi-export", &format!("uuid={disk}"), &format!("filename={}", out.display())])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_transfer(&sim);
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err,
        format!("Interrupted: its task was cancelled and the partial file '{}' was removed.\n", out.display())
    );
    assert!(!out.exists());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let statuses: Vec<String> = {
            let db = sim.core.db.read();
            let tasks = db.class_index("task").unwrap();
            db.iter(tasks).map(|(r, _)| db.field_str(r, "status").to_string()).collect()
        };
        if statuses.iter().all(|s| s != "pending" && s != "cancelling") {
            assert!(statuses.contains(&"cancelled".to_string()), "{statuses:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the export kept running: {statuses:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn scratch(name: &str) -> PathBuf {
    scratch_in("vdi-io", name)
}
