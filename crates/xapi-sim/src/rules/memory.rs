//! Memory accounting: Xen's per-domain overhead, a host's free memory (what
//! `host_metrics.memory_free` shows) and what VMs being started or migrated
//! have reserved on it through `scheduled_to_be_resident_on`.

use crate::db::Db;
use crate::rules::vm::live_operations;
use crate::rules::MIB;
use xenapi::Value;

/// Xen's per-domain memory overhead, roughly: shadow/p2m pages plus a little per vCPU.
pub fn vm_overhead(memory: i64, vcpus: i64) -> i64 {
    (memory / MIB / 128 + 1 + vcpus) * MIB
}

/// Free memory of a host: `host_metrics.memory_total` minus
/// `host.memory_overhead` minus, for each resident VM (control domain
/// included), its `VM_metrics.memory_actual` and `VM.memory_overhead`.
pub fn host_memory_free(db: &Db, host: &str) -> i64 {
    let metrics = db.field_str(host, "metrics");
    let mut free = db.int(metrics, "memory_total") - db.int(host, "memory_overhead");
    if let Some(vms) = db.field(host, "resident_VMs").and_then(Value::as_array) {
        for vm in vms.iter().filter_map(Value::as_str) {
            free -= db.int(db.field_str(vm, "metrics"), "memory_actual") + db.int(vm, "memory_overhead");
        }
    }
    free
}

/// Xen's memory overhead for the VM's configuration.
pub fn vm_overhead_of(db: &Db, vm: &str) -> i64 {
    let vcpus = db.int(vm, "VCPUs_max").max(db.int(vm, "VCPUs_at_startup")).max(1);
    vm_overhead(db.int(vm, "memory_static_max"), vcpus)
}

/// The memory a domain of this VM takes: its target plus overhead.
pub fn needed(db: &Db, vm: &str) -> i64 {
    db.int(vm, "memory_dynamic_max") + vm_overhead_of(db, vm)
}

/// Memory of `host` not taken by resident VMs nor reserved for arriving ones.
pub fn host_free(db: &Db, host: &str) -> i64 {
    let vm_c = db.cls("VM");
    let reserved: i64 = db
        .iter(vm_c)
        .filter(|(r, _)| {
            db.field_str(r, "scheduled_to_be_resident_on") == host && db.field_str(r, "resident_on") != host
        })
        // A reservation outlives its operation only after a crash; then it no longer counts.
        .filter(|(r, _)| !live_operations(db, r).is_empty())
        .map(|(r, _)| needed(db, r))
        .sum();
    host_memory_free(db, host) - reserved
}

/// Refreshes `host_metrics.memory_free` after domains came or went.
pub fn refresh_host(db: &mut Db, host: &str) {
    if !db.is(host, "host") {
        return;
    }
    let metrics = db.string(host, "metrics");
    if db.is(&metrics, "host_metrics") {
        let free = host_memory_free(db, host);
        db.set_named(&metrics, "memory_free", Value::Int(free));
    }
}
