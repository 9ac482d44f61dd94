//! The simulator under concurrent load, killed with SIGKILL mid-load and
//! restarted on its `--state`: a short run of the driver behind
//! `benches/load.rs` (see `load/driver.rs` for what it checks), so CI covers
//! correctness; the figures are the benchmark's business.

// Tests own their terminal.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

#[path = "load/driver.rs"]
mod driver;

use std::path::PathBuf;
use std::time::Duration;

#[test]
fn concurrent_load_then_kill_loses_no_acknowledged_change() {
    let dir = std::env::temp_dir().join(format!("xapi-sim-load-test-{}", std::process::id()));
    let plan = driver::Plan {
        bin: PathBuf::from(env!("CARGO_BIN_EXE_xapi-sim")),
        dir: dir.clone(),
        clients: 20,
        duration: Duration::from_secs(3),
        kill_at: Some(Duration::from_millis(1500)),
    };
    let report = driver::run(&plan, &mut |_| {});
    for line in &report.lines {
        eprintln!("{line}");
    }
    assert!(report.problems.is_empty(), "state kept in {}:\n{}", dir.display(), report.problems.join("\n"));
    // The run did what it is for: changes acknowledged before the kill and checked after it.
    assert!(report.acknowledged_writes > 100, "only {} changes acknowledged", report.acknowledged_writes);
    assert!(report.checked_after_restart > 0, "nothing checked after the restart");
    let _ = std::fs::remove_dir_all(&dir);
}
