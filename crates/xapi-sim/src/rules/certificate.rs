//! The `Certificate` objects: a host's `host` and `host_internal`
//! certificates (one of each, replaced whole as xapi's
//! `replace_host_certificate` does: the new record first, then the old
//! ones go) and the pool's CA certificates (type `ca`, named, no host).

use crate::certs::Facts;
use crate::db::Db;
use crate::values::null;
use xenapi::Value;

/// A new certificate record's ref and uuid, derived from what it records
/// and the database's event counter rather than drawn from the seeded
/// generator: certificates made at start leave every other object's uuid
/// as it was.
fn ids(db: &Db, what: &str, facts: &Facts) -> (String, String) {
    let seed = format!("{what}|{}|{}", facts.sha256, db.event_id());
    let d = ring::digest::digest(&ring::digest::SHA256, seed.as_bytes());
    let b = d.as_ref();
    let uuid = |b: &[u8]| {
        let h = |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
        format!("{}-{}-4{}-{:x}{}-{}", h(0..4), h(4..6), &h(6..8)[1..], 8 | (b[8] & 3), &h(8..10)[1..], h(10..16))
    };
    (format!("OpaqueRef:{}", uuid(&b[16..32])), uuid(&b[0..16]))
}

fn make(db: &mut Db, what: &str, facts: &Facts, members: Vec<(&'static str, Value)>) -> String {
    let c = db.cls("Certificate");
    let (r, uuid) = ids(db, what, facts);
    let mut fields = db.blank_record(c);
    for (name, v) in fields_of(facts).into_iter().chain(members).chain([("uuid", Value::str(&uuid))]) {
        if let Some(pos) = db.class(c).field_pos(name) {
            fields[pos] = v;
        }
    }
    db.insert(c, r, fields)
}

fn fields_of(facts: &Facts) -> Vec<(&'static str, Value)> {
    vec![
        ("not_before", Value::DateTime(xenapi::datetime::from_unix(facts.not_before))),
        ("not_after", Value::DateTime(xenapi::datetime::from_unix(facts.not_after))),
        // This datamodel's `fingerprint` is the SHA-256 one (newer ones
        // call it `fingerprint_sha256` and add `fingerprint_sha1`).
        ("fingerprint", Value::str(&facts.sha256)),
    ]
}

/// The host's certificates of a type (`host` or `host_internal`).
pub fn of_host(db: &Db, host: &str, kind: &str) -> Vec<String> {
    db.all("Certificate")
        .into_iter()
        .filter(|c| db.field_str(c, "host") == host && db.field_str(c, "type") == kind)
        .collect()
}

/// Records a host's new certificate of a type and removes the old ones.
pub fn replace_host(db: &mut Db, host: &str, kind: &str, facts: &Facts) -> String {
    let old = of_host(db, host, kind);
    let members = vec![("name", Value::str("")), ("type", Value::str(kind)), ("host", Value::str(host))];
    let r = make(db, &format!("{kind}|{host}"), facts, members);
    for o in old {
        db.destroy(&o);
    }
    r
}

/// Makes the host's `host` certificate record say `facts`, unless it does
/// already; gives the host a `host_internal` one if it has none.
pub fn sync_host(db: &mut Db, host: &str, facts: &Facts, internal: impl FnOnce() -> Option<Facts>) {
    let current = of_host(db, host, "host");
    let fresh = current.len() == 1 && db.field_str(&current[0], "fingerprint") == facts.sha256;
    if !fresh {
        replace_host(db, host, "host", facts);
    }
    if of_host(db, host, "host_internal").is_empty() {
        if let Some(f) = internal() {
            replace_host(db, host, "host_internal", &f);
        }
    }
}

/// The pool's CA certificates of a name.
pub fn ca_named(db: &Db, name: &str) -> Vec<String> {
    db.all("Certificate")
        .into_iter()
        .filter(|c| db.field_str(c, "type") == "ca" && db.field_str(c, "name") == name)
        .collect()
}

/// The names of the pool's CA certificates, in creation order.
pub fn ca_names(db: &Db) -> Vec<String> {
    db.all("Certificate")
        .into_iter()
        .filter(|c| db.field_str(c, "type") == "ca" && !db.field_str(c, "name").is_empty())
        .map(|c| db.string(&c, "name"))
        .collect()
}

/// Records a CA certificate of a name, replacing one of the same name.
pub fn add_ca(db: &mut Db, name: &str, facts: &Facts) -> String {
    let old = ca_named(db, name);
    let members = vec![("name", Value::str(name)), ("type", Value::str("ca")), ("host", null())];
    let r = make(db, &format!("ca|{name}"), facts, members);
    for o in old {
        db.destroy(&o);
    }
    r
}

/// Makes the `host` certificate records of a database that was not written
/// here (a restored backup) say what its hosts serve, for the hosts whose
/// served certificate `served` knows (by host uuid).
pub fn sync_served(db: &mut Db, served: impl Fn(&str) -> Option<Facts>) {
    for host in db.all("host") {
        if let Some(facts) = served(&db.string(&host, "uuid")) {
            sync_host(db, &host, &facts, || None);
        }
    }
}
