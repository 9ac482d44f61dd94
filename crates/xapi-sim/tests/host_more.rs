//! The rest of a host's own calls (issue 13): crash dumps, the display's
//! states, the SR rules of local storage caching, per-host external auth
//! without a directory, and uploads.

mod common;

use common::{core, err, fails, login, ok, s};
use xenapi::Value;

async fn host(core: &std::sync::Arc<xapi_sim::Core>, session: &Value, name: &str) -> Value {
    let hosts = ok(core, "host.get_by_name_label", vec![session.clone(), s(name)]).await;
    hosts.as_array().unwrap()[0].clone()
}

#[tokio::test]
async fn a_crash_dump_is_destroyed_and_cannot_be_uploaded_anywhere() {
    let core = core();
    let session = login(&core).await;
    let h = host(&core, &session, "xs-host-2").await;
    let dump = {
        let mut db = core.db.write();
        let c = db.cls("host_crashdump");
        let uuid = db.new_uuid();
        db.create(
            c,
            vec![
                ("uuid", Value::String(uuid)),
                ("host", h.clone()),
                ("timestamp", Value::DateTime("20261201T10:00:00Z".into())),
                ("size", Value::Int(1 << 20)),
                ("filename", s("20261201-100000-ABCDEF")),
            ],
        )
    };
    let crashdumps = ok(&core, "host.get_crashdumps", vec![session.clone(), h.clone()]).await;
    assert_eq!(crashdumps, Value::Array(vec![s(&dump)]));
    let e = fails(&core, "host_crashdump.upload", vec![session.clone(), s(&dump), s(""), Value::Struct(vec![])]).await;
    assert_eq!(e, err(&["INVALID_VALUE", "url", ""]));
    let url = s("http://support.example.com/upload");
    let e = fails(&core, "host_crashdump.upload", vec![session.clone(), s(&dump), url, Value::Struct(vec![])]).await;
    assert_eq!(e, err(&["INTERNAL_ERROR", "Subprocess exited with unexpected code 7"]));
    ok(&core, "host_crashdump.destroy", vec![session.clone(), s(&dump)]).await;
    let crashdumps = ok(&core, "host.get_crashdumps", vec![session.clone(), h.clone()]).await;
    assert_eq!(crashdumps, Value::Array(vec![]));
    let e = fails(&core, "host_crashdump.destroy", vec![session.clone(), s(&dump)]).await;
    assert_eq!(e, err(&["HANDLE_INVALID", "host_crashdump", &dump]));
}

#[tokio::test]
async fn display_states_follow_xapi() {
    let core = core();
    let session = login(&core).await;
    let h = host(&core, &session, "xs-host-1").await;
    // (state before, enable?, state after)
    let cases = [
        ("enabled", true, "enabled"),
        ("disable_on_reboot", true, "enabled"),
        ("disabled", true, "enable_on_reboot"),
        ("enable_on_reboot", true, "enable_on_reboot"),
        ("enabled", false, "disable_on_reboot"),
        ("disable_on_reboot", false, "disable_on_reboot"),
        ("disabled", false, "disabled"),
        ("enable_on_reboot", false, "disabled"),
    ];
    for (before, enable, after) in cases {
        ok(&core, "host.set_display", vec![session.clone(), h.clone(), s(before)]).await;
        let m = if enable { "host.enable_display" } else { "host.disable_display" };
        assert_eq!(ok(&core, m, vec![session.clone(), h.clone()]).await, s(after), "{before} {m}");
        assert_eq!(ok(&core, "host.get_display", vec![session.clone(), h.clone()]).await, s(after));
    }
}

#[tokio::test]
async fn disabling_the_display_needs_the_integrated_gpu_feature() {
    let core = core();
    let session = login(&core).await;
    let h = host(&core, &session, "xs-host-1").await;
    {
        let mut db = core.db.write();
        let pool = db.all("pool").remove(0);
        db.map_put(&pool, "restrictions", "restrict_integrated_gpu_passthrough", Some("true"));
    }
    let e = fails(&core, "host.disable_display", vec![session.clone(), h.clone()]).await;
    assert_eq!(e, err(&["FEATURE_RESTRICTED"]));
    assert_eq!(ok(&core, "host.enable_display", vec![session.clone(), h]).await, s("enabled"));
}

#[tokio::test]
async fn external_auth_on_one_host_without_a_directory_is_unavailable() {
    let core = core();
    let session = login(&core).await;
    let h = host(&core, &session, "xs-host-2").await;
    let config = Value::Struct(vec![("user".into(), s("u")), ("pass".into(), s("p"))]);
    let args = vec![session.clone(), h.clone(), config, s("corp.example.com"), s("AD")];
    let e = fails(&core, "host.enable_external_auth", args).await;
    assert_eq!(e, err(&["AUTH_ENABLE_FAILED_UNAVAILABLE", "No domain controller of corp.example.com can be reached"]));
    let t = ok(&core, "host.get_external_auth_type", vec![session.clone(), h.clone()]).await;
    assert_eq!(t, s(""));
    // Nothing to disable is not an error.
    ok(&core, "host.disable_external_auth", vec![session.clone(), h, Value::Struct(vec![])]).await;
}
