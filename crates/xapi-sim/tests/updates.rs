//! Updates over the wire: an update file uploaded as a VDI through
//! `/import_raw_vdi` into an SR, as `xe update-upload` does, then
//! `pool_update.introduce`, the simulated precheck with xapi's errors,
//! `apply` / `pool_apply` and the host needing a reboot that clears it, the
//! legacy `pool_patch` calls, and repositories with `pool.sync_updates` and
//! `host.apply_updates`.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use common::wire::*;
use std::time::{Duration, Instant};
use xapi_sim::update_file::{render, UpdateInfo};
use xenapi::client::{Error, Session};
use xenapi::Value;

fn api_error<T: std::fmt::Debug>(r: Result<T, Error>) -> Vec<String> {
    match r {
        Err(Error::Api { code, params }) => std::iter::once(code).chain(params).collect(),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn info(uuid: &str, label: &str) -> UpdateInfo {
    UpdateInfo {
        uuid: uuid.into(),
        name_label: label.into(),
        name_description: format!("{label} fixes"),
        version: "1.0".into(),
        installation_size: 1 << 20,
        after_apply_guidance: vec!["restartHost".into()],
        ..UpdateInfo::default()
    }
}

/// Uploads `file` into a new VDI of the NFS SR as xe does; the VDI's ref.
fn upload(sim: &xapi_sim::Sim, x: &mut Session, file: &[u8]) -> String {
    let sid = x.session_ref().to_string();
    let sr = sr_named(x, "NFS virtual disk storage");
    let t = text(&call(x, "task.create", &[s("update upload"), s("")]));
    let a = put(sim.addr, &format!("/import_raw_vdi?session_id={sid}&sr_id={sr}&task_id={t}"), file);
    assert_eq!(a.status(), 200);
    let (status, info, result) = outcome(x, &t);
    assert_eq!(status, "success", "{info:?}");
    result.trim_start_matches("<value>").trim_end_matches("</value>").to_string()
}

fn introduce(sim: &xapi_sim::Sim, x: &mut Session, i: &UpdateInfo) -> String {
    let vdi = upload(sim, x, render(i).as_bytes());
    text(&call(x, "pool_update.introduce", &[s(&vdi)]))
}

/// The hosts, members first (a test that reboots one keeps the master up).
fn hosts(x: &mut Session) -> Vec<String> {
    let pool = strings(&call(x, "pool.get_all", &[]))[0].clone();
    let master = text(&call(x, "pool.get_master", &[s(&pool)]));
    let mut h = strings(&call(x, "host.get_all", &[]));
    h.sort_by_key(|r| (*r == master, text(&call(x, "host.get_name_label", &[s(r)]))));
    h
}

fn guests(x: &mut Session, host: &str) -> usize {
    strings(&call(x, "host.get_resident_VMs", &[s(host)]))
        .iter()
        .filter(|vm| !call(x, "VM.get_is_control_domain", &[s(vm)]).as_bool().unwrap_or(true))
        .count()
}

fn until(what: &str, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn reboot(x: &mut Session, host: &str) {
    let boot = |x: &mut Session| {
        let oc = call(x, "host.get_other_config", &[s(host)]);
        oc.get("boot_time").and_then(Value::as_str).unwrap_or("").to_string()
    };
    let before = boot(x);
    call(x, "host.disable", &[s(host)]);
    call(x, "host.reboot", &[s(host)]);
    until("the host is back", || {
        let now = boot(x);
        now != before && call(x, "host.get_enabled", &[s(host)]).as_bool() == Some(true)
    });
}

#[test]
fn an_uploaded_update_is_introduced_prechecked_applied_and_needs_a_reboot() {
    let mut opts = xapi_sim::SimOptions::default();
    opts.config.time_scale = 0.01;
    let sim = xapi_sim::Sim::start(opts).expect("simulator");
    let mut x = login(&sim, "updates-tests");
    let u1 = "aaaaaaaa-1111-2222-3333-444444444444";
    let update = introduce(&sim, &mut x, &info(u1, "XS83E001"));
    let rec = call(&mut x, "pool_update.get_record", &[s(&update)]);
    assert_eq!(rec.get("uuid").and_then(Value::as_str), Some(u1));
    assert_eq!(rec.get("name_label").and_then(Value::as_str), Some("XS83E001"));
    assert_eq!(rec.get("installation_size").and_then(Value::as_int), Some(1 << 20));
    assert_eq!(strings(rec.get("after_apply_guidance").expect("guidance")), ["restartHost"]);
    // The legacy patch comes with it, its uuid with bytes 4 to 7 zeroed.
    let patch = text(&call(&mut x, "pool_patch.get_by_uuid", &[s("aaaaaaaa-0000-0000-3333-444444444444")]));
    assert_eq!(text(&call(&mut x, "pool_patch.get_pool_update", &[s(&patch)])), update);
    // The same VDI again is the same update; another copy is refused.
    let vdi = text(&call(&mut x, "pool_update.get_vdi", &[s(&update)]));
    assert_eq!(text(&call(&mut x, "pool_update.introduce", &[s(&vdi)])), update);
    let copy = upload(&sim, &mut x, render(&info(u1, "XS83E001")).as_bytes());
    assert_eq!(api_error(x.call("pool_update.introduce", &[s(&copy)])), ["UPDATE_ALREADY_EXISTS", u1]);
    // Not an update file.
    let junk = upload(&sim, &mut x, b"CD001 not an update");
    assert_eq!(
        api_error(x.call("pool_update.introduce", &[s(&junk)])),
        ["INVALID_UPDATE", "missing update document (update.xml) in the package."]
    );

    let h = hosts(&mut x);
    assert_eq!(text(&call(&mut x, "pool_update.precheck", &[s(&update), s(&h[0])])), "ok");
    call(&mut x, "pool_update.apply", &[s(&update), s(&h[0])]);
    assert_eq!(strings(&call(&mut x, "host.get_updates", &[s(&h[0])])), std::slice::from_ref(&update));
    assert_eq!(strings(&call(&mut x, "host.get_updates_requiring_reboot", &[s(&h[0])])), std::slice::from_ref(&update));
    assert_eq!(strings(&call(&mut x, "pool_update.get_hosts", &[s(&update)])), [h[0].clone()]);
    assert_eq!(api_error(x.call("pool_update.precheck", &[s(&update), s(&h[0])])), ["UPDATE_ALREADY_APPLIED", u1]);
    assert_eq!(api_error(x.call("pool_update.destroy", &[s(&update)])), ["UPDATE_IS_APPLIED"]);
    // The patch's host_patch records where it is applied.
    let host_patches = strings(&call(&mut x, "pool_patch.get_host_patches", &[s(&patch)]));
    assert_eq!(host_patches.len(), 1);
    assert_eq!(text(&call(&mut x, "host_patch.get_host", &[s(&host_patches[0])])), h[0]);

    // The rest of the pool, then nothing is left to do.
    call(&mut x, "pool_update.pool_apply", &[s(&update)]);
    assert_eq!(strings(&call(&mut x, "pool_update.get_hosts", &[s(&update)])).len(), h.len());
    assert_eq!(api_error(x.call("pool_update.pool_apply", &[s(&update)])), ["UPDATE_ALREADY_APPLIED_IN_POOL", &update]);

    // A reboot is what the host waited for.
    reboot(&mut x, &h[0]);
    assert!(strings(&call(&mut x, "host.get_updates_requiring_reboot", &[s(&h[0])])).is_empty());
    assert_eq!(strings(&call(&mut x, "host.get_updates", &[s(&h[0])])), std::slice::from_ref(&update));

    // pool_clean removes the VDI; the update stays, and cannot be prechecked.
    call(&mut x, "pool_update.pool_clean", &[s(&update)]);
    assert_eq!(text(&call(&mut x, "pool_update.get_vdi", &[s(&update)])), "OpaqueRef:NULL");
    assert!(api_error(x.call("VDI.get_uuid", &[s(&vdi)]))[0] == "HANDLE_INVALID");
}

#[test]
fn a_declared_precheck_fails_with_xapis_errors() {
    let sim = sim();
    let mut x = login(&sim, "updates-tests");
    let h = hosts(&mut x);
    let base = "bbbbbbbb-1111-2222-3333-444444444444";
    let mut i = info("cccccccc-1111-2222-3333-444444444444", "needs-base");
    i.prerequisites = vec![base.into()];
    let needs = introduce(&sim, &mut x, &i);
    assert_eq!(
        api_error(x.call("pool_update.precheck", &[s(&needs), s(&h[0])])),
        ["UPDATE_PRECHECK_FAILED_PREREQUISITE_MISSING", &i.uuid, base]
    );
    assert_eq!(
        api_error(x.call("pool_update.apply", &[s(&needs), s(&h[0])]))[0],
        "UPDATE_PRECHECK_FAILED_PREREQUISITE_MISSING"
    );
    let mut b = info(base, "base");
    b.livepatch = Some("incomplete".into());
    b.after_apply_guidance = vec![];
    let base_ref = introduce(&sim, &mut x, &b);
    assert_eq!(text(&call(&mut x, "pool_update.precheck", &[s(&base_ref), s(&h[0])])), "ok_livepatch_incomplete");
    call(&mut x, "pool_update.apply", &[s(&base_ref), s(&h[0])]);
    assert!(strings(&call(&mut x, "host.get_updates_requiring_reboot", &[s(&h[0])])).is_empty());
    assert_eq!(text(&call(&mut x, "pool_update.precheck", &[s(&needs), s(&h[0])])), "ok");
    // pool_apply reports the hosts where the precheck failed.
    let err = api_error(x.call("pool_update.pool_apply", &[s(&needs)]));
    assert_eq!(err[0], "UPDATE_POOL_APPLY_FAILED");
    assert_eq!(err.len(), h.len());
    assert_eq!(strings(&call(&mut x, "pool_update.get_hosts", &[s(&needs)])), [h[0].clone()]);

    let mut v = info("dddddddd-1111-2222-3333-444444444444", "old");
    v.requires_version = Some("8.2.1".into());
    let old = introduce(&sim, &mut x, &v);
    assert_eq!(
        api_error(x.call("pool_update.precheck", &[s(&old), s(&h[1])])),
        ["UPDATE_PRECHECK_FAILED_WRONG_SERVER_VERSION", &v.uuid, "8.3.0", "8.2.1"]
    );
    let mut big = info("eeeeeeee-1111-2222-3333-444444444444", "big");
    big.installation_size = 2 << 30;
    let big_ref = introduce(&sim, &mut x, &big);
    assert_eq!(
        api_error(x.call("pool_update.precheck", &[s(&big_ref), s(&h[1])])),
        ["UPDATE_PRECHECK_FAILED_OUT_OF_SPACE", &big.uuid, "4294967296", "6442450944"]
    );
    let mut odd = info("ffffffff-1111-2222-3333-444444444444", "odd");
    odd.precheck_failure = Some("the simulated check said no".into());
    let odd_ref = introduce(&sim, &mut x, &odd);
    // Through the legacy patch too, which answers "" when all is well.
    let odd_patch = text(&call(&mut x, "pool_patch.get_by_uuid", &[s("ffffffff-0000-0000-3333-444444444444")]));
    assert_eq!(
        api_error(x.call("pool_patch.precheck", &[s(&odd_patch), s(&h[1])])),
        ["UPDATE_PRECHECK_FAILED_UNKNOWN_ERROR", &odd.uuid, "the simulated check said no"]
    );
    let mut conflict = info("12121212-1111-2222-3333-444444444444", "conflicting");
    conflict.conflicts = vec![base.into()];
    let c = introduce(&sim, &mut x, &conflict);
    assert_eq!(
        api_error(x.call("pool_update.precheck", &[s(&c), s(&h[0])])),
        ["UPDATE_PRECHECK_FAILED_CONFLICT_PRESENT", &conflict.uuid, base]
    );
    // An unapplied update goes with its patch.
    call(&mut x, "pool_patch.destroy", &[s(&odd_patch)]);
    assert_eq!(api_error(x.call("pool_update.get_uuid", &[s(&odd_ref)]))[0], "HANDLE_INVALID");
    let patch = text(&call(&mut x, "pool_patch.get_by_uuid", &[s("bbbbbbbb-0000-0000-3333-444444444444")]));
    assert_eq!(text(&call(&mut x, "pool_patch.apply", &[s(&patch), s(&h[1])])), "");
    // Applying a patch pool-wide stops at a host that has it.
    assert_eq!(api_error(x.call("pool_patch.pool_apply", &[s(&patch)])), ["UPDATE_ALREADY_APPLIED", base]);
}

#[test]
fn repositories_sync_and_host_apply_updates() {
    let mut opts = xapi_sim::SimOptions::default();
    opts.config.time_scale = 0.01;
    let sim = xapi_sim::Sim::start(opts).expect("simulator");
    let mut x = login(&sim, "updates-tests");
    let pool = strings(&call(&mut x, "pool.get_all", &[]))[0].clone();
    let intro = |x: &mut Session, name: &str, url: &str, gpg: &str| {
        x.call("Repository.introduce", &[s(name), s(""), s(url), s(url), Value::Bool(true), s(gpg)])
    };
    assert_eq!(api_error(intro(&mut x, "r", "ftp://mirror", "")), ["INVALID_BASE_URL", "ftp://mirror"]);
    assert_eq!(api_error(intro(&mut x, "r", "https://mirror/base", "a/b")), ["INVALID_GPGKEY_PATH", "a/b"]);
    let base = text(&intro(&mut x, "base", "https://updates.example.com/8.3/base", "").expect("introduce"));
    let linux = text(&intro(&mut x, "linux", "https://updates.example.com/8.3/linux", "").expect("introduce"));
    assert_eq!(api_error(intro(&mut x, "base", "https://elsewhere/", "")), ["REPOSITORY_ALREADY_EXISTS", &base]);
    assert_eq!(
        api_error(x.call("pool.sync_updates", &[s(&pool), Value::Bool(false), s(""), s("")])),
        ["NO_REPOSITORY_ENABLED"]
    );
    assert_eq!(
        api_error(x.call("pool.set_update_sync_enabled", &[s(&pool), Value::Bool(true)])),
        ["NO_REPOSITORIES_CONFIGURED"]
    );
    call(&mut x, "pool.set_repositories", &[s(&pool), Value::Array(vec![s(&base), s(&linux)])]);
    assert_eq!(
        api_error(x.call("pool.sync_updates", &[s(&pool), Value::Bool(false), s(""), s("")])),
        ["MULTIPLE_UPDATE_REPOSITORIES_ENABLED"]
    );
    call(&mut x, "pool.remove_repository", &[s(&pool), s(&linux)]);
    assert_eq!(api_error(x.call("Repository.forget", &[s(&base)])), ["REPOSITORY_IS_IN_USE"]);
    call(&mut x, "Repository.forget", &[s(&linux)]);
    let hash = text(&call(&mut x, "pool.sync_updates", &[s(&pool), Value::Bool(true), s(""), s("")]));
    assert_eq!(hash.len(), 32);
    assert_eq!(text(&call(&mut x, "Repository.get_hash", &[s(&base)])), hash);

    let h = hosts(&mut x);
    let busy = h.iter().find(|r| guests(&mut x, r) > 0).expect("a host with guests").clone();
    let idle = h.iter().find(|r| guests(&mut x, r) == 0).expect("a member without guests").clone();
    assert_eq!(api_error(x.call("host.apply_updates", &[s(&idle), s("0000")])), ["UPDATEINFO_HASH_MISMATCH"]);
    assert_eq!(api_error(x.call("host.apply_updates", &[s(&busy), s(&hash)])), ["HOST_EVACUATION_IS_REQUIRED", &busy]);
    // A refusal after the first checks leaves the host disabled, as xapi does.
    assert_eq!(call(&mut x, "host.get_enabled", &[s(&busy)]).as_bool(), Some(false));
    assert_eq!(call(&mut x, "host.apply_updates", &[s(&idle), s(&hash)]), Value::Array(vec![]));
    assert_eq!(strings(&call(&mut x, "host.get_pending_guidances", &[s(&idle)])), ["reboot_host"]);
    assert_eq!(call(&mut x, "host.get_enabled", &[s(&idle)]).as_bool(), Some(false));
    assert_eq!(
        api_error(x.call("host.apply_updates", &[s(&idle), s(&hash)])),
        ["HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY", &idle]
    );
    reboot(&mut x, &idle);
    assert!(strings(&call(&mut x, "host.get_pending_guidances", &[s(&idle)])).is_empty());
    assert_eq!(text(&call(&mut x, "host.get_latest_synced_updates_applied", &[s(&idle)])), "yes");
    // Up to date: nothing to do, nothing pending.
    assert_eq!(call(&mut x, "host.apply_updates", &[s(&idle), s(&hash)]), Value::Array(vec![]));
    assert!(strings(&call(&mut x, "host.get_pending_guidances", &[s(&idle)])).is_empty());

    // The schedule and the proxy.
    assert_eq!(
        api_error(x.call("pool.configure_update_sync", &[s(&pool), s("weekly"), Value::Int(7)])),
        ["INVALID_UPDATE_SYNC_DAY", "7"]
    );
    call(&mut x, "pool.configure_update_sync", &[s(&pool), s("daily"), Value::Int(5)]);
    assert_eq!(call(&mut x, "pool.get_update_sync_day", &[s(&pool)]).as_int(), Some(0));
    call(&mut x, "pool.set_update_sync_enabled", &[s(&pool), Value::Bool(true)]);
    assert_eq!(
        api_error(x.call("pool.configure_repository_proxy", &[s(&pool), s("socks://p"), s(""), s("")])),
        ["INVALID_REPOSITORY_PROXY_URL", "socks://p"]
    );
    assert_eq!(
        api_error(x.call("pool.configure_repository_proxy", &[s(&pool), s("http://p:3128"), s("u"), s("")])),
        ["INVALID_REPOSITORY_PROXY_CREDENTIAL"]
    );
    call(&mut x, "pool.configure_repository_proxy", &[s(&pool), s("http://p:3128"), s("u"), s("pw")]);
    let secret = text(&call(&mut x, "pool.get_repository_proxy_password", &[s(&pool)]));
    assert_eq!(text(&call(&mut x, "secret.get_value", &[s(&secret)])), "pw");
    call(&mut x, "pool.disable_repository_proxy", &[s(&pool)]);
    assert_eq!(text(&call(&mut x, "pool.get_repository_proxy_url", &[s(&pool)])), "");
    assert_eq!(api_error(x.call("secret.get_value", &[s(&secret)]))[0], "HANDLE_INVALID");
}

#[test]
fn a_legacy_patch_upload_lands_in_the_default_sr_and_answers_the_patch() {
    let sim = sim();
    let mut x = login(&sim, "updates-tests");
    let sid = x.session_ref().to_string();
    let i = info("34343434-1111-2222-3333-444444444444", "legacy");
    let t = text(&call(&mut x, "task.create", &[s("host patch upload"), s("")]));
    let a = put(sim.addr, &format!("/pool_patch_upload?session_id={sid}&task_id={t}"), render(&i).as_bytes());
    assert_eq!(a.status(), 200);
    let (status, info, result) = outcome(&mut x, &t);
    assert_eq!(status, "success", "{info:?}");
    let patch = result.trim_start_matches("<value>").trim_end_matches("</value>").to_string();
    assert_eq!(text(&call(&mut x, "pool_patch.get_uuid", &[s(&patch)])), "34343434-0000-0000-3333-444444444444");
    let update = text(&call(&mut x, "pool_patch.get_pool_update", &[s(&patch)]));
    let vdi = text(&call(&mut x, "pool_update.get_vdi", &[s(&update)]));
    let pool = strings(&call(&mut x, "pool.get_all", &[]))[0].clone();
    let default_sr = text(&call(&mut x, "pool.get_default_SR", &[s(&pool)]));
    assert_eq!(text(&call(&mut x, "VDI.get_SR", &[s(&vdi)])), default_sr);
    // Not an update: the caller's task fails with INVALID_UPDATE, and the VDI goes.
    let vdis_before = strings(&call(&mut x, "VDI.get_all", &[])).len();
    let t = text(&call(&mut x, "task.create", &[s("host patch upload"), s("")]));
    let a = put(sim.addr, &format!("/pool_patch_upload?session_id={sid}&task_id={t}"), b"junk");
    assert_eq!(a.status(), 200);
    let (status, info, _) = outcome(&mut x, &t);
    assert_eq!((status.as_str(), info[0].as_str()), ("failure", "INVALID_UPDATE"));
    until("the VDI is gone", || strings(&call(&mut x, "VDI.get_all", &[])).len() == vdis_before);
}
