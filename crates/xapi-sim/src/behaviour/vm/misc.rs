//! Queries and settings around the lifecycle: free device numbers, possible
//! hosts, memory overhead and limits, vCPU counts, operation checks.

use super::void;
use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::rules::vm::{
    assert_operation_valid, update_allowed_operations, GENERIC_BIOS_STRINGS, SETTABLE_BIOS_STRINGS,
};
use crate::rules::{memory, placement};
use crate::values::smap;
use std::collections::HashMap;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("VM.get_allowed_VBD_devices", Handler::Sync(allowed_vbd_devices));
    t.insert("VM.get_allowed_VIF_devices", Handler::Sync(|c, db| free_devices(c, db, "VIFs", "device", 7)));
    t.insert("VM.get_possible_hosts", Handler::Sync(get_possible_hosts));
    t.insert("VM.assert_can_boot_here", Handler::Sync(assert_can_boot_here));
    t.insert("VM.compute_memory_overhead", Handler::Sync(compute_memory_overhead));
    t.insert("host.compute_free_memory", Handler::Sync(compute_free_memory));
    t.insert("VM.maximise_memory", Handler::Sync(maximise_memory));
    t.insert("VM.get_cooperative", Handler::Sync(|c, db| db.expect_is(c.str(0), "VM").map(|()| Value::Bool(true))));
    t.insert(
        "VM.assert_operation_valid",
        Handler::Sync(|c, db| assert_operation_valid(db, c.str(0), c.str(1)).map(|()| void())),
    );
    t.insert(
        "VM.update_allowed_operations",
        Handler::Sync(|c, db| {
            db.expect_is(c.str(0), "VM")?;
            update_allowed_operations(db, c.str(0));
            Ok(void())
        }),
    );
    t.insert("VM.set_memory_limits", Handler::Sync(|c, db| limits(c, db, [Some(1), Some(2), Some(3), Some(4)])));
    t.insert("VM.set_memory_static_range", Handler::Sync(|c, db| limits(c, db, [Some(1), Some(2), None, None])));
    t.insert("VM.set_memory_dynamic_range", Handler::Sync(|c, db| limits(c, db, [None, None, Some(1), Some(2)])));
    t.insert("VM.set_memory_static_min", Handler::Sync(|c, db| limits(c, db, [Some(1), None, None, None])));
    t.insert("VM.set_memory_static_max", Handler::Sync(|c, db| limits(c, db, [None, Some(1), None, None])));
    t.insert("VM.set_memory_dynamic_min", Handler::Sync(|c, db| limits(c, db, [None, None, Some(1), None])));
    t.insert("VM.set_memory_dynamic_max", Handler::Sync(|c, db| limits(c, db, [None, None, None, Some(1)])));
    t.insert("VM.set_memory", Handler::Sync(|c, db| limits(c, db, [None, Some(1), Some(1), Some(1)])));
    t.insert("VM.copy_bios_strings", Handler::Sync(copy_bios_strings));
    t.insert("VM.set_bios_strings", Handler::Sync(set_bios_strings));
    t.insert("VM.get_boot_record", Handler::Sync(get_boot_record));
    t.insert("VM.send_sysrq", Handler::Sync(|c, db| live_op(c, db, "send_sysrq")));
    t.insert("VM.send_trigger", Handler::Sync(|c, db| live_op(c, db, "send_trigger")));
    t.insert("VM.assert_agile", Handler::Sync(assert_agile));
    t.insert("VM.add_to_NVRAM", Handler::Sync(|c, db| nvram(c, db, Some(c.str(2)))));
    t.insert("VM.remove_from_NVRAM", Handler::Sync(|c, db| nvram(c, db, None)));
    t.insert("VM.add_to_VCPUs_params_live", Handler::Sync(add_to_vcpus_params_live));
    t.insert("VM.set_shadow_multiplier_live", Handler::Sync(set_shadow_multiplier_live));
    t.insert("VM.set_memory_target_live", Handler::Sync(set_memory_target_live));
    t.insert("VM.wait_memory_target_live", Handler::Sync(|c, db| live_op(c, db, "awaiting_memory_live")));
    t.insert("VM.retrieve_wlb_recommendations", Handler::Sync(retrieve_wlb_recommendations));
    t.insert("VM.set_VCPUs_max", Handler::Sync(set_vcpus_max));
    t.insert("VM.set_VCPUs_at_startup", Handler::Sync(set_vcpus_at_startup));
    t.insert("VM.set_VCPUs_number_live", Handler::Sync(set_vcpus_number_live));
}

/// Free userdevices, as the storage layer counts them (0-15 for HVM guests, 0-254 for PV).
fn allowed_vbd_devices(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect_is(call.str(0), "VM")?;
    Ok(Value::Array(
        crate::rules::devices::allowed_vbd_devices(db, call.str(0)).into_iter().map(Value::String).collect(),
    ))
}

/// Device numbers from `0..count` no VIF of the VM uses.
fn free_devices(call: &Call, db: &mut Db, set_field: &str, device_field: &str, count: u32) -> ApiResult<Value> {
    let vm = call.str(0);
    db.expect_is(vm, "VM")?;
    let used: Vec<String> = db.strings(vm, set_field).iter().map(|d| db.string(d, device_field)).collect();
    Ok(Value::Array((0..count).map(|n| n.to_string()).filter(|n| !used.contains(n)).map(Value::String).collect()))
}

fn get_possible_hosts(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0);
    db.expect_is(vm, "VM")?;
    Ok(Value::Array(placement::possible_hosts(db, vm).into_iter().map(Value::String).collect()))
}

fn assert_can_boot_here(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0);
    db.expect_is(vm, "VM")?;
    db.expect_is(call.str(1), "host")?;
    placement::assert_can_boot_here(db, vm, call.str(1), true)?;
    Ok(void())
}

fn compute_memory_overhead(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect_is(call.str(0), "VM")?;
    Ok(Value::Int(memory::vm_overhead_of(db, call.str(0))))
}

/// Memory a host can still give domains: free memory less what starting
/// or arriving VMs have reserved.
fn compute_free_memory(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect_is(call.str(0), "host")?;
    Ok(Value::Int(memory::host_free(db, call.str(0))))
}

/// The largest `memory_static_max` whose domain (with overhead) fits in
/// `total`, rounded down to a MiB; `approximate` assumes the most vCPUs.
fn maximise_memory(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0);
    db.expect_is(vm, "VM")?;
    let total = call.args.get(1).and_then(Value::as_int).unwrap_or(0);
    let vcpus = if call.bool(2) { 64 } else { db.int(vm, "VCPUs_max").max(1) };
    let fits = |m: i64| m + memory::vm_overhead(m, vcpus) <= total;
    let (mut lo, mut hi) = (0i64, total.max(0));
    if !fits(lo) {
        return Ok(Value::Int(0));
    }
    while lo < hi {
        let mid = lo + (hi - lo + 1) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(Value::Int(lo / (1 << 20) * (1 << 20)))
}

/// Sets some of the four memory limits (`which` names the argument holding
/// static_min, static_max, dynamic_min, dynamic_max), as xapi validates them:
/// static changes need a halted VM, dynamic ones a halted or running one, and
/// the order static_min ≤ dynamic_min ≤ dynamic_max ≤ static_max must hold.
fn limits(call: &Call, db: &mut Db, which: [Option<usize>; 4]) -> ApiResult<Value> {
    let vm = call.str(0);
    db.expect_is(vm, "VM")?;
    let names = ["memory_static_min", "memory_static_max", "memory_dynamic_min", "memory_dynamic_max"];
    let mut values = names.map(|n| db.int(vm, n));
    for (i, arg) in which.iter().enumerate() {
        if let Some(a) = arg {
            values[i] = call.args.get(*a).and_then(Value::as_int).unwrap_or(0);
        }
    }
    let statics = which[0].is_some() || which[1].is_some();
    let op = match (statics, which.iter().all(Option::is_some)) {
        (true, true) => "changing_memory_limits",
        (true, false) => "changing_static_range",
        _ => "changing_dynamic_range",
    };
    assert_operation_valid(db, vm, op)?;
    let [smin, smax, dmin, dmax] = values;
    if !(smin <= dmin && dmin <= dmax && dmax <= smax) {
        return Err(Failure::new::<&str>("MEMORY_CONSTRAINT_VIOLATION_ORDER", []));
    }
    let running = matches!(db.field_str(vm, "power_state"), "Running" | "Paused");
    let host = db.string(vm, "resident_on");
    let old_dmax = db.int(vm, "memory_dynamic_max");
    if running && dmax > old_dmax && db.is(&host, "host") {
        let free = memory::host_free(db, &host);
        if dmax - old_dmax > free {
            return Err(Failure::new("HOST_NOT_ENOUGH_FREE_MEMORY", [(dmax - old_dmax).to_string(), free.to_string()]));
        }
    }
    for (n, v) in names.iter().zip(values) {
        db.set_named(vm, n, Value::Int(v));
    }
    if running {
        db.set_named(vm, "memory_target", Value::Int(dmax));
        let m = db.string(vm, "metrics");
        if db.is(&m, "VM_metrics") {
            db.set_named(&m, "memory_actual", Value::Int(dmax));
        }
        memory::refresh_host(db, &host);
    } else {
        let overhead = memory::vm_overhead_of(db, vm);
        db.set_named(vm, "memory_overhead", Value::Int(overhead));
    }
    Ok(void())
}

fn vcpu_arg(call: &Call, name: &str) -> ApiResult<i64> {
    let n = call.args.get(1).and_then(Value::as_int).unwrap_or(0);
    if n < 1 {
        return Err(Failure::new("INVALID_VALUE", [name.to_string(), n.to_string()]));
    }
    Ok(n)
}

fn set_vcpus_max(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0);
    db.expect_is(vm, "VM")?;
    let n = vcpu_arg(call, "VCPUs_max")?;
    assert_operation_valid(db, vm, "changing_VCPUs")?;
    if db.int(vm, "VCPUs_at_startup") > n {
        return Err(Failure::new("INVALID_VALUE", ["VCPUs_max".to_string(), n.to_string()]));
    }
    db.set_named(vm, "VCPUs_max", Value::Int(n));
    let overhead = memory::vm_overhead_of(db, vm);
    db.set_named(vm, "memory_overhead", Value::Int(overhead));
    Ok(void())
}

fn set_vcpus_at_startup(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0);
    db.expect_is(vm, "VM")?;
    let n = vcpu_arg(call, "VCPUs_at_startup")?;
    assert_operation_valid(db, vm, "changing_VCPUs")?;
    if n > db.int(vm, "VCPUs_max") {
        return Err(Failure::new("INVALID_VALUE", ["VCPUs_at_startup".to_string(), n.to_string()]));
    }
    db.set_named(vm, "VCPUs_at_startup", Value::Int(n));
    Ok(void())
}

/// Hot-plugs or unplugs vCPUs of a running VM, up to `VCPUs_max`.
fn set_vcpus_number_live(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0);
    db.expect_is(vm, "VM")?;
    let n = vcpu_arg(call, "nvcpu")?;
    assert_operation_valid(db, vm, "changing_VCPUs_live")?;
    if n > db.int(vm, "VCPUs_max") {
        return Err(Failure::new("INVALID_VALUE", ["nvcpu".to_string(), n.to_string()]));
    }
    db.set_named(vm, "VCPUs_at_startup", Value::Int(n));
    let m = db.string(vm, "metrics");
    if db.is(&m, "VM_metrics") {
        db.set_named(&m, "VCPUs_number", Value::Int(n));
    }
    Ok(void())
}

fn bios_strings_set(db: &Db, vm: &str) -> bool {
    db.field(vm, "bios_strings").and_then(Value::as_struct).is_some_and(|m| !m.is_empty())
}

/// Gives a VM a host's BIOS strings (for OEM installs) and that host as affinity.
fn copy_bios_strings(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let (vm, host) = (call.str(0), call.str(1));
    db.expect_is(vm, "VM")?;
    db.expect_is(host, "host")?;
    if bios_strings_set(db, vm) {
        return Err(Failure::new::<&str>("VM_BIOS_STRINGS_ALREADY_SET", []));
    }
    let strings = db.field(host, "bios_strings").cloned().unwrap_or(Value::Struct(Vec::new()));
    db.set_named(vm, "bios_strings", strings);
    db.set_named(vm, "affinity", Value::str(host));
    Ok(void())
}

/// Sets a VM's BIOS strings once: the generic set with the given overrides.
fn set_bios_strings(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0);
    db.expect_is(vm, "VM")?;
    if bios_strings_set(db, vm) {
        return Err(Failure::new::<&str>("VM_BIOS_STRINGS_ALREADY_SET", []));
    }
    let given: Vec<(String, String)> = call.args[1]
        .as_struct()
        .unwrap_or(&[])
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect();
    for (k, v) in &given {
        if !SETTABLE_BIOS_STRINGS.contains(&k.as_str()) || v.len() > 512 || !v.chars().all(|c| (' '..='~').contains(&c))
        {
            return Err(Failure::new("INVALID_VALUE", [k.as_str(), v.as_str()]));
        }
    }
    let mut strings: Vec<(String, String)> =
        GENERIC_BIOS_STRINGS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    for (k, v) in given {
        if let Some(slot) = strings.iter_mut().find(|(x, _)| *x == k) {
            slot.1 = v;
        }
    }
    db.set_named(vm, "bios_strings", smap(&strings));
    Ok(void())
}

/// The record the VM booted with (the current one stands in for it).
fn get_boot_record(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0);
    let c = db.cls("VM");
    let o = db.expect(c, vm)?;
    Ok(db.record(c, &o.fields))
}

/// Operations that only need a live domain and change nothing we model.
fn live_op(call: &Call, db: &mut Db, op: &str) -> ApiResult<Value> {
    assert_operation_valid(db, call.str(0), op)?;
    Ok(void())
}

/// Whether the VM could be restarted anywhere by HA: shared storage, networks on every host.
fn assert_agile(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0);
    db.expect_is(vm, "VM")?;
    for vbd in db.strings(vm, "VBDs") {
        let vdi = db.string(&vbd, "VDI");
        if db.bool(&vbd, "empty") || !db.is(&vdi, "VDI") {
            continue;
        }
        let sr = db.string(&vdi, "SR");
        if !db.bool(&sr, "shared") {
            return Err(Failure::new("HA_CONSTRAINT_VIOLATION_SR_NOT_SHARED", [sr]));
        }
    }
    let host_c = db.cls("host");
    let hosts: Vec<String> = db.iter(host_c).map(|(h, _)| h.clone()).collect();
    for vif in db.strings(vm, "VIFs") {
        let net = db.string(&vif, "network");
        let pifs = db.strings(&net, "PIFs");
        let everywhere = hosts.iter().all(|h| pifs.iter().any(|p| db.field_str(p, "host") == h));
        if !everywhere {
            return Err(Failure::new("HA_CONSTRAINT_VIOLATION_NETWORK_NOT_SHARED", [net]));
        }
    }
    Ok(void())
}

/// `add_to_NVRAM` (with a value) and `remove_from_NVRAM`: UEFI variables of a halted VM.
fn nvram(call: &Call, db: &mut Db, value: Option<&str>) -> ApiResult<Value> {
    let vm = call.str(0);
    db.expect_is(vm, "VM")?;
    assert_operation_valid(db, vm, "changing_NVRAM")?;
    let mut m = db.string_map(vm, "NVRAM");
    m.retain(|(k, _)| k != call.str(1));
    if let Some(v) = value {
        m.push((call.str(1).to_string(), v.to_string()));
    }
    db.set_named(vm, "NVRAM", smap(&m));
    Ok(void())
}

fn add_to_vcpus_params_live(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0);
    assert_operation_valid(db, vm, "changing_VCPUs_live")?;
    let mut m = db.string_map(vm, "VCPUs_params");
    m.retain(|(k, _)| k != call.str(1));
    m.push((call.str(1).to_string(), call.str(2).to_string()));
    db.set_named(vm, "VCPUs_params", smap(&m));
    Ok(void())
}

fn set_shadow_multiplier_live(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0);
    assert_operation_valid(db, vm, "changing_shadow_memory_live")?;
    let m = call.args.get(1).and_then(Value::as_float).unwrap_or(0.0);
    if m < 1.0 {
        return Err(Failure::new("INVALID_VALUE", ["multiplier".to_string(), m.to_string()]));
    }
    db.set_named(vm, "HVM_shadow_multiplier", Value::Float(m));
    Ok(void())
}

/// The deprecated balloon target: pins the dynamic range of a running VM to it.
fn set_memory_target_live(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let vm = call.str(0);
    db.expect_is(vm, "VM")?;
    let target = call.args.get(1).and_then(Value::as_int).unwrap_or(0);
    assert_operation_valid(db, vm, "changing_memory_live")?;
    let (smin, smax) = (db.int(vm, "memory_static_min"), db.int(vm, "memory_static_max"));
    if target < smin || target > smax {
        return Err(Failure::new::<&str>("MEMORY_CONSTRAINT_VIOLATION_ORDER", []));
    }
    db.set_named(vm, "memory_target", Value::Int(target));
    let m = db.string(vm, "metrics");
    if db.is(&m, "VM_metrics") {
        db.set_named(&m, "memory_actual", Value::Int(target));
    }
    memory::refresh_host(db, &db.string(vm, "resident_on"));
    Ok(void())
}

/// Workload balancing is not configured in the simulated pool.
fn retrieve_wlb_recommendations(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect_is(call.str(0), "VM")?;
    let pool_c = db.cls("pool");
    let pool = db.iter(pool_c).next().map(|(p, _)| p.clone()).unwrap_or_default();
    if db.string(&pool, "wlb_url").is_empty() {
        return Err(Failure::new::<&str>("WLB_NOT_INITIALIZED", []));
    }
    if !db.bool(&pool, "wlb_enabled") {
        return Err(Failure::new::<&str>("WLB_DISABLED", []));
    }
    let hosts = placement::possible_hosts(db, call.str(0));
    Ok(Value::Struct(
        hosts.into_iter().map(|h| (h, Value::Array(vec![Value::str("WLB"), Value::str("0.0")]))).collect(),
    ))
}
