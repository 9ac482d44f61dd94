//! `host.get_servertime` and `host.get_server_localtime`.

mod common;

use common::{core, err, fails, login, ok, s};
use xenapi::wire::{xmlrpc, Response};
use xenapi::Value;

#[tokio::test]
async fn servertime_is_utc_now_and_ends_in_z_on_xmlrpc() {
    let core = core();
    let session = login(&core).await;
    let hosts = ok(&core, "host.get_all", vec![session.clone()]).await;
    let host = hosts.as_array().unwrap()[0].clone();
    let before = xenapi::datetime::parse(&xenapi::datetime::now()).unwrap();
    let t = ok(&core, "host.get_servertime", vec![session.clone(), host.clone()]).await;
    let Value::DateTime(text) = &t else { panic!("not a datetime: {t:?}") };
    assert!(text.ends_with('Z'), "{text}");
    let secs = xenapi::datetime::parse(text).unwrap();
    assert!((before..=before + 5).contains(&secs), "{text}");
    let body = xmlrpc::encode_response(&Response::Success(t.clone()));
    assert!(body.contains(&format!("<dateTime.iso8601>{text}</dateTime.iso8601>")), "{body}");
}

#[tokio::test]
async fn server_localtime_has_no_zone_designator() {
    let core = core();
    let session = login(&core).await;
    let hosts = ok(&core, "host.get_all", vec![session.clone()]).await;
    let host = hosts.as_array().unwrap()[0].clone();
    let t = ok(&core, "host.get_server_localtime", vec![session.clone(), host]).await;
    let Value::DateTime(text) = &t else { panic!("not a datetime: {t:?}") };
    assert_eq!(text.len(), "20261203T22:30:00".len(), "{text}");
    assert!(!text.ends_with('Z'));
    assert!(xenapi::datetime::parse(text).is_some());
}

#[tokio::test]
async fn the_host_must_exist() {
    let core = core();
    let session = login(&core).await;
    for m in ["host.get_servertime", "host.get_server_localtime"] {
        let e = fails(&core, m, vec![session.clone(), s("OpaqueRef:nope")]).await;
        assert_eq!(e, err(&["HANDLE_INVALID", "host", "OpaqueRef:nope"]));
        let e = fails(&core, &format!("Async.{m}"), vec![session.clone(), s("OpaqueRef:nope")]).await;
        assert_eq!(e, err(&["MESSAGE_METHOD_UNKNOWN", &format!("Async.{m}")]));
    }
}
