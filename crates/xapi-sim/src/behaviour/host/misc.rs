//! Host management calls that change little in a simulated pool but keep
//! xapi's checks: `syslog_reconfigure`, `set_hostname_live` (xapi's
//! hostname rules), `call_plugin` (the `echo` plugin; others are missing),
//! `get_system_status_capabilities` (the status report's parts, as
//! `xen-bugtool --capabilities` lists them), `get_uncooperative_resident_VMs`
//! (deprecated: always empty, as xapi), `get_server_certificate`.

use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::rules::host::assert_live;
use std::collections::HashMap;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("host.syslog_reconfigure", Handler::Sync(syslog_reconfigure));
    t.insert("host.set_hostname_live", Handler::Sync(set_hostname_live));
    t.insert("host.call_plugin", Handler::Sync(call_plugin));
    t.insert("host.get_system_status_capabilities", Handler::Sync(capabilities));
    t.insert("host.get_uncooperative_resident_VMs", Handler::Sync(uncooperative));
}

/// The host rereads `logging:syslog_destination`; it must be up.
fn syslog_reconfigure(call: &Call, db: &mut Db) -> ApiResult<Value> {
    assert_live(db, call.str(0))?;
    Ok(Value::str(""))
}

/// xapi's reason for refusing a hostname, if any: empty, longer than 255,
/// or not letters, digits, `-` and `.` with no `-` at either end.
fn hostname_error(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("hostname empty");
    }
    if name.len() > 255 {
        return Some("hostname is too long");
    }
    let bad_char = !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if bad_char || name.starts_with('-') || name.ends_with('-') {
        return Some("hostname contains invalid characters");
    }
    None
}

/// Sets the host's hostname now; its control domain is renamed after it.
fn set_hostname_live(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0);
    let name = call.str(1);
    assert_live(db, host)?;
    if let Some(why) = hostname_error(name) {
        return Err(Failure::new("HOST_NAME_INVALID", [why]));
    }
    db.set_named(host, "hostname", Value::str(name));
    for vm in db.strings(host, "resident_VMs") {
        if db.is(&vm, "VM") && db.bool(&vm, "is_control_domain") {
            db.set_named(&vm, "name_label", Value::String(format!("Control domain on host: {name}")));
        }
    }
    Ok(Value::str(""))
}

/// The plugins of `/etc/xapi.d/plugins` the simulator has: `echo`, whose
/// `main` answers its arguments as a JSON object. An unknown plugin is
/// XENAPI_MISSING_PLUGIN; an unknown function, what XenAPIPlugin answers.
fn call_plugin(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let host = call.str(0);
    let (plugin, function) = (call.str(1), call.str(2));
    assert_live(db, host)?;
    if plugin != "echo" {
        return Err(Failure::new("XENAPI_MISSING_PLUGIN", [plugin]));
    }
    if function != "main" {
        return Err(Failure::new("UNKNOWN_XENAPI_PLUGIN_FUNCTION", [function]));
    }
    let args: serde_json::Map<String, serde_json::Value> = match call.args.get(3) {
        Some(Value::Struct(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.as_str().unwrap_or("").to_string())))
            .collect(),
        _ => serde_json::Map::new(),
    };
    Ok(Value::String(serde_json::Value::Object(args).to_string()))
}

/// What a status report can hold: key, content type, whether it is
/// checked by default, sizes, time, and whether it may hold personal data.
const CAPABILITIES: &[(&str, &str, &str, &str, &str)] = &[
    ("blobs", "text/plain", "no", "-1", "no"),
    ("boot-loader", "text/plain", "yes", "65536", "maybe"),
    ("control-slice", "text/plain", "yes", "-1", "maybe"),
    ("disk-info", "text/plain", "yes", "-1", "maybe"),
    ("firstboot", "text/plain", "yes", "-1", "yes"),
    ("hardware-info", "text/plain", "yes", "-1", "maybe"),
    ("high-availability", "text/plain", "yes", "-1", "maybe"),
    ("host-crashdump-logs", "text/plain", "no", "-1", "maybe"),
    ("kernel-info", "text/plain", "yes", "-1", "maybe"),
    ("multipath", "text/plain", "yes", "-1", "maybe"),
    ("network-config", "text/plain", "yes", "-1", "maybe"),
    ("network-status", "text/plain", "yes", "-1", "yes"),
    ("process-list", "text/plain", "yes", "-1", "yes"),
    ("system-logs", "text/plain", "yes", "-1", "maybe"),
    ("system-services", "text/plain", "yes", "-1", "no"),
    ("tapdisk-logs", "text/plain", "no", "-1", "no"),
    ("VM-snapshot-schedule", "text/plain", "yes", "-1", "no"),
    ("xapi-debug", "text/plain", "yes", "-1", "maybe"),
    ("xen-info", "text/plain", "yes", "-1", "maybe"),
    ("xenserver-config", "text/plain", "yes", "-1", "maybe"),
    ("xenserver-databases", "text/plain", "yes", "-1", "yes"),
    ("xenserver-logs", "text/plain", "yes", "-1", "maybe"),
    ("yum", "text/plain", "yes", "-1", "maybe"),
];

fn capabilities(call: &Call, db: &mut Db) -> ApiResult<Value> {
    assert_live(db, call.str(0))?;
    let mut xml = String::from("<?xml version=\"1.0\" ?>\n<system-status-capabilities>");
    for (key, ty, checked, max_size, pii) in CAPABILITIES {
        xml.push_str(&format!(
            "<capability content-type=\"{ty}\" default-checked=\"{checked}\" key=\"{key}\" max-size=\"{max_size}\" \
             max-time=\"-1\" min-size=\"-1\" min-time=\"-1\" pii=\"{pii}\"/>"
        ));
    }
    xml.push_str("</system-status-capabilities>");
    Ok(Value::String(xml))
}

fn uncooperative(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect_is(call.str(0), "host")?;
    Ok(Value::Array(Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::hostname_error;

    #[test]
    fn hostnames_follow_xapis_rules() {
        assert_eq!(hostname_error("xs-host-1.example"), None);
        assert_eq!(hostname_error(""), Some("hostname empty"));
        assert_eq!(hostname_error(&"a".repeat(256)), Some("hostname is too long"));
        assert_eq!(hostname_error("-leading"), Some("hostname contains invalid characters"));
        assert_eq!(hostname_error("trailing-"), Some("hostname contains invalid characters"));
        assert_eq!(hostname_error("under_score"), Some("hostname contains invalid characters"));
    }
}
