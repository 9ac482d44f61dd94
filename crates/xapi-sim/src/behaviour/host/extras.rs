//! The rest of a host's own calls (issue 13): `sync_data`,
//! `refresh_pack_info` and `send_debug_keys` (forwarded to a live host,
//! nothing to see in the pool), `dmesg` (the hypervisor's console, made
//! from what the pool records of the host), local storage caching (xapi's
//! "bacon mode" and SR checks, `host.local_cache_sr`), the display console
//! (`host.display` through xapi's four states), WLB evacuation advice,
//! per-host external authentication (the recovery calls behind
//! `--force`), status report and crash dump uploads (no URL is reachable
//! from the simulator: the error xapi gives for one it cannot connect to)
//! and crash dump deletion.

use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::rules::host::{assert_live, evacuation_plan};
use std::collections::HashMap;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("host.sync_data", Handler::Sync(live_noop));
    t.insert("host.refresh_pack_info", Handler::Sync(live_noop));
    t.insert("host.send_debug_keys", Handler::Sync(live_noop));
    t.insert("host.dmesg", Handler::Sync(dmesg));
    t.insert("host.enable_local_storage_caching", Handler::Sync(enable_local_storage_caching));
    t.insert("host.disable_local_storage_caching", Handler::Sync(disable_local_storage_caching));
    t.insert("host.enable_display", Handler::Sync(|c, db| update_display(c, db, true)));
    t.insert("host.disable_display", Handler::Sync(|c, db| update_display(c, db, false)));
    t.insert("host.retrieve_wlb_evacuate_recommendations", Handler::Sync(wlb_evacuate));
    t.insert("host.enable_external_auth", Handler::Sync(enable_external_auth));
    t.insert("host.disable_external_auth", Handler::Sync(disable_external_auth));
    t.insert("host.bugreport_upload", Handler::Sync(bugreport_upload));
    t.insert("host_crashdump.upload", Handler::Sync(crashdump_upload));
    t.insert("host_crashdump.destroy", Handler::Sync(crashdump_destroy));
}

/// Calls xapi forwards to the host, whose effects stay on the host (files
/// synchronised from the master, the packs list reread, keys sent to Xen):
/// HOST_OFFLINE when it is down, nothing else to check.
fn live_noop(call: &Call, db: &mut Db) -> ApiResult<Value> {
    assert_live(db, call.str(0))?;
    Ok(Value::str(""))
}

/// The hypervisor's console ring (`xl dmesg`), from the host's records:
/// its Xen version, CPUs and memory.
fn dmesg(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0);
    assert_live(db, host)?;
    let xen = db.map_get(host, "software_version", "xen").unwrap_or_else(|| "4.17".into());
    let cpu = |k: &str| db.map_get(host, "cpu_info", k).unwrap_or_default();
    let cpus: u32 = cpu("cpu_count").parse().unwrap_or(1);
    let mib = db.int(&db.string(host, "metrics"), "memory_total") / (1024 * 1024);
    let mut log = vec![
        format!("(XEN) Xen version {xen} (mockbuild@[unknown]) (gcc (GCC) 11.2.1) debug=n"),
        format!("(XEN) Latest ChangeSet: , pq {xen}"),
        "(XEN) Bootloader: GRUB 2.06".into(),
        "(XEN) Command line: dom0_mem=4304M,max:4304M watchdog ucode=scan dom0_max_vcpus=1-8 crashkernel=256M,below=4G console=vga vga=mode-0x0311".into(),
        "(XEN) Xen-e820 RAM map:".into(),
        "(XEN)  [0000000000000000, 000000000009ffff] (usable)".into(),
        format!("(XEN) System RAM: {mib}MB ({}kB)", mib * 1024),
        format!("(XEN) CPU Vendor: {}, Family {} (0x{:x}), Model {} (0x{:x}), Stepping {}", cpu("vendor"),
            cpu("family"), cpu("family").parse::<u32>().unwrap_or(0), cpu("model"),
            cpu("model").parse::<u32>().unwrap_or(0), cpu("stepping")),
        format!("(XEN) CPU0: {}", cpu("modelname")),
        "(XEN) Using scheduler: SMP Credit Scheduler rev2 (credit2)".into(),
        "(XEN) HVM: VMX enabled".into(),
        "(XEN) HVM: Hardware Assisted Paging (HAP) detected".into(),
    ];
    log.extend((1..cpus).map(|n| format!("(XEN) Brought up CPU{n}")));
    log.push(format!("(XEN) Brought up {cpus} CPUs"));
    log.push("(XEN) *** LOADING DOMAIN 0 ***".into());
    log.push("(XEN) Scrubbing Free RAM in background".into());
    log.push("(XEN) Freed 604kB init memory".into());
    let mut text = log.join("\n");
    text.push('\n');
    Ok(Value::String(text))
}

/// `(host, sr)`: a local (unshared, one PBD) SR of a type that can cache,
/// plugged on this host (HOST_CANNOT_SEE_SR otherwise), becomes the host's
/// cache; the previous cache SR stops being one. Anything else is
/// SR_OPERATION_NOT_SUPPORTED.
fn enable_local_storage_caching(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let (host, sr) = (call.str(0), call.str(1));
    assert_live(db, host)?;
    db.expect_is(sr, "SR")?;
    crate::rules::local_cache::enable(db, host, sr)?;
    Ok(Value::str(""))
}

/// `(host)`: the host has no cache SR any more.
fn disable_local_storage_caching(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0);
    assert_live(db, host)?;
    crate::rules::local_cache::disable(db, host)?;
    Ok(Value::str(""))
}

/// xapi's display states: enabling a disabled console takes effect at the
/// next boot (`enable_on_reboot`), as does disabling an enabled one
/// (`disable_on_reboot`); a pending change is cancelled by its opposite.
/// Disabling needs the Integrated_GPU feature (FEATURE_RESTRICTED).
fn update_display(call: &Call, db: &mut Db, enable: bool) -> ApiResult<Value> {
    let host = call.str(0);
    assert_live(db, host)?;
    if !enable {
        let pool = db.all("pool").into_iter().next().unwrap_or_default();
        if db.map_get(&pool, "restrictions", "restrict_integrated_gpu_passthrough").as_deref() == Some("true") {
            return Err(Failure::new::<&str>("FEATURE_RESTRICTED", []));
        }
    }
    let current = db.string(host, "display");
    let new = match (current.as_str(), enable) {
        ("enabled" | "disable_on_reboot", true) => "enabled",
        ("disabled" | "enable_on_reboot", true) => "enable_on_reboot",
        ("enabled" | "disable_on_reboot", false) => "disable_on_reboot",
        (_, false) => "disabled",
        (_, true) => "enabled",
    };
    if new != current {
        db.set_named(host, "display", Value::str(new));
    }
    Ok(Value::str(new))
}

/// Workload balancing's advice for evacuating a host: WLB_NOT_INITIALIZED
/// without a WLB server, WLB_DISABLED when it is off. With one, the
/// simulated server agrees with xapi's own plan: `["WLB", host uuid]` for
/// each VM that can move, the error (code and parameters) for the others.
fn wlb_evacuate(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0);
    db.expect_is(host, "host")?;
    let pool = db.all("pool").into_iter().next().unwrap_or_default();
    if db.string(&pool, "wlb_url").is_empty() {
        return Err(Failure::new::<&str>("WLB_NOT_INITIALIZED", []));
    }
    if !db.bool(&pool, "wlb_enabled") {
        return Err(Failure::new::<&str>("WLB_DISABLED", []));
    }
    let plans = evacuation_plan(db, host)
        .into_iter()
        .map(|(vm, plan)| {
            let detail = match plan {
                Ok(target) => vec!["WLB".to_string(), db.string(&target, "uuid")],
                Err(e) => e,
            };
            (vm, Value::Array(detail.into_iter().map(Value::String).collect()))
        })
        .collect();
    Ok(Value::Struct(plans))
}

/// `(host, config, service_name, auth_type)` on one host, for recovery:
/// AUTH_ALREADY_ENABLED (the current type and service) when it has one,
/// AUTH_UNKNOWN_TYPE for anything but `AD`, then the directory checks of
/// the pool's call, each as its AUTH_ENABLE_FAILED_* error with a reason.
fn enable_external_auth(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0);
    db.expect_is(host, "host")?;
    let config: Vec<(String, Value)> = call.args[1].as_struct().unwrap_or(&[]).to_vec();
    let (service_name, auth_type) = (call.str(2), call.str(3));
    let current = db.string(host, "external_auth_type");
    if !current.is_empty() {
        return Err(Failure::new("AUTH_ALREADY_ENABLED", [current, db.string(host, "external_auth_service_name")]));
    }
    if auth_type != "AD" {
        return Err(Failure::new("AUTH_UNKNOWN_TYPE", [auth_type]));
    }
    let get = |k: &str| config.iter().find(|(key, _)| key == k).and_then(|(_, v)| v.as_str());
    let Some(directory) = call.core.config.directory.as_ref() else {
        let why = format!("No domain controller of {service_name} can be reached");
        return Err(Failure::new("AUTH_ENABLE_FAILED_UNAVAILABLE", [why]));
    };
    if !service_name.eq_ignore_ascii_case(&directory.domain) {
        let why = format!("The domain {service_name} cannot be found");
        return Err(Failure::new("AUTH_ENABLE_FAILED_DOMAIN_LOOKUP_FAILED", [why]));
    }
    let (Some(user), Some(pass)) = (get("user"), get("pass")) else {
        return Err(Failure::new("AUTH_ENABLE_FAILED", ["enable requires two configuration params: user and pass"]));
    };
    if !directory.resolve(user).is_some_and(|e| !e.is_group && e.password.as_deref() == Some(pass)) {
        let why = format!("The username or password of {user} is wrong");
        return Err(Failure::new("AUTH_ENABLE_FAILED_WRONG_CREDENTIALS", [why]));
    }
    let kept: Vec<(String, Value)> = config.into_iter().filter(|(k, _)| k != "pass").collect();
    db.set_named(host, "external_auth_type", Value::str("AD"));
    db.set_named(host, "external_auth_service_name", Value::str(service_name));
    db.set_named(host, "external_auth_configuration", Value::Struct(kept));
    Ok(Value::str(""))
}

/// `(host, config)`: the host leaves its domain; nothing to do (and no
/// error, as xapi) when it has none.
fn disable_external_auth(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0);
    db.expect_is(host, "host")?;
    db.set_named(host, "external_auth_type", Value::str(""));
    db.set_named(host, "external_auth_service_name", Value::str(""));
    db.set_named(host, "external_auth_configuration", Value::Struct(Vec::new()));
    Ok(Value::str(""))
}

/// `(host, url, options)`: INVALID_VALUE for an empty URL; otherwise the
/// upload's connection fails, as curl's does for a host it cannot reach
/// (xapi's `Failed to connect to host`, an internal error).
fn bugreport_upload(call: &Call, db: &mut Db) -> ApiResult<Value> {
    assert_live(db, call.str(0))?;
    if call.str(1).is_empty() {
        return Err(Failure::new("INVALID_VALUE", ["url", ""]));
    }
    Err(Failure::new("INTERNAL_ERROR", ["Failure(\"Failed to connect to host\")"]))
}

/// `(crashdump, url, options)`: INVALID_VALUE for an empty URL; otherwise
/// the upload script exits as curl does when it cannot connect (7).
fn crashdump_upload(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect_is(call.str(0), "host_crashdump")?;
    if call.str(1).is_empty() {
        return Err(Failure::new("INVALID_VALUE", ["url", ""]));
    }
    Err(Failure::new("INTERNAL_ERROR", ["Subprocess exited with unexpected code 7"]))
}

/// The crash dump's files and record go.
fn crashdump_destroy(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let dump = call.str(0);
    db.expect_is(dump, "host_crashdump")?;
    db.destroy(dump);
    Ok(Value::str(""))
}
