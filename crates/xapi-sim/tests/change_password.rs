//! `session.change_password`: later logins need the new password.

mod common;

use common::{core, core_with, err, fails, ok, s};
use xapi_sim::server::SimOptions;

#[tokio::test]
async fn a_later_login_needs_the_new_password() {
    let core = core();
    let login = |pwd: &str| vec![s("root"), s(pwd), s("2.21"), s("tests")];
    let session = ok(&core, "session.login_with_password", login("xenroot")).await;
    // As in xapi, the old password is not checked.
    ok(&core, "session.change_password", vec![session.clone(), s("not the old one"), s("n3w")]).await;
    let e = fails(&core, "session.login_with_password", login("xenroot")).await;
    assert_eq!(e, err(&["SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"]));
    ok(&core, "session.login_with_password", login("n3w")).await;
    // The session that changed it stays valid.
    ok(&core, "VM.get_all", vec![session]).await;
}

#[tokio::test]
async fn only_the_session_user_changes() {
    let mut opts = SimOptions::default();
    opts.config.users = vec![("root".into(), "a".into()), ("ops".into(), "b".into())];
    let core = core_with(opts);
    let ops = ok(&core, "session.login_with_password", vec![s("ops"), s("b")]).await;
    ok(&core, "session.change_password", vec![ops, s("b"), s("c")]).await;
    ok(&core, "session.login_with_password", vec![s("ops"), s("c")]).await;
    ok(&core, "session.login_with_password", vec![s("root"), s("a")]).await;
    let e = fails(&core, "session.change_password", vec![s("OpaqueRef:bad"), s(""), s("x")]).await;
    assert_eq!(e, err(&["SESSION_INVALID", "OpaqueRef:bad"]));
}
