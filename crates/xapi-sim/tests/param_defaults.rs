//! Versioned parameters: trailing parameters with defaults may be left off,
//! extra values are ignored only by messages with defaults, and
//! MESSAGE_PARAMETER_COUNT_MISMATCH counts as xapi does.

mod common;

use common::{call, core, err, fails, login, ok, s, vm};
use xenapi::Value;

#[tokio::test]
async fn a_defaulted_trailing_parameter_may_be_left_off() {
    let core = core();
    let session = login(&core).await;
    let vm = vm(&core, &session, "test-halted").await;
    let snap = ok(&core, "VM.snapshot", vec![session.clone(), vm.clone(), s("two args")]).await;
    let name = ok(&core, "VM.get_name_label", vec![session.clone(), snap]).await;
    assert_eq!(name, s("two args"));
    // Values after the last declared parameter are ignored when the message has defaults.
    let extra = vec![session.clone(), vm.clone(), s("extra"), Value::Array(vec![]), s("ignored")];
    ok(&core, "VM.snapshot", extra).await;
}

#[tokio::test]
async fn too_few_values_count_without_the_session() {
    let core = core();
    let session = login(&core).await;
    let vm = vm(&core, &session, "test-halted").await;
    let e = fails(&core, "VM.snapshot", vec![session.clone(), vm.clone()]).await;
    assert_eq!(e, err(&["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.snapshot", "2", "1"]));
    // The count is checked before the session.
    let e = fails(&core, "VM.snapshot", vec![s("OpaqueRef:bogus"), vm.clone()]).await;
    assert_eq!(e, err(&["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.snapshot", "2", "1"]));
    let e = fails(&core, "VM.get_record", vec![session.clone()]).await;
    assert_eq!(e, err(&["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "0"]));
    let e = fails(&core, "VM.get_record", vec![]).await;
    assert_eq!(e, err(&["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "-1"]));
}

#[tokio::test]
async fn a_message_without_defaults_takes_exactly_its_parameters() {
    let core = core();
    let session = login(&core).await;
    let vm = vm(&core, &session, "test-halted").await;
    let e = fails(&core, "VM.get_record", vec![session.clone(), vm.clone(), s("extra")]).await;
    assert_eq!(e, err(&["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "2"]));
}

#[tokio::test]
async fn login_takes_two_to_four_values_from_the_table() {
    let core = core();
    ok(&core, "session.login_with_password", vec![s("root"), s("xenroot")]).await;
    ok(&core, "session.login_with_password", vec![s("root"), s("xenroot"), s("1.1")]).await;
    let five = vec![s("root"), s("xenroot"), s("1.1"), s("o"), s("ignored")];
    ok(&core, "session.login_with_password", five).await;
    let e = fails(&core, "session.login_with_password", vec![s("root")]).await;
    assert_eq!(e, err(&["MESSAGE_PARAMETER_COUNT_MISMATCH", "session.login_with_password", "2", "1"]));
}

#[tokio::test]
async fn async_calls_get_the_same_treatment() {
    let core = core();
    let session = login(&core).await;
    let vm = vm(&core, &session, "test-halted").await;
    let task = ok(&core, "Async.VM.snapshot", vec![session.clone(), vm.clone(), s("async")]).await;
    assert!(task.as_str().is_some_and(|t| t.starts_with("OpaqueRef:")));
    let e = fails(&core, "Async.VM.snapshot", vec![session.clone(), vm.clone()]).await;
    assert_eq!(e, err(&["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.snapshot", "2", "1"]));
    // A message without an Async form is unknown whatever the count.
    let e = fails(&core, "Async.VM.get_record", vec![session.clone()]).await;
    assert_eq!(e, err(&["MESSAGE_METHOD_UNKNOWN", "Async.VM.get_record"]));
    for _ in 0..200 {
        let status = call(&core, "task.get_status", vec![session.clone(), task.clone()]).await;
        if status != Ok(s("pending")) {
            assert_eq!(status, Ok(s("success")));
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the snapshot task did not finish");
}
