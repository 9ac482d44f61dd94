//! Pool membership across the pools of one process (`--pools N`): a
//! standalone host joins the demo pool with what is its own, is refused for
//! xapi's reasons, is ejected and becomes a standalone pool again; the master
//! moves with designate_new_master and the emergency calls. With `--state`,
//! every pool survives a restart.

mod common;

use common::{err, fails, login, ok, s};
use std::sync::Arc;
use xapi_sim::pools::Pools;
use xapi_sim::server::SimOptions;
use xapi_sim::Core;
use xenapi::Value;

fn pools(n: usize, state: Option<std::path::PathBuf>) -> Arc<Pools> {
    let mut opts = SimOptions { state, ..SimOptions::default() };
    opts.config.time_scale = 0.0;
    Pools::build(&opts, n).expect("pools").0
}

fn hosts(core: &Core) -> Vec<(String, String, String)> {
    let db = core.db.read();
    db.all("host").iter().map(|h| (db.string(h, "name_label"), db.string(h, "address"), db.string(h, "uuid"))).collect()
}

fn join_args(session: &Value, address: &str, password: &str) -> Vec<Value> {
    vec![session.clone(), s(address), s("root"), s(password)]
}

#[tokio::test]
async fn a_standalone_host_joins_then_leaves() {
    let pools = pools(2, None);
    let (demo, lone) = (pools.cores()[0].clone(), pools.cores()[1].clone());
    let before = hosts(&lone);
    assert_eq!(before.len(), 1);
    assert_eq!((before[0].0.as_str(), before[0].1.as_str()), ("xs-pool-2-host", "127.0.2.11"));
    {
        // A fresh host: one local SR set, no shared storage, no guests.
        let db = lone.db.read();
        assert!(db.all("SR").iter().all(|sr| !db.bool(sr, "shared") || db.bool(sr, "is_tools_sr")));
        assert!(db.all("VM").iter().all(|vm| db.bool(vm, "is_a_template") || db.bool(vm, "is_control_domain")));
        // Refs and uuids differ from the demo pool's.
        let demo_db = demo.db.read();
        assert!(db.all("host").iter().all(|h| demo_db.get(h).is_none()));
    }
    let session = login(&lone).await;
    assert_eq!(
        fails(&lone, "pool.join", join_args(&session, "127.0.0.11", "nope")).await,
        err(&["SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"])
    );
    assert_eq!(
        fails(&lone, "pool.join", join_args(&session, "127.0.0.13", "xenroot")).await,
        err(&["HOST_IS_SLAVE", "127.0.0.11"])
    );
    assert_eq!(
        fails(&lone, "pool.join", join_args(&session, "192.0.2.1", "xenroot")).await,
        err(&["JOINING_HOST_CONNECTION_FAILED"])
    );
    // The demo pool's master cannot join anything: it has members.
    let demo_session = login(&demo).await;
    assert_eq!(
        fails(&demo, "pool.join", join_args(&demo_session, "127.0.2.11", "xenroot")).await,
        err(&["JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS"])
    );
    ok(&lone, "pool.join", join_args(&session, "127.0.0.11", "xenroot")).await;
    assert!(hosts(&lone).is_empty(), "the joined host's own pool is gone");
    let uuid = before[0].2.clone();
    let host = {
        let db = demo.db.read();
        let c = db.cls("host");
        let h = db.by_uuid(c, &uuid).expect("the host is in the demo pool").to_string();
        assert_eq!(db.string(&h, "address"), "127.0.2.11");
        // Its control domain, PIFs on the pool's networks, and local SRs came along.
        let doms: Vec<String> =
            db.strings(&h, "resident_VMs").into_iter().filter(|vm| db.bool(vm, "is_control_domain")).collect();
        assert_eq!(doms.len(), 1);
        for pif in db.strings(&h, "PIFs") {
            let net = db.string(&pif, "network");
            assert!(db.strings(&net, "PIFs").contains(&pif));
        }
        let srs: Vec<String> = db.strings(&h, "PBDs").iter().map(|p| db.string(p, "SR")).collect();
        assert!(srs.iter().any(|sr| db.string(sr, "type") == "lvm" && !db.bool(sr, "shared")));
        h
    };
    assert_eq!(hosts(&demo).len(), 4);
    assert!(pools.addresses().contains(&"127.0.2.11".to_string()));

    let master = ok(&demo, "pool.get_master", vec![demo_session.clone(), s(&pool_of(&demo))]).await;
    assert_eq!(
        fails(&demo, "pool.eject", vec![demo_session.clone(), master]).await,
        err(&["INTERNAL_ERROR", "Xapi_pool.Cannot_eject_master"])
    );
    ok(&demo, "pool.eject", vec![demo_session.clone(), s(&host)]).await;
    assert_eq!(hosts(&demo).len(), 3);
    {
        let db = demo.db.read();
        assert!(db.get(&host).is_none());
        assert!(db.all("PBD").iter().all(|p| db.string(p, "host") != host));
        assert!(db.all("PIF").iter().all(|p| db.string(p, "host") != host));
    }
    // It is a standalone pool again, with the same identity, and can join again.
    assert_eq!(hosts(&lone), before);
    let again = login(&lone).await;
    ok(&lone, "pool.join_force", join_args(&again, "127.0.0.11", "xenroot")).await;
    assert_eq!(hosts(&demo).len(), 4);
}

fn pool_of(core: &Core) -> String {
    core.db.read().all("pool")[0].clone()
}

#[tokio::test]
async fn running_guests_keep_a_host_out() {
    let pools = pools(2, None);
    let lone = pools.cores()[1].clone();
    let session = login(&lone).await;
    let template = {
        let db = lone.db.read();
        db.all("VM")
            .into_iter()
            .find(|vm| db.bool(vm, "is_a_template") && db.string(vm, "name_label").contains("Debian"))
            .expect("a Debian template")
    };
    let vm = ok(&lone, "VM.clone", vec![session.clone(), s(&template), s("guest")]).await;
    ok(&lone, "VM.provision", vec![session.clone(), vm.clone()]).await;
    ok(&lone, "VM.set_is_a_template", vec![session.clone(), vm.clone(), Value::Bool(false)]).await;
    ok(&lone, "VM.start", vec![session.clone(), vm.clone(), Value::Bool(false), Value::Bool(false)]).await;
    assert_eq!(
        fails(&lone, "pool.join", join_args(&session, "127.0.0.11", "xenroot")).await,
        err(&["JOINING_HOST_CANNOT_HAVE_RUNNING_VMS"])
    );
}

#[tokio::test]
async fn the_master_moves() {
    let pools = pools(1, None);
    let core = pools.cores()[0].clone();
    let session = login(&core).await;
    let pool = pool_of(&core);
    let by_address = |a: &str| {
        let db = core.db.read();
        db.all("host").into_iter().find(|h| db.string(h, "address") == a).unwrap()
    };
    let (one, two, three) = (by_address("127.0.0.11"), by_address("127.0.0.12"), by_address("127.0.0.13"));
    ok(&core, "pool.designate_new_master", vec![session.clone(), s(&two)]).await;
    assert_eq!(ok(&core, "pool.get_master", vec![session.clone(), s(&pool)]).await, s(&two));
    // Designating the master again changes nothing.
    ok(&core, "pool.designate_new_master", vec![session.clone(), s(&two)]).await;
    ok(&core, "pool.emergency_reset_master", vec![session.clone(), s("127.0.0.12")]).await;
    assert_eq!(
        fails(&core, "pool.emergency_reset_master", vec![session.clone(), s("no such host")]).await[0],
        "INTERNAL_ERROR"
    );
    let recovered = ok(&core, "pool.recover_slaves", vec![session.clone()]).await;
    assert_eq!(recovered, Value::Array(vec![s(&one), s(&three)]));
    ok(&core, "pool.sync_database", vec![session.clone()]).await;
    // With HA on, the master stays where it is.
    core.write(|db| {
        db.set_named(&pool, "ha_enabled", Value::Bool(true));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        fails(&core, "pool.designate_new_master", vec![session.clone(), s(&one)]).await,
        err(&["HA_IS_ENABLED"])
    );
    assert_eq!(
        fails(&core, "pool.emergency_transition_to_master", vec![session.clone()]).await,
        err(&["HA_IS_ENABLED"])
    );
}

#[tokio::test]
async fn every_pool_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("xapi-sim-pools-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state");
    {
        let pools = pools(2, Some(state.clone()));
        let lone = pools.cores()[1].clone();
        let session = login(&lone).await;
        ok(&lone, "pool.join", join_args(&session, "127.0.0.11", "xenroot")).await;
        for c in pools.cores() {
            c.checkpoint().unwrap();
        }
    }
    assert!(dir.join("state.pool2").exists());
    let pools = pools(2, Some(state));
    assert_eq!(hosts(&pools.cores()[0]).len(), 4);
    assert!(hosts(&pools.cores()[1]).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
