//! A simulated guest agent: some time after a domain boots it reports the
//! OS, its PV drivers and an address for every VIF through `VM_guest_metrics`,
//! as the XCP-ng guest tools do. The report goes away when the VM halts.

use super::AGENT_SECS;
use crate::core::Core;
use crate::db::Db;
use crate::values::{empty_map, null, smap};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use xenapi::Value;

/// What the agent of a guest installed from a given template reports.
fn os_version(reference_label: &str, base_template: &str) -> Vec<(&'static str, String)> {
    let linux = |name: &str, distro: &str, major: &str, minor: &str, uname: &str| {
        vec![
            ("name", name.to_string()),
            ("distro", distro.to_string()),
            ("major", major.to_string()),
            ("minor", minor.to_string()),
            ("uname", uname.to_string()),
        ]
    };
    let windows = |name: &str| {
        vec![
            ("name", format!("{name}|C:\\Windows|\\Device\\Harddisk0\\Partition2")),
            ("distro", "windows".to_string()),
            ("major", "10".to_string()),
            ("minor", "0".to_string()),
            ("spmajor", "0".to_string()),
            ("spminor", "0".to_string()),
        ]
    };
    let label = if reference_label.is_empty() { base_template.to_ascii_lowercase() } else { reference_label.into() };
    let el9 = "5.14.0-427.13.1.el9_4.x86_64";
    let el8 = "4.18.0-553.el8_10.x86_64";
    match label.as_str() {
        "debian-12" => linux("Debian GNU/Linux 12 (bookworm)", "debian", "12", "5", "6.1.0-18-amd64"),
        "debian-11" => linux("Debian GNU/Linux 11 (bullseye)", "debian", "11", "9", "5.10.0-28-amd64"),
        "ubuntu-20.04" => linux("Ubuntu 20.04.6 LTS", "ubuntu", "20", "04", "5.4.0-182-generic"),
        "ubuntu-22.04" => linux("Ubuntu 22.04.4 LTS", "ubuntu", "22", "04", "5.15.0-107-generic"),
        "ubuntu-24.04" => linux("Ubuntu 24.04.1 LTS", "ubuntu", "24", "04", "6.8.0-41-generic"),
        "rocky-9" => linux("Rocky Linux 9.4 (Blue Onyx)", "rocky", "9", "4", el9),
        "rocky-8" => linux("Rocky Linux 8.10 (Green Obsidian)", "rocky", "8", "10", el8),
        "almalinux-9" => linux("AlmaLinux 9.4 (Seafoam Ocelot)", "almalinux", "9", "4", el9),
        "centos-stream-9" => linux("CentOS Stream 9", "centos", "9", "", "5.14.0-467.el9.x86_64"),
        "centos-stream-8" => linux("CentOS Stream 8", "centos", "8", "", "4.18.0-553.el8.x86_64"),
        "rhel-9" => linux("Red Hat Enterprise Linux 9.4 (Plow)", "rhel", "9", "4", el9),
        "rhel-8" => linux("Red Hat Enterprise Linux 8.10 (Ootpa)", "rhel", "8", "10", el8),
        "oel-9" => linux("Oracle Linux Server 9.4", "oracle", "9", "4", "5.15.0-206.153.7.el9uek.x86_64"),
        "sle-15-64bit" => linux("SUSE Linux Enterprise Server 15 SP6", "sles", "15", "6", "6.4.0-150600.21-default"),
        "windows-10-64bit" => windows("Microsoft Windows 10 Pro"),
        "windows-11" => windows("Microsoft Windows 11 Pro"),
        "windows-server-2016-64bit" => windows("Microsoft Windows Server 2016 Standard"),
        "windows-server-2019-64bit" => windows("Microsoft Windows Server 2019 Standard"),
        "windows-server-2022-64bit" => windows("Microsoft Windows Server 2022 Standard"),
        _ => linux("Linux", "linux", "", "", "6.1.0-18-amd64"),
    }
}

/// The link-local IPv6 address derived from a MAC (EUI-64).
fn ipv6_of(mac: &str) -> Option<String> {
    let b: Vec<u8> = mac.split(':').map(|x| u8::from_str_radix(x, 16)).collect::<Result<_, _>>().ok()?;
    if b.len() != 6 {
        return None;
    }
    let words = [
        u16::from_be_bytes([b[0] ^ 0x02, b[1]]),
        u16::from_be_bytes([b[2], 0xff]),
        u16::from_be_bytes([0xfe, b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
    ];
    Some(format!("fe80::{:x}:{:x}:{:x}:{:x}", words[0], words[1], words[2], words[3]))
}

/// Every address some guest agent reports already.
fn addresses_in_use(db: &Db) -> HashSet<String> {
    let gm_c = db.cls("VM_guest_metrics");
    let mut used = HashSet::new();
    for (r, _) in db.iter(gm_c) {
        if let Some(m) = db.field(r, "networks").and_then(Value::as_struct) {
            used.extend(m.iter().filter_map(|(_, v)| v.as_str()).map(str::to_string));
        }
    }
    used
}

/// The lowest free address of the documentation ranges.
fn next_address(used: &HashSet<String>) -> Option<String> {
    let ranges: [(&str, std::ops::RangeInclusive<u8>); 3] =
        [("192.0.2", 100..=254), ("198.51.100", 2..=254), ("203.0.113", 2..=254)];
    ranges.into_iter().flat_map(|(net, hosts)| hosts.map(move |h| format!("{net}.{h}"))).find(|a| !used.contains(a))
}

/// Writes the agent's report for a running VM (creating the metrics object
/// when needed); addresses already reported for its VIFs are kept.
pub(super) fn report(db: &mut Db, vm: &str) {
    if !db.is(vm, "VM") || !matches!(db.field_str(vm, "power_state"), "Running" | "Paused") {
        return;
    }
    let gm = db.string(vm, "guest_metrics");
    let existing = db.is(&gm, "VM_guest_metrics");
    let old: Vec<(String, String)> = if existing { db.string_map(&gm, "networks") } else { Vec::new() };
    let mut used = addresses_in_use(db);
    let mut vifs: Vec<(i64, String, String)> = db
        .strings(vm, "VIFs")
        .into_iter()
        .map(|v| {
            (db.field_str(&v, "device").parse().unwrap_or(i64::MAX), db.string(&v, "device"), db.string(&v, "MAC"))
        })
        .collect();
    vifs.sort();
    let mut networks: Vec<(String, String)> = Vec::new();
    for (_, dev, mac) in vifs {
        let kept = old.iter().find(|(k, _)| *k == format!("{dev}/ip")).map(|(_, v)| v.clone());
        let Some(ip) = kept.or_else(|| next_address(&used)) else { continue };
        used.insert(ip.clone());
        networks.push((format!("{dev}/ip"), ip.clone()));
        networks.push((format!("{dev}/ipv4/0"), ip));
        if let Some(v6) = ipv6_of(&mac) {
            networks.push((format!("{dev}/ipv6/0"), v6));
        }
    }
    let os = os_version(db.field_str(vm, "reference_label"), &base_template(db, vm));
    let vendor = if db.bool(vm, "has_vendor_device") { "1" } else { "0" };
    let members = vec![
        ("os_version", smap(&os)),
        ("PV_drivers_version", smap(&[("major", "8"), ("minor", "4"), ("micro", "0"), ("build", "1")])),
        ("PV_drivers_up_to_date", Value::Bool(true)),
        ("PV_drivers_detected", Value::Bool(true)),
        ("networks", smap(&networks)),
        (
            "other",
            smap(&[
                ("feature-poweroff", "1"),
                ("feature-reboot", "1"),
                ("feature-suspend", "1"),
                ("feature-vcpu-hotplug", "1"),
                ("has-vendor-device", vendor),
                ("platform-feature-multiprocessor-suspend", "1"),
            ]),
        ),
        ("live", Value::Bool(true)),
        ("can_use_hotplug_vbd", Value::str("yes")),
        ("can_use_hotplug_vif", Value::str("yes")),
        ("last_updated", db.now()),
    ];
    if existing {
        for (f, v) in members {
            db.set_named(&gm, f, v);
        }
    } else {
        let c = db.cls("VM_guest_metrics");
        let mut members = members;
        members.push(("other_config", empty_map()));
        let gm = db.create(c, members);
        db.set_named(vm, "guest_metrics", Value::String(gm));
    }
}

fn base_template(db: &Db, vm: &str) -> String {
    db.string_map(vm, "other_config")
        .into_iter()
        .find(|(k, _)| k == "base_template_name")
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// Drops the agent's report when the domain goes away.
pub(super) fn forget(db: &mut Db, vm: &str) {
    let gm = db.string(vm, "guest_metrics");
    if db.is(&gm, "VM_guest_metrics") {
        db.destroy(&gm);
    }
    if db.field_str(vm, "guest_metrics") != xenapi::NULL_REF {
        db.set_named(vm, "guest_metrics", null());
    }
}

/// Whether the agent reports at once (instant simulations) rather than later.
pub(super) fn immediate(core: &Core) -> bool {
    core.config.time_scale <= 0.0
}

/// Has the agent of a freshly booted domain report after its boot time.
pub(super) fn schedule(core: &Arc<Core>, vm: &str) {
    if immediate(core) {
        return;
    }
    let core = core.clone();
    let vm = vm.to_string();
    let delay = Duration::from_secs_f64(AGENT_SECS * core.config.time_scale);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let _ = core.write(|db| {
            report(db, &vm);
            Ok(())
        });
    });
}
