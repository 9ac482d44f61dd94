//! `task-cancel` on a real operation: a VM start that takes two seconds is
//! seen pending in `task-list` (with its progress), cancelled from a second
//! xe, and the first xe reports the cancellation; the VM stays halted.

use std::time::{Duration, Instant};

#[test]
fn a_pending_start_is_cancelled_from_another_xe() {
    let sim = crate::common::start_sim_scaled(false, 1.0);
    let xe = crate::common::xe_at(&sim);
    let starting = xe(&["vm-start", "vm=test-halted"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let task = loop {
        let o = xe(&["task-list", "status=pending", "name-label=Async.VM.start", "params=uuid", "--minimal"])
            .output()
            .unwrap();
        let uuid = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if !uuid.is_empty() {
            break uuid;
        }
        assert!(Instant::now() < deadline, "the start never showed as a pending task");
        std::thread::sleep(Duration::from_millis(20));
    };
    let progress = xe(&["task-param-get", &format!("uuid={task}"), "param-name=progress"]).output().unwrap();
    let progress: f64 = String::from_utf8_lossy(&progress.stdout).trim().parse().unwrap();
    assert!((0.0..1.0).contains(&progress), "progress {progress}");
    let o = xe(&["task-cancel", &format!("uuid={task}")]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let started = starting.wait_with_output().unwrap();
    assert!(!started.status.success(), "the cancelled start failed");
    let err = String::from_utf8_lossy(&started.stderr);
    assert!(err.contains("cancelled"), "{err}");
    let state = xe(&["vm-list", "name-label=test-halted", "params=power-state", "--minimal"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "halted");
    // A finished task cannot be cancelled: xapi's error, through xe.
    let again = xe(&["task-cancel", &format!("uuid={task}")]).output().unwrap();
    assert!(!again.status.success());
}
