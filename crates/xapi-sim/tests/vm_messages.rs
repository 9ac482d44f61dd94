//! The messages VM lifecycle operations file when they succeed, with
//! xapi's names, priorities and bodies, by the synchronous and the `Async.`
//! forms alike; failed operations, clones and copies file none.

mod common;

use common::{call, core, fails, login, ok, s, vm};
use std::sync::Arc;
use xapi_sim::Core;
use xenapi::Value;

struct Fixture {
    core: Arc<Core>,
    session: Value,
}

impl Fixture {
    async fn ok(&self, method: &str, args: &[Value]) -> Value {
        let mut params = vec![self.session.clone()];
        params.extend_from_slice(args);
        ok(&self.core, method, params).await
    }

    async fn text(&self, method: &str, args: &[Value]) -> String {
        self.ok(method, args).await.as_str().unwrap().to_string()
    }

    /// Runs an `Async.` call to the end and returns the task's status.
    async fn run_async(&self, method: &str, args: &[Value]) -> String {
        let task = self.ok(method, args).await;
        for _ in 0..500 {
            let status = call(&self.core, "task.get_status", vec![self.session.clone(), task.clone()]).await;
            let status = status.unwrap().as_str().unwrap().to_string();
            if status != "pending" {
                return status;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{method} did not finish");
    }

    /// Messages about a VM, oldest first: (name, priority, cls, body).
    async fn messages(&self, uuid: &str) -> Vec<(String, i64, String, String)> {
        let got = self.ok("message.get", &[s("VM"), s(uuid), s("19700101T00:00:00Z")]).await;
        let mut out: Vec<_> = got
            .as_struct()
            .unwrap()
            .iter()
            .map(|(_, r)| {
                let f = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                assert_eq!(f("obj_uuid"), uuid);
                let priority = r.get("priority").and_then(Value::as_int).unwrap();
                (f("name"), priority, f("cls"), f("body"))
            })
            .collect();
        out.reverse();
        out
    }

    /// The messages filed since the last look, as (name, body).
    async fn new_messages(&self, uuid: &str, seen: &mut usize) -> Vec<(String, String)> {
        let all = self.messages(uuid).await;
        let fresh = all[*seen..]
            .iter()
            .map(|(n, p, c, b)| {
                assert_eq!((*p, c.as_str()), (5, "VM"), "{n}");
                (n.clone(), b.clone())
            })
            .collect();
        *seen = all.len();
        fresh
    }
}

fn pairs(v: &[(&str, String)]) -> Vec<(String, String)> {
    v.iter().map(|(n, b)| (n.to_string(), b.clone())).collect()
}

#[tokio::test]
async fn lifecycle_operations_file_xapis_messages() {
    let core = core();
    let session = login(&core).await;
    let f = Fixture { core: core.clone(), session: session.clone() };
    let vm = vm(&core, &session, "test-halted").await;
    let uuid = f.text("VM.get_uuid", std::slice::from_ref(&vm)).await;
    let me = format!("VM 'test-halted' (uuid: {uuid})");
    let host_of = |h: String| {
        let f = &f;
        async move {
            let h = s(&h);
            (f.text("host.get_name_label", std::slice::from_ref(&h)).await, f.text("host.get_uuid", &[h]).await)
        }
    };
    let mut seen = 0;
    assert!(f.new_messages(&uuid, &mut seen).await.is_empty());

    f.ok("VM.start", &[vm.clone(), Value::Bool(false), Value::Bool(false)]).await;
    let first = f.text("VM.get_resident_on", std::slice::from_ref(&vm)).await;
    let (h1, h1_uuid) = host_of(first.clone()).await;
    let started = format!("{me} started on host: {h1} (uuid: {h1_uuid})");
    assert_eq!(f.new_messages(&uuid, &mut seen).await, pairs(&[("VM_STARTED", started)]));

    // A failed operation files nothing.
    let e = fails(&core, "VM.start", vec![session.clone(), vm.clone(), Value::Bool(false), Value::Bool(false)]).await;
    assert_eq!(e[0], "VM_BAD_POWER_STATE");
    assert!(f.new_messages(&uuid, &mut seen).await.is_empty());

    f.ok("VM.pause", std::slice::from_ref(&vm)).await;
    f.ok("VM.unpause", std::slice::from_ref(&vm)).await;
    f.ok("VM.clean_reboot", std::slice::from_ref(&vm)).await;
    f.ok("VM.hard_reboot", std::slice::from_ref(&vm)).await;
    f.ok("VM.snapshot", &[vm.clone(), s("before suspend")]).await;
    f.ok("VM.checkpoint", &[vm.clone(), s("a checkpoint")]).await;
    assert_eq!(
        f.new_messages(&uuid, &mut seen).await,
        pairs(&[
            ("VM_PAUSED", format!("{me} paused")),
            ("VM_UNPAUSED", format!("{me} unpaused")),
            ("VM_REBOOTED", format!("{me} rebooted cleanly")),
            ("VM_REBOOTED", format!("{me} rebooted forcibly")),
            ("VM_SNAPSHOTTED", format!("{me} snapshotted, snapshot name: before suspend")),
            ("VM_CHECKPOINTED", format!("{me} checkpointed, snapshot name: a checkpoint")),
        ])
    );

    // Migration names both hosts.
    let hosts = f.ok("host.get_all", &[]).await;
    let other = hosts.as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_string()).find(|h| *h != first);
    let other = other.expect("a second host");
    f.ok("VM.pool_migrate", &[vm.clone(), s(&other), Value::Struct(vec![])]).await;
    let (h2, h2_uuid) = host_of(other.clone()).await;
    let migrated = format!("{me} migrated from host '{h1}' (uuid: {h1_uuid}) to host '{h2}' (uuid: {h2_uuid})");
    assert_eq!(f.new_messages(&uuid, &mut seen).await, pairs(&[("VM_MIGRATED", migrated)]));

    // The Async forms file the same messages, before their tasks complete.
    assert_eq!(f.run_async("Async.VM.suspend", std::slice::from_ref(&vm)).await, "success");
    assert_eq!(f.new_messages(&uuid, &mut seen).await, pairs(&[("VM_SUSPENDED", format!("{me} suspended"))]));
    let resume_on = [vm.clone(), s(&first), Value::Bool(false), Value::Bool(false)];
    assert_eq!(f.run_async("Async.VM.resume_on", &resume_on).await, "success");
    let resumed = format!("{me} resumed on host: {h1} (uuid: {h1_uuid})");
    assert_eq!(f.new_messages(&uuid, &mut seen).await, pairs(&[("VM_RESUMED", resumed)]));

    f.ok("VM.clean_shutdown", std::slice::from_ref(&vm)).await;
    f.ok("VM.start_on", &[vm.clone(), s(&other), Value::Bool(true), Value::Bool(false)]).await;
    f.ok("VM.hard_shutdown", std::slice::from_ref(&vm)).await;
    assert_eq!(
        f.new_messages(&uuid, &mut seen).await,
        pairs(&[
            ("VM_SHUTDOWN", format!("{me} shutdown")),
            ("VM_STARTED", format!("{me} started on host: {h2} (uuid: {h2_uuid})")),
            ("VM_SHUTDOWN", format!("{me} shutdown forcibly")),
        ])
    );

    // Clones and copies file nothing, on the source or on the new VM.
    let clone = f.ok("VM.clone", &[vm.clone(), s("a clone")]).await;
    let clone_uuid = f.text("VM.get_uuid", &[clone]).await;
    assert!(f.new_messages(&uuid, &mut seen).await.is_empty());
    assert!(f.messages(&clone_uuid).await.is_empty());

    // A revert files on the VM, naming the snapshot; reverting a running VM
    // hard-shuts it down first, which files that message too.
    let snap = f.ok("VM.get_by_name_label", &[s("before suspend")]).await.as_array().unwrap()[0].clone();
    let snap_uuid = f.text("VM.get_uuid", std::slice::from_ref(&snap)).await;
    let reverted = format!("{me} reverted to snapshot: before suspend (uuid {snap_uuid})");
    f.ok("VM.revert", std::slice::from_ref(&snap)).await;
    assert_eq!(f.new_messages(&uuid, &mut seen).await, pairs(&[("VM_SNAPSHOT_REVERTED", reverted.clone())]));
    f.ok("VM.start", &[vm.clone(), Value::Bool(false), Value::Bool(false)]).await;
    f.ok("VM.revert", std::slice::from_ref(&snap)).await;
    let got = f.new_messages(&uuid, &mut seen).await;
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["VM_STARTED", "VM_SHUTDOWN", "VM_SNAPSHOT_REVERTED"]);
    assert_eq!(got[1].1, format!("{me} shutdown forcibly"));
    assert_eq!(got[2].1, reverted);
    // None of them is about the snapshot itself.
    assert!(f.messages(&snap_uuid).await.is_empty());
}

#[tokio::test]
async fn messages_are_announced_to_event_subscribers() {
    let core = core();
    let session = login(&core).await;
    let f = Fixture { core: core.clone(), session: session.clone() };
    let vm = vm(&core, &session, "test-halted").await;
    let from = |token: Value| vec![session.clone(), Value::Array(vec![s("message")]), token, Value::Float(0.0)];
    let token = ok(&core, "event.from", from(s(""))).await.get("token").unwrap().clone();
    f.ok("VM.start", &[vm.clone(), Value::Bool(false), Value::Bool(false)]).await;
    let batch = ok(&core, "event.from", from(token)).await;
    let events = batch.get("events").unwrap().as_array().unwrap();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!((e.get("class"), e.get("operation")), (Some(&s("message")), Some(&s("add"))));
    let snapshot = e.get("snapshot").unwrap();
    assert_eq!(snapshot.get("name"), Some(&s("VM_STARTED")));
    let record = f.ok("message.get_record", &[e.get("ref").unwrap().clone()]).await;
    assert_eq!(snapshot, &record);
}
