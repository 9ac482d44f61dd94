//! Pool-wide facts: the master, and the messages (alerts) the pool files.

use crate::db::Db;
use xenapi::Value;

/// The pool master's ref, or the null ref on an empty database.
pub fn master(db: &Db) -> String {
    let pool = db.cls("pool");
    db.iter(pool)
        .next()
        .and_then(|(_, o)| {
            let pos = db.class(pool).field_pos("master")?;
            o.fields[pos].as_str().map(str::to_string)
        })
        .unwrap_or_else(|| xenapi::NULL_REF.to_string())
}

/// Files a message the way xapi's own code does after an operation, with no
/// checks: the caller has just worked on the object. Returns the new ref.
pub fn file_message(db: &mut Db, name: &str, priority: i64, cls: &str, obj_uuid: &str, body: String) -> String {
    let class = db.cls("message");
    let now = (db.clock)();
    db.create(
        class,
        vec![
            ("name", Value::str(name)),
            ("priority", Value::Int(priority)),
            ("cls", Value::str(cls)),
            ("obj_uuid", Value::str(obj_uuid)),
            ("timestamp", Value::DateTime(now)),
            ("body", Value::String(body)),
        ],
    )
}

/// Whether the pool uses external authentication: the master's
/// `external_auth_type` is set (`pool.enable_external_auth` sets it on every host).
pub fn external_auth_type(db: &Db) -> String {
    let m = master(db);
    db.field_str(&m, "external_auth_type").to_string()
}
