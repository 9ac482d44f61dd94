//! `host-logs-download` against a simulator: the master's logs over xe's
//! connection, a member's from its own address (each simulated host listens
//! on its own), `--multiple` naming each file after its host; archives read
//! back with the system's `tar`.

use super::{ok, scratch, xe};
use std::path::Path;
use std::process::Command;

/// The member list of a gzip-compressed tar, and one member's text, read by `tar`.
fn tar_read(archive: &Path, member: &str) -> (Vec<String>, String) {
    let list = Command::new("tar").arg("tzf").arg(archive).output().unwrap();
    assert!(list.status.success(), "tar tzf {}", archive.display());
    let names = String::from_utf8_lossy(&list.stdout).lines().map(str::to_string).collect();
    let text = Command::new("tar").arg("xzOf").arg(archive).arg(member).output().unwrap();
    (names, String::from_utf8_lossy(&text.stdout).into_owned())
}

#[test]
fn logs_come_from_the_selected_hosts() {
    let sim = crate::common::start_sim(false);
    let dir = scratch("host-logs");
    let x = xe(&sim, &dir);
    let one = dir.join("member.tgz");
    ok(x(&["host-logs-download", "host=xs-host-2", &format!("file-name={}", one.display())]));
    let (names, sm) = tar_read(&one, "var/log/SMlog");
    assert_eq!(names, ["var/log/xensource.log", "var/log/messages", "var/log/SMlog"]);
    assert!(sm.lines().count() > 0 && sm.lines().all(|l| l.contains(" xs-host-2 SM: ")), "{sm}");

    let base = dir.join("all");
    ok(x(&["host-logs-download", "--multiple", &format!("file-name={}", base.display())]));
    for n in 1..=3 {
        let file = dir.join(format!("all-xs-host-{n}"));
        let (names, _) = tar_read(&file, "var/log/xensource.log");
        assert!(names.contains(&"var/log/xensource.log".to_string()), "{}", file.display());
    }
    // The master's log shows the tasks of the downloads so far.
    let (_, log) = tar_read(&dir.join("all-xs-host-1"), "var/log/xensource.log");
    assert!(log.contains(" xs-host-1 xapi: ") && log.contains("host logs download"), "{log}");
    assert_eq!(ok(x(&["task-list", "--minimal"])), "", "every download destroyed its task");
    let _ = std::fs::remove_dir_all(&dir);
}
