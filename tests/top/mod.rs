//! `xe top`'s live view in a real terminal (tmux): it draws the pool, a key
//! changes the sort, `q` quits with status 0 and the terminal is back as it
//! was (the alternate screen is gone). Skipped, saying so, without tmux.

use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> String {
    let o = Command::new("tmux").args(args).output().expect("tmux runs");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Waits until the pane shows `text`; the pane as last seen.
fn wait_for(session: &str, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pane = tmux(&["capture-pane", "-p", "-t", session]);
        if pane.contains(text) || Instant::now() > deadline {
            return pane;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_live_view_draws_sorts_and_quits_leaving_the_terminal_as_it_was() {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("note: tmux is not installed; the live view of xe top is not tested (install tmux)");
        return;
    }
    let sim = crate::common::start_sim(false);
    let session = format!("xe-top-{}", std::process::id());
    let command = format!(
        "XE_EXTRA_ARGS=server=127.0.0.1,port={},password=xenroot,nossl=true HOME=/tmp {} top --hosts interval=1; \
         echo EXITED $?; sleep 60",
        sim.addr.port(),
        env!("CARGO_BIN_EXE_xe")
    );
    tmux(&["new-session", "-d", "-s", &session, "-x", "120", "-y", "30", &command]);
    let first = wait_for(&session, "sorted by cpu");
    assert!(first.contains("web01") && first.contains("xs-host-1"), "{first}");
    tmux(&["send-keys", "-t", &session, "m"]);
    let sorted = wait_for(&session, "sorted by memory");
    assert!(sorted.contains("sorted by memory"), "{sorted}");
    tmux(&["send-keys", "-t", &session, "q"]);
    let after = wait_for(&session, "EXITED");
    tmux(&["kill-session", "-t", &session]);
    assert!(after.contains("EXITED 0"), "{after}");
    assert!(!after.contains("xe top:"), "the alternate screen is gone after quitting:\n{after}");
}
