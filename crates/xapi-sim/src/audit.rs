//! The pool's audit log, as xapi's RBAC audit writes `/var/log/audit.log`:
//! one line per call with a side effect (no `.get` in its name, less
//! xapi's spam list), saying who (the session's trackid, subject and user
//! name), whether RBAC allowed it and how it ended, and its notable
//! arguments as an s-expression: descriptive ones (`name_label`, ...) and
//! the per-call list by value, objects as name, uuid and ref. Logins and
//! logouts appear as `session.create`/`session.destroy`; the data handlers
//! as `http/<action>`. `GET /audit_log` (`xe audit-log-get`) serves it,
//! from `since` on. Kept in memory, the newest [`KEEP`] lines.

use crate::db::{ApiResult, Db, Failure};
use parking_lot::Mutex;
use std::collections::VecDeque;
use xenapi::Value;

/// How many lines the log keeps.
pub const KEEP: usize = 20_000;

/// The lines, oldest first.
#[derive(Debug, Default)]
pub struct AuditLog {
    lines: Mutex<VecDeque<String>>,
}

impl AuditLog {
    pub fn push(&self, line: String) {
        let mut lines = self.lines.lock();
        if lines.len() == KEEP {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The lines stamped at or after `since` (ISO 8601 as xapi takes it:
    /// `2026-12-04`, `2026-12-04T10:31`, `20261204T10:31:11.417`...), each
    /// ended by a newline; all of them when `since` is empty.
    pub fn since(&self, since: &str) -> String {
        // xapi drops the dashes and the zone mark, then compares the 21
        // characters after the line's first `[` as text.
        let since: String = since.chars().filter(|c| *c != '-' && *c != 'Z').collect();
        let mut out = String::new();
        for line in self.lines.lock().iter() {
            let at = line.find('[').map_or(0, |i| i + 1);
            let Some(stamp) = line.get(at..at + 21) else { continue };
            if since.is_empty() || stamp >= since.as_str() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

/// xapi's `has_to_audit`: calls with a side effect, less the noisy ones.
pub fn has_to_audit(action: &str) -> bool {
    const IGNORED: &[&str] = &[
        "session.local_logout",
        "session.logout",
        "event.next",
        "event.from",
        "http/get_rrd_updates",
        "http/rrd_updates",
        "http/post_remote_db_access",
        "host.tickle_heartbeat",
    ];
    !action.contains(".get") && !IGNORED.contains(&action)
}

/// Arguments recorded by value for particular calls (xapi's whitelist);
/// descriptive names are recorded for every call.
const BY_VALUE: &[(&str, &[&str])] = &[
    ("host.create", &["hostname", "address", "external_auth_type", "external_auth_service_name", "edition"]),
    (
        "VM.create",
        &[
            "is_a_template",
            "memory_target",
            "memory_static_max",
            "memory_dynamic_max",
            "memory_dynamic_min",
            "memory_static_min",
            "ha_always_run",
            "ha_restart_priority",
        ],
    ),
    ("host.set_address", &["value"]),
    ("VM.migrate", &["dest", "live"]),
    ("VM.start_on", &["start_paused", "force"]),
    ("VM.start", &["start_paused", "force"]),
    ("pool.create_VLAN", &["device", "vLAN"]),
    ("pool.join_force", &["master_address"]),
    ("pool.join", &["master_address"]),
    ("pool.enable_external_auth", &["service_name", "auth_type"]),
    ("host.enable_external_auth", &["service_name", "auth_type"]),
    ("subject.create", &["subject_identifier", "other_config"]),
    ("subject.create.other_config", &["subject-name"]),
    ("message.create", &["name", "body"]),
];

const DESCRIPTIVE: &[&str] = &["name", "label", "description", "name_label", "name_description", "new_name"];

/// A quoted s-expression string: `'text'` with `\` and `'` escaped.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// One argument: its name, a value or an object's name, uuid and ref.
pub fn arg(name: &str, value: &str, uuid: &str, r: &str) -> String {
    format!("({} {} {} {})", quoted(name), quoted(value), quoted(uuid), quoted(r))
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) | Value::DateTime(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(d) => Some(d.to_string()),
        _ => None,
    }
}

/// One argument as xapi records it, or nothing.
fn one(db: &Db, action: &str, name: &str, value: &Value) -> Option<String> {
    let by_value =
        DESCRIPTIVE.contains(&name) || BY_VALUE.iter().any(|(a, names)| *a == action && names.contains(&name));
    if by_value {
        if let Value::Struct(fields) = value {
            let inner = arguments(db, &format!("{action}.{name}"), fields);
            return Some(format!("({} ({}) '' '')", quoted(name), inner));
        }
        return Some(arg(name, &scalar(value).unwrap_or_default(), "", ""));
    }
    let Value::String(r) = value else { return None };
    if db.get(r).is_some() {
        let label = db.field(r, "name_label").and_then(Value::as_str).unwrap_or_default().to_string();
        let uuid = db.field(r, "uuid").and_then(Value::as_str).unwrap_or_default().to_string();
        return Some(arg(name, &label, &uuid, r));
    }
    (r.starts_with("OpaqueRef:") && r != xenapi::NULL_REF).then(|| arg(name, "", "", r))
}

/// The recorded arguments of a call, space-separated, without the
/// surrounding parentheses.
pub fn arguments(db: &Db, action: &str, named: &[(String, Value)]) -> String {
    let mut out = Vec::new();
    for (name, value) in named {
        match value {
            // A constructor's record: its fields are the arguments.
            Value::Struct(fields) if name == "args" && action.ends_with(".create") => {
                let inner = arguments(db, action, fields);
                if !inner.is_empty() {
                    out.push(inner);
                }
            }
            _ => out.extend(one(db, action, name, value)),
        }
    }
    out.join(" ")
}

/// Who a session is, as the log names them: `LOCAL_SUPERUSER` and the user
/// name for local accounts, the subject identifier and name for directory
/// users, `LOCAL_SESSION` for a member's local session.
pub fn subject(db: &Db, session: &str, local: bool) -> (String, String) {
    if local {
        return ("LOCAL_SESSION".into(), String::new());
    }
    let name = db.field(session, "auth_user_name").and_then(Value::as_str).unwrap_or_default().to_string();
    if db.field(session, "is_local_superuser").and_then(Value::as_bool) == Some(true) {
        return ("LOCAL_SUPERUSER".into(), name);
    }
    let sid = db.field(session, "auth_user_sid").and_then(Value::as_str).unwrap_or_default().to_string();
    (sid, name)
}

/// `OK`, or `ERROR:CODE: [ p1; p2 ]` as xapi prints a failure.
pub fn outcome(result: &ApiResult<Value>) -> String {
    match result {
        Ok(_) => "OK".into(),
        Err(Failure(e)) => {
            let code = e.first().cloned().unwrap_or_default();
            format!("ERROR:{code}: [ {} ]", e.get(1..).unwrap_or(&[]).join("; "))
        }
    }
}

/// What one line says.
pub struct Entry<'a> {
    pub host: &'a str,
    pub session: &'a str,
    pub subject: (String, String),
    pub allowed: bool,
    pub outcome: String,
    pub action: &'a str,
    pub args: String,
}

/// The trackid of a session: the MD5 of its ref, in hex, so the log never
/// holds a usable session ref.
pub fn trackid(session: &str) -> String {
    use md5::{Digest, Md5};
    let digest = Md5::digest(session.as_bytes());
    format!("trackid={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The line as syslog writes it to `/var/log/audit.log`.
pub fn line(now: time::OffsetDateTime, e: &Entry) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS[usize::from(u8::from(now.month())) - 1];
    let (h, m, s) = (now.hour(), now.minute(), now.second());
    let stamp = format!(
        "{:04}{:02}{:02}T{h:02}:{m:02}:{s:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.millisecond()
    );
    let kind = if e.action.starts_with("http/") { "HTTP" } else { "API" };
    let (allowed, outcome) = if e.allowed { ("ALLOWED", e.outcome.as_str()) } else { ("DENIED", "") };
    format!(
        "{month} {:>2} {h:02}:{m:02}:{s:02} {} xapi: [{stamp}|audit||0 {}|{}|xapi] ({} {} {} {} {} {} {} ({}))",
        now.day(),
        e.host,
        e.action,
        e.action,
        quoted(&trackid(e.session)),
        quoted(&e.subject.0),
        quoted(&e.subject.1),
        quoted(allowed),
        quoted(outcome),
        quoted(kind),
        quoted(e.action),
        e.args
    )
    .replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_since_compare_the_stamp_after_the_bracket() {
        let log = AuditLog::default();
        log.push("Dec  4 10:00:00 h xapi: [20261204T10:00:00.000Z|audit||0 a|a|xapi] ()".into());
        log.push("Dec  4 11:00:00 h xapi: [20261204T11:00:00.000Z|audit||0 b|b|xapi] ()".into());
        assert_eq!(log.since("").lines().count(), 2);
        assert_eq!(log.since("2026-12-04T10:30").lines().count(), 1);
        assert_eq!(log.since("2026-12-05").lines().count(), 0);
    }

    #[test]
    fn quotes_escape_backslash_and_quote() {
        assert_eq!(quoted(r"it's a\b"), r"'it\'s a\\b'");
        assert!(has_to_audit("VM.start") && !has_to_audit("VM.get_record") && !has_to_audit("event.from"));
    }
}
