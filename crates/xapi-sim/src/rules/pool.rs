//! Pool-wide facts: the master.

use crate::db::Db;

/// The pool master's ref, or the null ref on an empty database.
pub fn master(db: &Db) -> String {
    let pool = db.class_index("pool").expect("pool class");
    db.iter(pool)
        .next()
        .and_then(|(_, o)| {
            let pos = db.class(pool).field_pos("master")?;
            o.fields[pos].as_str().map(str::to_string)
        })
        .unwrap_or_else(|| xenapi::NULL_REF.to_string())
}
