//! A restart on `--state` after the process died mid-operation (`kill -9`):
//! the tasks died with it, so nothing may stay in progress. xapi does not
//! even persist `current_operations` and `allowed_operations`, and its
//! master's startup recomputes the latter and clears the placements that
//! were only scheduled (`Dbsync_master`, `Cancel_tasks`).

mod common;

use common::{login, ok, s, vm};
use std::time::Duration;
use xapi_sim::server::{build_core, SimOptions};
use xenapi::Value;

fn keys(v: &Value) -> Vec<String> {
    v.as_struct().unwrap_or(&[]).iter().map(|(k, _)| k.clone()).collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap_or(&[]).iter().filter_map(Value::as_str).map(String::from).collect()
}

#[tokio::test]
async fn operations_cut_by_a_kill_are_not_in_progress_after_a_restart() {
    let dir = std::env::temp_dir().join(format!("xapi-sim-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut opts = SimOptions { state: Some(dir.join("state.json")), ..SimOptions::default() };
    // Slow operations, so they are still running when the "kill" comes.
    opts.config.time_scale = 1000.0;
    let before = build_core(&opts).expect("core");
    let session = login(&before).await;
    let halted = vm(&before, &session, "test-halted").await;
    ok(&before, "Async.VM.start", vec![session.clone(), halted.clone(), Value::Bool(false), Value::Bool(false)]).await;
    let suspended = vm(&before, &session, "build-suspended").await;
    let vbds = ok(&before, "VM.get_VBDs", vec![session.clone(), suspended.clone()]).await;
    let vbd = vbds.as_array().unwrap()[0].clone();
    let vdi = ok(&before, "VBD.get_VDI", vec![session.clone(), vbd]).await;
    let sr = ok(&before, "VDI.get_SR", vec![session.clone(), vdi.clone()]).await;
    ok(&before, "Async.VDI.copy", vec![session.clone(), vdi.clone(), sr, s("OpaqueRef:NULL"), s("OpaqueRef:NULL")])
        .await;
    // Both operations have been entered, and journalled, before they work.
    for _ in 0..500 {
        let vm_ops = ok(&before, "VM.get_current_operations", vec![session.clone(), halted.clone()]).await;
        let vdi_ops = ok(&before, "VDI.get_current_operations", vec![session.clone(), vdi.clone()]).await;
        if !keys(&vm_ops).is_empty() && !keys(&vdi_ops).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let vm_ops = ok(&before, "VM.get_current_operations", vec![session.clone(), halted.clone()]).await;
    assert_eq!(keys(&vm_ops).len(), 1, "VM.start in progress");
    let scheduled = ok(&before, "VM.get_scheduled_to_be_resident_on", vec![session.clone(), halted.clone()]).await;
    assert_ne!(scheduled, s("OpaqueRef:NULL"), "VM.start reserved a host");

    // The process dies here: what it journalled is all a restart gets.
    let after = build_core(&opts).expect("restarted core");
    let session = login(&after).await;
    let vm_ops = ok(&after, "VM.get_current_operations", vec![session.clone(), halted.clone()]).await;
    assert_eq!(keys(&vm_ops), Vec::<String>::new());
    let allowed = ok(&after, "VM.get_allowed_operations", vec![session.clone(), halted.clone()]).await;
    assert!(strings(&allowed).contains(&"start".to_string()), "{allowed:?}");
    let scheduled = ok(&after, "VM.get_scheduled_to_be_resident_on", vec![session.clone(), halted.clone()]).await;
    assert_eq!(scheduled, s("OpaqueRef:NULL"));
    let vdi_ops = ok(&after, "VDI.get_current_operations", vec![session.clone(), vdi.clone()]).await;
    assert_eq!(keys(&vdi_ops), Vec::<String>::new());
    let allowed = ok(&after, "VDI.get_allowed_operations", vec![session.clone(), vdi.clone()]).await;
    assert!(strings(&allowed).contains(&"copy".to_string()), "{allowed:?}");
    // And both objects take operations again.
    ok(&after, "VDI.snapshot", vec![session.clone(), vdi.clone(), Value::Struct(Vec::new())]).await;
    drop(before);
    drop(after);
    let _ = std::fs::remove_dir_all(&dir);
}
