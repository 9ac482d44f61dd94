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

/// xapi's `update_pool_status` with HA on: `ha_plan_exists_for` and
/// `ha_overcommitted` from the current plan. Returns the new maximum.
pub fn update_pool_status(db: &mut Db) -> i64 {
    let pool = pool_ref(db);
    let max = max_failures(db, &protected(db));
    let wanted = db.int(&pool, "ha_host_failures_to_tolerate");
    db.set_named(&pool, "ha_plan_exists_for", xenapi::Value::Int(wanted.min(max)));
    db.set_named(&pool, "ha_overcommitted", xenapi::Value::Bool(wanted > max));
    max
}
