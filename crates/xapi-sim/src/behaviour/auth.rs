//! External authentication against the simulated directory (`--directory`):
//! `pool.enable_external_auth` / `disable_external_auth` (auth type `AD`,
//! set on every host as xapi does), the `auth.*` lookups, and `subject`
//! objects, whose roles admit directory users (the login itself is in
//! `session.rs`). Errors and their parameters are xapi's (xapi_pool.ml,
//! xapi_host.ml, xapi_auth.ml, xapi_subject.ml).

use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::directory::{Directory, Entry};
use crate::rbac;
use crate::rules::pool::{external_auth_type, master};
use std::collections::HashMap;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("pool.enable_external_auth", Handler::Sync(enable_external_auth));
    t.insert("pool.disable_external_auth", Handler::Sync(disable_external_auth));
    t.insert("auth.get_subject_identifier", Handler::Sync(get_subject_identifier));
    t.insert("auth.get_subject_information_from_identifier", Handler::Sync(get_subject_information));
    t.insert("auth.get_group_membership", Handler::Sync(get_group_membership));
    t.insert("subject.create", Handler::Sync(create_subject));
    t.insert("subject.destroy", Handler::Sync(destroy_subject));
    t.insert("subject.add_to_roles", Handler::Sync(add_to_roles));
    t.insert("subject.remove_from_roles", Handler::Sync(remove_from_roles));
}

fn hosts(db: &Db) -> Vec<String> {
    let c = db.cls("host");
    db.iter(c).map(|(r, _)| r.clone()).collect()
}

/// `(pool, config, service_name, auth_type)`: checks as xapi's pool and
/// host do, then joins every host to the directory's domain.
fn enable_external_auth(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect(db.cls("pool"), call.str(0))?;
    let config: Vec<(String, Value)> = call.args[1].as_struct().unwrap_or(&[]).to_vec();
    let service_name = call.str(2);
    let auth_type = call.str(3);
    let hosts = hosts(db);
    if let Some(h) = hosts.iter().find(|h| !db.field_str(h, "external_auth_type").is_empty()) {
        return Err(Failure::new("POOL_AUTH_ALREADY_ENABLED", [h.as_str()]));
    }
    if auth_type != "AD" {
        return Err(Failure::new("AUTH_UNKNOWN_TYPE", [auth_type]));
    }
    let host = master(db);
    let fail = |code: &str, why: String| Failure::new(code, [host.clone(), why]);
    let get = |k: &str| config.iter().find(|(key, _)| key == k).and_then(|(_, v)| v.as_str());
    let Some(directory) = call.core.config.directory.as_ref() else {
        return Err(fail(
            "POOL_AUTH_ENABLE_FAILED_UNAVAILABLE",
            format!("No domain controller of {service_name} can be reached"),
        ));
    };
    if !service_name.eq_ignore_ascii_case(&directory.domain) {
        return Err(fail(
            "POOL_AUTH_ENABLE_FAILED_DOMAIN_LOOKUP_FAILED",
            format!("The domain {service_name} cannot be found"),
        ));
    }
    let (Some(user), Some(pass)) = (get("user"), get("pass")) else {
        return Err(fail("POOL_AUTH_ENABLE_FAILED", "enable requires two configuration params: user and pass".into()));
    };
    let ok = directory.resolve(user).is_some_and(|e| !e.is_group && e.password.as_deref() == Some(pass));
    if !ok {
        return Err(fail(
            "POOL_AUTH_ENABLE_FAILED_WRONG_CREDENTIALS",
            format!("The username or password of {user} is wrong"),
        ));
    }
    // The password is used to join and not kept.
    let kept: Vec<(String, Value)> = config.into_iter().filter(|(k, _)| k != "pass").collect();
    for h in hosts {
        db.set_named(&h, "external_auth_type", Value::str("AD"));
        db.set_named(&h, "external_auth_service_name", Value::str(service_name));
        db.set_named(&h, "external_auth_configuration", Value::Struct(kept.clone()));
    }
    Ok(Value::str(""))
}

/// `(pool, config)`: leaves the domain on every host; subjects stay.
fn disable_external_auth(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect(db.cls("pool"), call.str(0))?;
    if external_auth_type(db).is_empty() {
        return Err(Failure::new(
            "POOL_AUTH_DISABLE_FAILED",
            [master(db), "external authentication is disabled".into()],
        ));
    }
    for h in hosts(db) {
        db.set_named(&h, "external_auth_type", Value::str(""));
        db.set_named(&h, "external_auth_service_name", Value::str(""));
        db.set_named(&h, "external_auth_configuration", Value::Struct(Vec::new()));
    }
    Ok(Value::str(""))
}

/// The directory, when the pool has joined it; AUTH_IS_DISABLED otherwise.
fn joined<'a>(call: &'a Call, db: &Db) -> ApiResult<&'a Directory> {
    match call.core.config.directory.as_ref() {
        Some(d) if !external_auth_type(db).is_empty() => Ok(d),
        _ => Err(Failure::new::<&str>("AUTH_IS_DISABLED", [])),
    }
}

fn by_sid<'a>(directory: &'a Directory, sid: &str) -> ApiResult<&'a Entry> {
    directory.by_sid(sid).ok_or_else(|| Failure::new::<&str>("SUBJECT_CANNOT_BE_RESOLVED", []))
}

fn get_subject_identifier(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let directory = joined(call, db)?;
    let e = directory.resolve(call.str(0)).ok_or_else(|| Failure::new::<&str>("SUBJECT_CANNOT_BE_RESOLVED", []))?;
    Ok(Value::str(&e.sid))
}

fn information(directory: &Directory, e: &Entry) -> Value {
    Value::Struct(directory.information(e).into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

fn get_subject_information(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let directory = joined(call, db)?;
    Ok(information(directory, by_sid(directory, call.str(0))?))
}

fn get_group_membership(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let directory = joined(call, db)?;
    let e = by_sid(directory, call.str(0))?;
    Ok(Value::Array(directory.membership(e).into_iter().map(Value::String).collect()))
}

/// `subject.create({subject_identifier, other_config})`: a SID the pool
/// does not have yet, resolved by the directory, whose information
/// replaces `other_config`. New subjects have no role (as on editions with
/// the RBAC feature): `subject.add_to_roles` gives them one.
fn create_subject(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let record = call.args[0].as_struct().unwrap_or(&[]);
    let sid = record.iter().find(|(k, _)| k == "subject_identifier").and_then(|(_, v)| v.as_str()).unwrap_or("");
    let c = db.cls("subject");
    if db.iter(c).any(|(r, _)| db.field_str(r, "subject_identifier") == sid) {
        return Err(Failure::new::<&str>("SUBJECT_ALREADY_EXISTS", []));
    }
    let directory = joined(call, db)?;
    let info = information(directory, by_sid(directory, sid)?);
    Ok(Value::String(db.create(
        c,
        vec![("subject_identifier", Value::str(sid)), ("other_config", info), ("roles", Value::Array(Vec::new()))],
    )))
}

/// Destroys a subject and ends the sessions it admitted, as xapi does.
fn destroy_subject(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let subject = call.str(0).to_string();
    db.expect(db.cls("subject"), &subject)?;
    let sessions = db.cls("session");
    let doomed: Vec<String> =
        db.iter(sessions).filter(|(r, _)| db.field_str(r, "subject") == subject).map(|(r, _)| r.clone()).collect();
    let mut live = call.core.sessions.lock();
    for r in doomed {
        live.remove(&r);
        call.core.registrations.lock().remove(&r);
        db.destroy(&r);
    }
    db.destroy(&subject);
    Ok(Value::str(""))
}

fn roles_of(db: &Db, subject: &str) -> Vec<Value> {
    db.field(subject, "roles").and_then(Value::as_array).unwrap_or(&[]).to_vec()
}

fn add_to_roles(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect(db.cls("subject"), call.str(0))?;
    if rbac::role(call.str(1)).is_none() {
        return Err(Failure::new::<&str>("ROLE_NOT_FOUND", []));
    }
    let mut roles = roles_of(db, call.str(0));
    if roles.iter().any(|r| r.as_str() == Some(call.str(1))) {
        return Err(Failure::new::<&str>("ROLE_ALREADY_EXISTS", []));
    }
    roles.push(Value::str(call.str(1)));
    db.set_named(call.str(0), "roles", Value::Array(roles));
    Ok(Value::str(""))
}

fn remove_from_roles(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect(db.cls("subject"), call.str(0))?;
    let mut roles = roles_of(db, call.str(0));
    let before = roles.len();
    roles.retain(|r| r.as_str() != Some(call.str(1)));
    if roles.len() == before {
        return Err(Failure::new::<&str>("ROLE_NOT_FOUND", []));
    }
    db.set_named(call.str(0), "roles", Value::Array(roles));
    Ok(Value::str(""))
}
