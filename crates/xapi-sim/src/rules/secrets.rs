//! Passwords in settings live in `secret` objects, as xapi keeps them: a
//! `device_config` key ending in `password` given to SR.create, SR.probe,
//! PBD.create or PBD.set_device_config becomes `<key>_secret` naming a new
//! secret that holds the value (`move_passwords`); every PBD gets a secret
//! of its own (`duplicate`); destroying a PBD, or replacing a host's
//! power-on configuration, destroys the secrets its `*password_secret`
//! keys name (`clean_out`). So `sr-param-list`, `pbd-param-list` and
//! `--trace` never show a password, only a secret's uuid.

use crate::db::{ApiResult, Db, Failure};
use crate::values::empty_map;
use xenapi::Value;

/// Creates a secret holding `value`; returns its uuid.
pub fn create(db: &mut Db, value: &str) -> String {
    let uuid = db.new_uuid();
    let c = db.cls("secret");
    db.create(c, vec![("uuid", Value::str(&uuid)), ("value", Value::str(value)), ("other_config", empty_map())]);
    uuid
}

/// xapi's `move_passwds_to_secrets`.
pub fn move_passwords(db: &mut Db, map: Vec<(String, String)>) -> Vec<(String, String)> {
    map.into_iter()
        .map(|(k, v)| if k.ends_with("password") { (format!("{k}_secret"), create(db, &v)) } else { (k, v) })
        .collect()
}

/// xapi's `duplicate_passwds`: each `*password_secret` gets a new secret
/// with the same value (UUID_INVALID when it names none).
pub fn duplicate(db: &mut Db, map: Vec<(String, String)>) -> ApiResult<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        if !k.ends_with("password_secret") {
            out.push((k, v));
            continue;
        }
        let c = db.cls("secret");
        let Some(secret) = db.by_uuid(c, &v).map(str::to_string) else {
            return Err(Failure::new("UUID_INVALID", ["secret", v.as_str()]));
        };
        let value = db.string(&secret, "value");
        let copy = create(db, &value);
        out.push((k, copy));
    }
    Ok(out)
}

/// xapi's `clean_out_passwds`: destroys the secrets the map names.
pub fn clean_out(db: &mut Db, map: &[(String, String)]) {
    for (k, v) in map {
        if k.ends_with("password_secret") {
            let c = db.cls("secret");
            if let Some(secret) = db.by_uuid(c, v).map(str::to_string) {
                db.destroy(&secret);
            }
        }
    }
}
