//! `--disable` / `SimOptions::disable`: methods a server lacks.

mod common;

use common::{call, err, fails, login, ok, s};
use xapi_sim::{Sim, SimOptions};
use xenapi::Value;

#[tokio::test]
async fn disabled_methods_are_unknown_sync_and_async() {
    let opts = SimOptions::default().disable(&["VM.get_all_records_where"]).disable(&["host.get_server*"]);
    let sim = Sim::start(opts).expect("simulator");
    let core = &sim.core;
    let session = login(core).await;
    let e = fails(core, "VM.get_all_records_where", vec![session.clone(), s("true")]).await;
    assert_eq!(e, err(&["MESSAGE_METHOD_UNKNOWN", "VM.get_all_records_where"]));
    // Unknown before anything else is looked at, whatever the parameters.
    let e = fails(core, "VM.get_all_records_where", vec![]).await;
    assert_eq!(e, err(&["MESSAGE_METHOD_UNKNOWN", "VM.get_all_records_where"]));
    let hosts = ok(core, "host.get_all", vec![session.clone()]).await;
    let host = hosts.as_array().unwrap()[0].clone();
    let e = fails(core, "host.get_servertime", vec![session.clone(), host]).await;
    assert_eq!(e, err(&["MESSAGE_METHOD_UNKNOWN", "host.get_servertime"]));
    let vm = ok(core, "VM.get_all", vec![session.clone()]).await.as_array().unwrap()[0].clone();
    ok(core, "VM.get_all_records", vec![session.clone()]).await;
    ok(core, "SR.get_all_records_where", vec![session.clone(), s("true")]).await;
    let async_opts = SimOptions::default().disable(&["VM.clone"]);
    drop(sim);

    let sim = Sim::start(async_opts).expect("simulator");
    let core = &sim.core;
    let session = login(core).await;
    let args = vec![session.clone(), vm, s("copy")];
    let e = fails(core, "Async.VM.clone", args.clone()).await;
    assert_eq!(e, err(&["MESSAGE_METHOD_UNKNOWN", "Async.VM.clone"]));
    assert_eq!(call(core, "VM.clone", args).await, Err(err(&["MESSAGE_METHOD_UNKNOWN", "VM.clone"])));
    assert!(matches!(ok(core, "VM.get_all", vec![session]).await, Value::Array(_)));
}
