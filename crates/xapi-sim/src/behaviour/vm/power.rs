//! The power-state machine: start, shutdown, reboot, suspend, resume, pause,
//! migration and `power_state_reset`, with host placement, memory accounting,
//! domids, metrics, devices, consoles and the guest agent kept in step.

use super::disks::{self, create_console, destroy_consoles, move_consoles, plug_all, refresh_devices, unplug_all};
use super::messages::{self, Note};
use super::{
    begin_op, drop_vdis, end_op, end_op_then, guest, run_op, void, HARD_SHUTDOWN_SECS, MIGRATE_SECS, PAUSE_SECS,
    REBOOT_SECS, RESUME_SECS, SHUTDOWN_SECS, START_SECS, SUSPEND_SECS,
};
use crate::call::{BoxFuture, Call, Handler};
use crate::core::Core;
use crate::db::{ApiResult, Db, Failure};
use crate::rules::vm::{update_allowed_operations, GENERIC_BIOS_STRINGS};
use crate::rules::{memory, placement};
use crate::values::{empty_map, empty_set, null, smap, sset};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("VM.start", Handler::Async(start));
    t.insert("VM.start_on", Handler::Async(start_on));
    t.insert("VM.clean_shutdown", Handler::Async(|c| Box::pin(async move { halt(&c, "clean_shutdown").await })));
    t.insert("VM.hard_shutdown", Handler::Async(|c| Box::pin(async move { halt(&c, "hard_shutdown").await })));
    t.insert("VM.shutdown", Handler::Async(|c| Box::pin(async move { halt(&c, "shutdown").await })));
    t.insert("VM.clean_reboot", Handler::Async(|c| Box::pin(async move { reboot(&c, "clean_reboot").await })));
    t.insert("VM.hard_reboot", Handler::Async(|c| Box::pin(async move { reboot(&c, "hard_reboot").await })));
    t.insert("VM.suspend", Handler::Async(suspend));
    t.insert("VM.resume", Handler::Async(|c| Box::pin(async move { resume(&c, None).await })));
    t.insert(
        "VM.resume_on",
        Handler::Async(|c| {
            Box::pin(async move {
                let host = c.str(1).to_string();
                resume(&c, Some(host)).await
            })
        }),
    );
    t.insert("VM.pause", Handler::Async(|c| Box::pin(async move { pause(&c, "pause").await })));
    t.insert("VM.unpause", Handler::Async(|c| Box::pin(async move { pause(&c, "unpause").await })));
    t.insert("VM.pool_migrate", Handler::Async(pool_migrate));
    t.insert("VM.power_state_reset", Handler::Async(power_state_reset));
}

// --- domids ------------------------------------------------------------------

type DomidTable = Vec<(Weak<Core>, HashMap<String, i64>)>;

/// Next domid per host and simulator: Xen counts up and never reuses a domid
/// while running. A restarted simulator continues after its resident VMs.
fn next_domid(core: &Arc<Core>, db: &Db, host: &str) -> i64 {
    static TABLE: OnceLock<Mutex<DomidTable>> = OnceLock::new();
    let mut table = TABLE.get_or_init(|| Mutex::new(Vec::new())).lock();
    table.retain(|(w, _)| w.strong_count() > 0);
    let pos = match table.iter().position(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(core))) {
        Some(p) => p,
        None => {
            table.push((Arc::downgrade(core), HashMap::new()));
            table.len() - 1
        }
    };
    let counters = &mut table[pos].1;
    let highest = db.strings(host, "resident_VMs").iter().map(|vm| db.int(vm, "domid")).max().unwrap_or(0);
    let next = counters.get(host).copied().unwrap_or(1).max(highest + 1);
    counters.insert(host.to_string(), next + 1);
    next
}

// --- domain bookkeeping ------------------------------------------------------

/// The VM's metrics object, created when missing (xapi makes one per VM).
pub(super) fn ensure_metrics(db: &mut Db, vm: &str) -> String {
    let m = db.string(vm, "metrics");
    if db.is(&m, "VM_metrics") {
        return m;
    }
    let c = db.cls("VM_metrics");
    let m = db.create(
        c,
        vec![
            ("VCPUs_CPU", Value::Struct(Vec::new())),
            ("VCPUs_params", empty_map()),
            ("VCPUs_flags", Value::Struct(Vec::new())),
            ("state", empty_set()),
            ("install_time", db.now()),
            ("last_updated", db.now()),
            ("current_domain_type", Value::str("unspecified")),
        ],
    );
    db.set_named(vm, "metrics", Value::String(m.clone()));
    m
}

fn is_hvm(db: &Db, vm: &str) -> bool {
    match db.field_str(vm, "domain_type") {
        "hvm" => true,
        "pv" | "pvh" | "pv_in_pvh" => false,
        _ => !db.field_str(vm, "HVM_boot_policy").is_empty(),
    }
}

/// Fills the metrics of a domain just created on `host` with `domid`.
fn domain_metrics(db: &mut Db, vm: &str, domid: i64, paused: bool, fresh_boot: bool) {
    let m = ensure_metrics(db, vm);
    let vcpus = db.int(vm, "VCPUs_at_startup").max(1);
    let hvm = is_hvm(db, vm);
    let domain_type = match db.field_str(vm, "domain_type") {
        "" | "unspecified" if hvm => "hvm".to_string(),
        "" | "unspecified" => "pv".to_string(),
        other => other.to_string(),
    };
    let pcpus = 16;
    let cpus = Value::Struct((0..vcpus).map(|i| (i.to_string(), Value::Int((domid * 3 + i) % pcpus))).collect());
    db.set_named(&m, "memory_actual", Value::Int(db.int(vm, "memory_dynamic_max")));
    db.set_named(&m, "VCPUs_number", Value::Int(vcpus));
    db.set_named(&m, "VCPUs_CPU", cpus);
    db.set_named(&m, "state", sset(&[if paused { "paused" } else { "running" }]));
    db.set_named(&m, "hvm", Value::Bool(hvm));
    db.set_named(&m, "current_domain_type", Value::String(domain_type));
    if fresh_boot {
        db.set_named(&m, "start_time", db.now());
    }
    db.set_named(&m, "last_updated", db.now());
}

/// Metrics of a VM without a domain.
fn no_domain_metrics(db: &mut Db, vm: &str) {
    let m = db.string(vm, "metrics");
    if !db.is(&m, "VM_metrics") {
        return;
    }
    db.set_named(&m, "memory_actual", Value::Int(0));
    db.set_named(&m, "VCPUs_number", Value::Int(0));
    db.set_named(&m, "VCPUs_CPU", Value::Struct(Vec::new()));
    db.set_named(&m, "state", empty_set());
    db.set_named(&m, "hvm", Value::Bool(false));
    db.set_named(&m, "current_domain_type", Value::str("unspecified"));
    db.set_named(&m, "last_updated", db.now());
}

/// The CPU flags the host offers the guest at boot.
fn boot_cpu_flags(db: &Db, vm: &str, host: &str) -> Value {
    let info = db.string_map(host, "cpu_info");
    let get = |k: &str| info.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let features = get(if is_hvm(db, vm) { "features_hvm" } else { "features_pv" });
    smap(&[("vendor", get("vendor")), ("features", features)])
}

/// Creates the VM's domain on `host`: state, residence, memory, devices, console.
fn create_domain(core: &Arc<Core>, db: &mut Db, vm: &str, host: &str, paused: bool, fresh_boot: bool) {
    let domid = next_domid(core, db, host);
    let overhead = memory::vm_overhead_of(db, vm);
    let target = db.int(vm, "memory_dynamic_max");
    db.set_named(vm, "power_state", Value::str(if paused { "Paused" } else { "Running" }));
    db.set_named(vm, "resident_on", Value::str(host));
    db.set_named(vm, "scheduled_to_be_resident_on", null());
    db.set_named(vm, "domid", Value::Int(domid));
    db.set_named(vm, "memory_overhead", Value::Int(overhead));
    db.set_named(vm, "memory_target", Value::Int(target));
    if fresh_boot {
        let flags = boot_cpu_flags(db, vm, host);
        db.set_named(vm, "last_boot_CPU_flags", flags);
        // An HVM guest boots with the generic BIOS strings unless it has its own.
        let has_strings = db.field(vm, "bios_strings").and_then(Value::as_struct).is_some_and(|m| !m.is_empty());
        if is_hvm(db, vm) && !has_strings {
            db.set_named(vm, "bios_strings", smap(GENERIC_BIOS_STRINGS));
        }
    }
    domain_metrics(db, vm, domid, paused, fresh_boot);
    plug_all(db, vm);
    destroy_consoles(db, vm);
    create_console(db, vm, host);
    memory::refresh_host(db, host);
}

/// Tears the VM's domain down, leaving it `state` ("Halted" or "Suspended").
/// Returns the suspend image a halt leaves to destroy.
fn destroy_domain(db: &mut Db, vm: &str, state: &str) -> Option<String> {
    let host = db.string(vm, "resident_on");
    db.set_named(vm, "power_state", Value::str(state));
    // Unplug while still resident, so the disks' host marks go too.
    unplug_all(db, vm);
    db.set_named(vm, "resident_on", null());
    db.set_named(vm, "scheduled_to_be_resident_on", null());
    db.set_named(vm, "domid", Value::Int(-1));
    no_domain_metrics(db, vm);
    destroy_consoles(db, vm);
    let mut image = None;
    if state == "Halted" {
        db.set_named(vm, "memory_target", Value::Int(0));
        db.set_named(vm, "requires_reboot", Value::Bool(false));
        guest::forget(db, vm);
        image = take_suspend_image(db, vm);
    }
    refresh_devices(db, vm);
    memory::refresh_host(db, &host);
    image
}

/// Halts a VM at once, whatever its state (a revert's first step); returns
/// the suspend image to destroy.
pub(super) fn force_halt(db: &mut Db, vm: &str) -> Option<String> {
    destroy_domain(db, vm, "Halted")
}

/// Detaches the VM's suspend image, returning it for destruction.
fn take_suspend_image(db: &mut Db, vm: &str) -> Option<String> {
    let vdi = db.string(vm, "suspend_VDI");
    if vdi == xenapi::NULL_REF {
        return None;
    }
    db.set_named(vm, "suspend_VDI", null());
    db.is(&vdi, "VDI").then_some(vdi)
}

fn power(db: &Db, vm: &str) -> String {
    db.string(vm, "power_state")
}

fn bad_power(vm: &str, expected: &str, actual: &str) -> Failure {
    Failure::new("VM_BAD_POWER_STATE", [vm, expected, &actual.to_ascii_lowercase()])
}

// --- start -------------------------------------------------------------------

fn start(call: Call) -> BoxFuture {
    Box::pin(async move {
        let paused = call.bool(1);
        boot(&call, None, paused).await
    })
}

fn start_on(call: Call) -> BoxFuture {
    Box::pin(async move {
        let host = call.str(1).to_string();
        let paused = call.bool(2);
        boot(&call, Some(host), paused).await
    })
}

/// The configuration checks xapi makes before building a domain.
fn validate_for_boot(db: &Db, vm: &str) -> ApiResult<()> {
    let vcpus = db.int(vm, "VCPUs_at_startup");
    if vcpus < 1 {
        return Err(Failure::new("VM_NO_VCPUS", [vm]));
    }
    if vcpus > db.int(vm, "VCPUs_max") {
        return Err(Failure::new("INVALID_VALUE", ["VCPUs_at_startup".to_string(), vcpus.to_string()]));
    }
    let [smin, smax, dmin, dmax] =
        ["memory_static_min", "memory_static_max", "memory_dynamic_min", "memory_dynamic_max"].map(|f| db.int(vm, f));
    if !(smin <= dmin && dmin <= dmax && dmax <= smax) {
        return Err(Failure::new::<&str>("MEMORY_CONSTRAINT_VIOLATION_ORDER", []));
    }
    Ok(())
}

async fn boot(call: &Call, host: Option<String>, paused: bool) -> ApiResult<Value> {
    let vm = call.str(0).to_string();
    let op = if host.is_some() { "start_on" } else { "start" };
    let core = call.core.clone();
    run_op(
        call,
        &[(&vm, op)],
        START_SECS,
        |db| {
            validate_for_boot(db, &vm)?;
            placement::place_and_reserve(db, &vm, host)
        },
        |db, host| {
            if power(db, &vm) != "Halted" {
                return Err(bad_power(&vm, "halted", &power(db, &vm)));
            }
            create_domain(&core, db, &vm, &host, paused, true);
            if guest::immediate(&core) {
                guest::report(db, &vm);
            }
            Ok(())
        },
        |db, _| placement::unreserve(db, &vm),
        |()| Note::Started,
    )
    .await?;
    guest::schedule(&call.core, &vm);
    Ok(void())
}

// --- shutdown ----------------------------------------------------------------

async fn halt(call: &Call, op: &'static str) -> ApiResult<Value> {
    let vm = call.str(0).to_string();
    let seconds = match op {
        "hard_shutdown" => HARD_SHUTDOWN_SECS,
        _ => SHUTDOWN_SECS,
    };
    let image = run_op(
        call,
        &[(&vm, op)],
        seconds,
        |_| Ok(()),
        |db, ()| {
            db.expect_is(&vm, "VM")?;
            // A hard shutdown may have overtaken a clean one: the VM is down either way.
            if power(db, &vm) == "Halted" {
                return Ok(None);
            }
            Ok(destroy_domain(db, &vm, "Halted"))
        },
        |_, ()| {},
        |_| if op == "hard_shutdown" { Note::ShutdownForcibly } else { Note::Shutdown },
    )
    .await?;
    drop_vdis(call, image.into_iter().collect()).await;
    Ok(void())
}

// --- reboot ------------------------------------------------------------------

async fn reboot(call: &Call, op: &'static str) -> ApiResult<Value> {
    let vm = call.str(0).to_string();
    let core = call.core.clone();
    run_op(
        call,
        &[(&vm, op)],
        REBOOT_SECS,
        |_| Ok(()),
        |db, ()| {
            db.expect_is(&vm, "VM")?;
            let host = db.string(&vm, "resident_on");
            if !matches!(power(db, &vm).as_str(), "Running" | "Paused") || !db.is(&host, "host") {
                let expected = if op == "clean_reboot" { "running" } else { "paused, running" };
                return Err(bad_power(&vm, expected, &power(db, &vm)));
            }
            guest::forget(db, &vm);
            create_domain(&core, db, &vm, &host, false, true);
            if guest::immediate(&core) {
                guest::report(db, &vm);
            }
            Ok(())
        },
        |_, ()| {},
        |()| if op == "clean_reboot" { Note::RebootedCleanly } else { Note::RebootedForcibly },
    )
    .await?;
    guest::schedule(&call.core, &vm);
    Ok(void())
}

// --- suspend / resume ----------------------------------------------------------

/// The SR a suspend image goes to: the VM's, the pool's or the host's, as xapi chooses.
pub(super) fn suspend_sr(db: &Db, vm: &str) -> ApiResult<String> {
    let pool_c = db.cls("pool");
    let pool_sr = db.iter(pool_c).next().map(|(p, _)| db.string(p, "suspend_image_SR")).unwrap_or_default();
    let host = db.string(vm, "resident_on");
    let host_sr = if db.is(&host, "host") { db.string(&host, "suspend_image_sr") } else { String::new() };
    [db.string(vm, "suspend_SR"), pool_sr, host_sr]
        .into_iter()
        .find(|sr| db.is(sr, "SR"))
        .ok_or_else(|| Failure::new("VM_NO_SUSPEND_SR", [vm]))
}

/// Size of a suspend image: the VM's memory and a little for device state.
pub(super) fn suspend_image_size(db: &Db, vm: &str) -> i64 {
    db.int(vm, "memory_static_max") + (4 << 20)
}

/// The VDI.create record of a suspend image for `vm` on `sr`.
pub(super) fn suspend_image_record(db: &Db, vm: &str, sr: &str) -> Value {
    disks::vdi_record(sr, "Suspend image", "Suspend image", "suspend", suspend_image_size(db, vm), &[])
}

fn suspend(call: Call) -> BoxFuture {
    Box::pin(async move {
        let vm = call.str(0).to_string();
        let targets = [(vm.as_str(), "suspend")];
        let (op, record) = begin_op(&call, &targets, |db| {
            let sr = suspend_sr(db, &vm)?;
            Ok(suspend_image_record(db, &vm, &sr))
        })?;
        let call = &op.call;
        let worked = crate::tasks::work(call, SUSPEND_SECS, 0.0, 0.9).await;
        let image = match worked {
            Ok(()) => disks::create_vdi(call, record).await,
            Err(e) => Err(e),
        };
        let image = match image {
            Ok(i) => i,
            Err(e) => return end_op(&op, &targets, |_| Err(e)),
        };
        let applied = end_op_then(
            &op,
            &targets,
            |db| {
                db.expect_is(&vm, "VM")?;
                if power(db, &vm) != "Running" {
                    return Err(bad_power(&vm, "running", &power(db, &vm)));
                }
                destroy_domain(db, &vm, "Suspended");
                db.set_named(&vm, "suspend_VDI", Value::String(image.clone()));
                update_allowed_operations(db, &vm);
                Ok(())
            },
            |db, ()| messages::file(db, &vm, Note::Suspended),
        );
        if let Err(e) = applied {
            drop_vdis(call, vec![image]).await;
            return Err(e);
        }
        Ok(void())
    })
}

async fn resume(call: &Call, host: Option<String>) -> ApiResult<Value> {
    let vm = call.str(0).to_string();
    let paused = call.bool(if host.is_some() { 2 } else { 1 });
    let op = if host.is_some() { "resume_on" } else { "resume" };
    let core = call.core.clone();
    let image = run_op(
        call,
        &[(&vm, op)],
        RESUME_SECS,
        |db| {
            if !db.is(&db.string(&vm, "suspend_VDI"), "VDI") {
                return Err(Failure::new("VM_HAS_NO_SUSPEND_VDI", [vm.as_str()]));
            }
            placement::place_and_reserve(db, &vm, host)
        },
        |db, host| {
            if power(db, &vm) != "Suspended" {
                return Err(bad_power(&vm, "suspended", &power(db, &vm)));
            }
            let image = take_suspend_image(db, &vm);
            create_domain(&core, db, &vm, &host, paused, false);
            if guest::immediate(&core) {
                guest::report(db, &vm);
            }
            Ok(image)
        },
        |db, _| placement::unreserve(db, &vm),
        |_| Note::Resumed,
    )
    .await?;
    drop_vdis(call, image.into_iter().collect()).await;
    guest::schedule(&call.core, &vm);
    Ok(void())
}

// --- pause -------------------------------------------------------------------

async fn pause(call: &Call, op: &'static str) -> ApiResult<Value> {
    let vm = call.str(0).to_string();
    let (from, to, state) =
        if op == "pause" { ("Running", "Paused", "paused") } else { ("Paused", "Running", "running") };
    run_op(
        call,
        &[(&vm, op)],
        PAUSE_SECS,
        |_| Ok(()),
        |db, ()| {
            db.expect_is(&vm, "VM")?;
            if power(db, &vm) != from {
                return Err(bad_power(&vm, &from.to_ascii_lowercase(), &power(db, &vm)));
            }
            db.set_named(&vm, "power_state", Value::str(to));
            let m = ensure_metrics(db, &vm);
            db.set_named(&m, "state", sset(&[state]));
            db.set_named(&m, "last_updated", db.now());
            Ok(())
        },
        |_, ()| {},
        |()| if op == "pause" { Note::Paused } else { Note::Unpaused },
    )
    .await?;
    Ok(void())
}

// --- migration -----------------------------------------------------------------

fn pool_migrate(call: Call) -> BoxFuture {
    Box::pin(async move {
        let vm = call.str(0).to_string();
        let host = call.str(1).to_string();
        let core = call.core.clone();
        run_op(
            &call,
            &[(&vm, "pool_migrate")],
            MIGRATE_SECS,
            |db| {
                db.expect_is(&host, "host")?;
                // A localhost migration needs no more memory than the VM has already.
                let same = db.field_str(&vm, "resident_on") == host;
                placement::assert_can_boot_here(db, &vm, &host, !same)?;
                if !same {
                    placement::reserve(db, &vm, &host);
                }
                Ok(())
            },
            |db, ()| {
                db.expect_is(&vm, "VM")?;
                if power(db, &vm) != "Running" {
                    placement::unreserve(db, &vm);
                    return Err(bad_power(&vm, "running", &power(db, &vm)));
                }
                let from = db.string(&vm, "resident_on");
                let domid = next_domid(&core, db, &host);
                unplug_all(db, &vm);
                db.set_named(&vm, "resident_on", Value::str(&host));
                db.set_named(&vm, "scheduled_to_be_resident_on", null());
                db.set_named(&vm, "domid", Value::Int(domid));
                plug_all(db, &vm);
                move_consoles(db, &vm, &host);
                let m = ensure_metrics(db, &vm);
                db.set_named(&m, "last_updated", db.now());
                memory::refresh_host(db, &from);
                memory::refresh_host(db, &host);
                Ok(from)
            },
            |db, ()| placement::unreserve(db, &vm),
            |from| Note::Migrated(from),
        )
        .await?;
        Ok(void())
    })
}

// --- power_state_reset ---------------------------------------------------------

/// Forces a VM to Halted whatever xapi thought it was doing, as after a host crash.
fn power_state_reset(call: Call) -> BoxFuture {
    Box::pin(async move {
        let vm = call.str(0).to_string();
        let image = call.core.write(|db| {
            db.expect_is(&vm, "VM")?;
            if db.bool(&vm, "is_control_domain") {
                return Err(Failure::new("CANNOT_RESET_CONTROL_DOMAIN", [vm.as_str()]));
            }
            db.set_named(&vm, "current_operations", Value::Struct(Vec::new()));
            let image = if power(db, &vm) == "Halted" {
                unplug_all(db, &vm);
                take_suspend_image(db, &vm)
            } else {
                destroy_domain(db, &vm, "Halted")
            };
            update_allowed_operations(db, &vm);
            Ok(image)
        })?;
        drop_vdis(&call, image.into_iter().collect()).await;
        Ok(void())
    })
}
