//! HA planning: which VMs are protected, whether a failover plan exists for
//! `n` host failures, and where failed VMs would restart.
//!
//! The planner is deliberately simple (xapi's bin-packing is richer): the
//! VMs to place are taken "restart" first, by `order`, then by memory
//! needed (largest first); each goes to the surviving live host that can
//! boot it ([`assert_can_boot_here`] without memory) and has the most free
//! memory left once the VMs already planned there are counted. A plan for
//! `n` failures exists when every choice of `n` live hosts can fail and
//! all their protected VMs still fit (checked for every such choice).

use crate::db::{ApiResult, Db, Failure};
use crate::rules::host::is_live;
use crate::rules::memory::{host_free, needed};
use crate::rules::placement::assert_can_boot_here;
use crate::rules::pool::file_message;
use std::collections::HashMap;

pub const RESTART: &str = "restart";
pub const BEST_EFFORT: &str = "best-effort";
/// xapi's `ha_valid_restart_priorities`.
pub const VALID_PRIORITIES: [&str; 3] = [RESTART, BEST_EFFORT, ""];

/// The pool's ref.
pub fn pool_ref(db: &Db) -> String {
    db.all("pool").into_iter().next().unwrap_or_else(|| xenapi::NULL_REF.to_string())
}

pub fn enabled(db: &Db) -> bool {
    db.bool(&pool_ref(db), "ha_enabled")
}

/// xapi's `validate_restart_priority`.
pub fn check_priority(priority: &str) -> ApiResult<()> {
    if VALID_PRIORITIES.contains(&priority) {
        Ok(())
    } else {
        Err(Failure::new("INVALID_VALUE", ["ha_restart_priority", priority]))
    }
}

pub fn live_hosts(db: &Db) -> Vec<String> {
    db.all("host").into_iter().filter(|h| is_live(db, h)).collect()
}

/// Protected VMs: priority "restart" and running on a host.
pub fn protected(db: &Db) -> Vec<String> {
    db.all("VM")
        .into_iter()
        .filter(|vm| {
            !db.bool(vm, "is_control_domain")
                && db.string(vm, "ha_restart_priority") == RESTART
                && db.string(vm, "power_state") == "Running"
        })
        .collect()
}

/// The order failover restarts VMs in: "restart" before "best-effort",
/// then by `order`, then the larger first.
pub fn restart_order(db: &Db, vms: &mut [String]) {
    vms.sort_by_key(|vm| {
        let rank = if db.string(vm, "ha_restart_priority") == RESTART { 0 } else { 1 };
        (rank, db.int(vm, "order"), -needed(db, vm))
    });
}

/// Places `vms` on `hosts`: `(vm, Ok(host))` or `(vm, Err(error code))`.
pub fn place(db: &Db, hosts: &[String], vms: &[String]) -> Vec<(String, Result<String, String>)> {
    let mut free: HashMap<&str, i64> = hosts.iter().map(|h| (h.as_str(), host_free(db, h))).collect();
    let mut vms = vms.to_vec();
    restart_order(db, &mut vms);
    let mut out = Vec::new();
    for vm in vms {
        let need = needed(db, &vm);
        let mut error = "HOST_NOT_ENOUGH_FREE_MEMORY".to_string();
        let mut best: Option<(&str, i64)> = None;
        for h in hosts {
            if let Err(Failure(e)) = assert_can_boot_here(db, &vm, h, false) {
                if best.is_none() {
                    error = e.first().cloned().unwrap_or_default();
                }
                continue;
            }
            let f = free[h.as_str()];
            if f >= need && best.is_none_or(|(_, b)| f > b) {
                best = Some((h, f));
            }
        }
        match best {
            Some((h, f)) => {
                free.insert(h, f - need);
                out.push((vm, Ok(h.to_string())));
            }
            None => out.push((vm, Err(error))),
        }
    }
    out
}

/// Every way of choosing `n` of `items` (few hosts: the pool is small).
fn choose(items: &[String], n: usize) -> Vec<Vec<String>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for (i, first) in items.iter().enumerate() {
        for mut rest in choose(&items[i + 1..], n - 1) {
            rest.insert(0, first.clone());
            out.push(rest);
        }
    }
    out
}

/// Whether the `protected` VMs survive any `n` live hosts failing.
pub fn plan_exists(db: &Db, protected: &[String], n: usize) -> bool {
    let hosts = live_hosts(db);
    if n == 0 {
        return true;
    }
    if n >= hosts.len() {
        return false;
    }
    choose(&hosts, n).iter().all(|failed| {
        let survivors: Vec<String> = hosts.iter().filter(|h| !failed.contains(h)).cloned().collect();
        let lost: Vec<String> =
            protected.iter().filter(|vm| failed.contains(&db.string(vm, "resident_on"))).cloned().collect();
        place(db, &survivors, &lost).iter().all(|(_, r)| r.is_ok())
    })
}

/// The largest `n` a plan exists for (at most the live hosts less one).
pub fn max_failures(db: &Db, protected: &[String]) -> i64 {
    let hosts = live_hosts(db).len();
    let mut n = 0;
    while n + 1 < hosts && plan_exists(db, protected, n + 1) {
        n += 1;
    }
    n as i64
}

/// xapi's `update_pool_status` with HA on: when a plan exists for
/// `ha_host_failures_to_tolerate` the pool is not overcommitted; otherwise
/// `ha_plan_exists_for` drops to what a plan exists for (filing
/// HA_POOL_DROP_IN_PLAN_EXISTS_FOR with the new figure) and, on the change
/// only, the pool becomes overcommitted and HA_POOL_OVERCOMMITTED is filed.
/// Returns the largest number of failures a plan exists for.
pub fn update_pool_status(db: &mut Db) -> i64 {
    let pool = pool_ref(db);
    let vms = protected(db);
    let max = max_failures(db, &vms);
    let wanted = db.int(&pool, "ha_host_failures_to_tolerate");
    let planned_for = db.int(&pool, "ha_plan_exists_for");
    let uuid = db.string(&pool, "uuid");
    if wanted <= max {
        db.set_named(&pool, "ha_overcommitted", xenapi::Value::Bool(false));
        if planned_for != wanted {
            db.set_named(&pool, "ha_plan_exists_for", xenapi::Value::Int(wanted));
        }
        return max;
    }
    if planned_for != max {
        db.set_named(&pool, "ha_plan_exists_for", xenapi::Value::Int(wanted.min(max)));
        if max < planned_for {
            file_message(db, "HA_POOL_DROP_IN_PLAN_EXISTS_FOR", 3, "Pool", &uuid, max.to_string());
        }
    }
    if !db.bool(&pool, "ha_overcommitted") {
        db.set_named(&pool, "ha_overcommitted", xenapi::Value::Bool(true));
        let name = db.string(&pool, "name_label");
        let body = format!(
            "The failover tolerance for pool '{name}' has dropped and the initially specified number of host \
             failures to tolerate can no longer be guaranteed"
        );
        file_message(db, "HA_POOL_OVERCOMMITTED", 3, "Pool", &uuid, body);
    }
    max
}

/// What HA's liveset says of each host, as xapi's monitor records it: a
/// live host reaches the statefile and has every live host as its network
/// peer; a host that is down reaches nothing. Then the pool's plan is
/// brought up to date ([`update_pool_status`]). Only with HA on.
pub fn refresh_liveset(db: &mut Db) {
    if !enabled(db) {
        return;
    }
    let statefiles = db.field(&pool_ref(db), "ha_statefiles").cloned().unwrap_or(xenapi::Value::Array(Vec::new()));
    let live = live_hosts(db);
    let peers: Vec<xenapi::Value> = live.iter().map(|h| xenapi::Value::String(db.string(h, "uuid"))).collect();
    for h in db.all("host") {
        if live.contains(&h) {
            db.set_named(&h, "ha_statefiles", statefiles.clone());
            db.set_named(&h, "ha_network_peers", xenapi::Value::Array(peers.clone()));
        } else {
            db.set_named(&h, "ha_statefiles", xenapi::Value::Array(Vec::new()));
        }
    }
    update_pool_status(db);
}
