//! The `message` class: create, lookups, filters, destroy, events and
//! persistence, with xapi's errors.

mod common;

use common::{core, core_with, err, fails, login, ok, s, vm};
use std::sync::Arc;
use xapi_sim::server::SimOptions;
use xapi_sim::Core;
use xenapi::Value;

async fn vm_uuid(core: &Arc<Core>, session: &Value) -> String {
    let vm = vm(core, session, "test-halted").await;
    ok(core, "VM.get_uuid", vec![session.clone(), vm]).await.as_str().unwrap().to_string()
}

async fn create(core: &Arc<Core>, session: &Value, name: &str, priority: i64, cls: &str, uuid: &str) -> Value {
    let args = vec![session.clone(), s(name), Value::Int(priority), s(cls), s(uuid), s("body text")];
    ok(core, "message.create", args).await
}

fn keys(v: &Value) -> Vec<String> {
    v.as_struct().unwrap().iter().map(|(k, _)| k.clone()).collect()
}

#[tokio::test]
async fn round_trip() {
    let core = core();
    let session = login(&core).await;
    let uuid = vm_uuid(&core, &session).await;
    let first = create(&core, &session, "FIRST", 5, "VM", &uuid).await;
    // The class is accepted in any case and stored in the enum's spelling.
    let second = create(&core, &session, "SECOND", 3, "vm", &uuid).await;
    let rec = ok(&core, "message.get_record", vec![session.clone(), first.clone()]).await;
    let fields: Vec<&str> = rec.as_struct().unwrap().iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(fields, ["uuid", "name", "priority", "cls", "obj_uuid", "timestamp", "body"]);
    assert_eq!(rec.get("name"), Some(&s("FIRST")));
    assert_eq!(rec.get("priority"), Some(&Value::Int(5)));
    assert_eq!(rec.get("cls"), Some(&s("VM")));
    assert_eq!(rec.get("obj_uuid"), Some(&s(&uuid)));
    assert_eq!(rec.get("body"), Some(&s("body text")));
    assert!(matches!(rec.get("timestamp"), Some(Value::DateTime(t)) if t.ends_with('Z')));
    let rec2 = ok(&core, "message.get_record", vec![session.clone(), second.clone()]).await;
    assert_eq!(rec2.get("cls"), Some(&s("VM")));

    let all = ok(&core, "message.get_all", vec![session.clone()]).await;
    assert_eq!(all, Value::Array(vec![first.clone(), second.clone()]));
    // Record maps are newest first.
    let records = ok(&core, "message.get_all_records", vec![session.clone()]).await;
    assert_eq!(keys(&records), [second.as_str().unwrap(), first.as_str().unwrap()]);
    let muuid = rec.get("uuid").unwrap().clone();
    assert_eq!(ok(&core, "message.get_by_uuid", vec![session.clone(), muuid]).await, first);

    let stamp = rec.get("timestamp").unwrap().clone();
    let since = ok(&core, "message.get_since", vec![session.clone(), stamp.clone()]).await;
    assert_eq!(keys(&since).len(), 2);
    let later = Value::str("29991231T00:00:00Z");
    let none = ok(&core, "message.get_since", vec![session.clone(), later.clone()]).await;
    assert_eq!(none, Value::Struct(vec![]));
    let epoch = s("19700101T00:00:00Z");
    let of_vm = ok(&core, "message.get", vec![session.clone(), s("VM"), s(&uuid), epoch.clone()]).await;
    assert_eq!(keys(&of_vm).len(), 2);
    let after = ok(&core, "message.get", vec![session.clone(), s("VM"), s(&uuid), later]).await;
    assert_eq!(after, Value::Struct(vec![]));

    ok(&core, "message.destroy", vec![session.clone(), first.clone()]).await;
    let e = fails(&core, "message.get_record", vec![session.clone(), first.clone()]).await;
    assert_eq!(e, err(&["HANDLE_INVALID", "message", first.as_str().unwrap()]));
    let e = fails(&core, "message.destroy", vec![session.clone(), first.clone()]).await;
    assert_eq!(e, err(&["HANDLE_INVALID", "message", first.as_str().unwrap()]));
    ok(&core, "message.destroy_many", vec![session.clone(), Value::Array(vec![second])]).await;
    assert_eq!(ok(&core, "message.get_all", vec![session.clone()]).await, Value::Array(vec![]));
}

#[tokio::test]
async fn create_and_get_need_an_existing_object_of_the_class() {
    let core = core();
    let session = login(&core).await;
    let uuid = vm_uuid(&core, &session).await;
    let args = |cls: &str, u: &str| vec![session.clone(), s("N"), Value::Int(1), s(cls), s(u), s("")];
    let e = fails(&core, "message.create", args("VM", "no-such-uuid")).await;
    assert_eq!(e, err(&["UUID_INVALID", "VM", "no-such-uuid"]));
    // A VM's uuid is not a host's.
    let e = fails(&core, "message.create", args("Host", &uuid)).await;
    assert_eq!(e, err(&["UUID_INVALID", "Host", &uuid]));
    let e = fails(&core, "message.create", args("Nonsense", &uuid)).await;
    assert_eq!(e[0], "FIELD_TYPE_ERROR");
    let hosts = ok(&core, "host.get_all", vec![session.clone()]).await;
    let host = hosts.as_array().unwrap()[0].clone();
    let host_uuid = ok(&core, "host.get_uuid", vec![session.clone(), host]).await;
    let m = ok(&core, "message.create", args("Host", host_uuid.as_str().unwrap())).await;
    assert!(m.as_str().unwrap().starts_with("OpaqueRef:"));
    let e = fails(&core, "message.get", vec![session.clone(), s("VM"), s("nope"), s("19700101T00:00:00Z")]).await;
    assert_eq!(e, err(&["UUID_INVALID"]));
    let e = fails(&core, "message.get_by_uuid", vec![session.clone(), s("nope")]).await;
    assert_eq!(e, err(&["UUID_INVALID", "message", "nope"]));
    // destroy_many stops at the first bad ref; those before it are gone.
    let bad = s("OpaqueRef:bad");
    let e = fails(&core, "message.destroy_many", vec![session.clone(), Value::Array(vec![m, bad])]).await;
    assert_eq!(e, err(&["HANDLE_INVALID", "message", "OpaqueRef:bad"]));
    assert_eq!(ok(&core, "message.get_all", vec![session.clone()]).await, Value::Array(vec![]));
}

#[tokio::test]
async fn get_all_records_where_reads_fields_as_text() {
    let core = core();
    let session = login(&core).await;
    let uuid = vm_uuid(&core, &session).await;
    let a = create(&core, &session, "ALPHA", 5, "VM", &uuid).await;
    let b = create(&core, &session, "BETA", 2, "VM", &uuid).await;
    let q = |e: &str| vec![session.clone(), s(e)];
    let found = ok(&core, "message.get_all_records_where", q(r#"field "name" = "ALPHA""#)).await;
    assert_eq!(keys(&found), [a.as_str().unwrap()]);
    let found = ok(&core, "message.get_all_records_where", q(r#"field "priority" = "2""#)).await;
    assert_eq!(keys(&found), [b.as_str().unwrap()]);
    let found = ok(&core, "message.get_all_records_where", q("true")).await;
    assert_eq!(keys(&found), [b.as_str().unwrap(), a.as_str().unwrap()]);
    let found = ok(&core, "message.get_all_records_where", q(&format!(r#"field "obj_uuid" = "{uuid}""#))).await;
    assert_eq!(keys(&found).len(), 2);
    // A field messages lack matches nothing, even negated.
    let found = ok(&core, "message.get_all_records_where", q(r#"not (field "name_label" = "x")"#)).await;
    assert_eq!(found, Value::Struct(vec![]));
    let e = fails(&core, "message.get_all_records_where", q("field")).await;
    assert_eq!(e[0], "INVALID_VALUE");
}

#[tokio::test]
async fn only_the_datamodel_messages_exist() {
    let core = core();
    let session = login(&core).await;
    let e = fails(&core, "message.get_name", vec![session.clone(), s("OpaqueRef:x")]).await;
    assert_eq!(e, err(&["MESSAGE_METHOD_UNKNOWN", "message.get_name"]));
    let e = fails(&core, "Async.message.get_all", vec![session.clone()]).await;
    assert_eq!(e, err(&["MESSAGE_METHOD_UNKNOWN", "Async.message.get_all"]));
    let task = ok(&core, "Async.message.destroy_many", vec![session.clone(), Value::Array(vec![])]).await;
    assert!(task.as_str().unwrap().starts_with("OpaqueRef:"));
}

fn event_summary(batch: &Value) -> Vec<(String, String, bool)> {
    let events = batch.get("events").map_or_else(|| batch.as_array().unwrap(), |e| e.as_array().unwrap());
    events
        .iter()
        .map(|e| {
            let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (field("class"), field("operation"), e.get("snapshot").is_some())
        })
        .collect()
}

#[tokio::test]
async fn events_announce_add_and_del() {
    let core = core();
    let session = login(&core).await;
    let uuid = vm_uuid(&core, &session).await;
    let from = |classes: &[&str], token: Value| {
        let classes = Value::Array(classes.iter().map(|c| s(c)).collect());
        vec![session.clone(), classes, token, Value::Float(0.0)]
    };
    let start = ok(&core, "event.from", from(&["message"], s(""))).await;
    let token = start.get("token").unwrap().clone();
    ok(&core, "event.register", vec![session.clone(), Value::Array(vec![s("message")])]).await;
    let m = create(&core, &session, "EVENTFUL", 1, "VM", &uuid).await;

    let batch = ok(&core, "event.from", from(&["message"], token.clone())).await;
    assert_eq!(event_summary(&batch), [("message".to_string(), "add".to_string(), true)]);
    let event = &batch.get("events").unwrap().as_array().unwrap()[0];
    assert_eq!(event.get("ref"), Some(&m));
    let rec = ok(&core, "message.get_record", vec![session.clone(), m.clone()]).await;
    assert_eq!(event.get("snapshot"), Some(&rec));
    // "*" includes messages; other classes do not.
    let all = ok(&core, "event.from", from(&["*"], token.clone())).await;
    assert!(event_summary(&all).contains(&("message".to_string(), "add".to_string(), true)));
    let vms = ok(&core, "event.from", from(&["vm"], token.clone())).await;
    assert!(event_summary(&vms).iter().all(|(c, _, _)| c != "message"));

    let token = batch.get("token").unwrap().clone();
    ok(&core, "message.destroy", vec![session.clone(), m.clone()]).await;
    let batch = ok(&core, "event.from", from(&["message"], token)).await;
    // xapi sends a deleted message's event without a snapshot.
    assert_eq!(event_summary(&batch), [("message".to_string(), "del".to_string(), false)]);

    // The older event.next announces both, each with the record.
    let next = ok(&core, "event.next", vec![session.clone()]).await;
    assert_eq!(
        event_summary(&next),
        [("message".to_string(), "add".to_string(), true), ("message".to_string(), "del".to_string(), true)]
    );
    let e = fails(&core, "event.inject", vec![session.clone(), s("message"), m.clone()]).await;
    assert_eq!(e, err(&["HANDLE_INVALID", "message", m.as_str().unwrap()]));
}

#[tokio::test]
async fn messages_survive_a_restart_without_a_clean_shutdown() {
    let dir = std::env::temp_dir().join(format!("xapi-sim-messages-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let state = dir.join("pool.state");
    let opts = || SimOptions { state: Some(state.clone()), ..SimOptions::default() };
    let (m, rec) = {
        let core = core_with(opts());
        let session = login(&core).await;
        let uuid = vm_uuid(&core, &session).await;
        let m = create(&core, &session, "DURABLE", 4, "VM", &uuid).await;
        let gone = create(&core, &session, "GONE", 4, "VM", &uuid).await;
        ok(&core, "message.destroy", vec![session.clone(), gone]).await;
        let rec = ok(&core, "message.get_record", vec![session, m.clone()]).await;
        (m, rec)
        // Dropped without a checkpoint: only the journal has the messages.
    };
    let core = core_with(opts());
    let session = login(&core).await;
    assert_eq!(ok(&core, "message.get_record", vec![session.clone(), m.clone()]).await, rec);
    assert_eq!(ok(&core, "message.get_all", vec![session]).await, Value::Array(vec![m]));
    let _ = std::fs::remove_dir_all(&dir);
}
