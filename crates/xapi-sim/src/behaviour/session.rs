//! `session.*`: login with the configured users, logout, password changes,
//! and the per-originator session limit with least-recently-used eviction.

use crate::call::{Call, Handler};
use crate::core::SessionMeta;
use crate::db::{ApiResult, Db, Failure};
use crate::rules::pool::master;
use std::collections::HashMap;
use std::time::Instant;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("session.login_with_password", Handler::Sync(login));
    t.insert("session.slave_local_login_with_password", Handler::Sync(login));
    t.insert("session.logout", Handler::Sync(logout));
    t.insert("session.local_logout", Handler::Sync(logout));
    t.insert("session.change_password", Handler::Sync(change_password));
    t.insert("session.get_all_subject_identifiers", Handler::Sync(get_all_subject_identifiers));
    t.insert("session.logout_subject_identifier", Handler::Sync(logout_subject_identifier));
}

/// Who a login is for: a local user (a superuser unless given a role), or a
/// directory user admitted through the pool's subjects.
struct Who {
    role: &'static str,
    superuser: bool,
    /// The directory SID and the subject that admitted it (external users).
    external: Option<(String, String)>,
}

fn login(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let user = call.str(0);
    let password = call.str(1);
    let originator = call.str(3);
    let who = if call.core.users.read().iter().any(|(u, p)| u == user && p == password) {
        Who {
            role: call.core.role_of(user),
            superuser: !call.core.config.roles.iter().any(|(u, _)| u == user),
            external: None,
        }
    } else {
        external_login(call, db, user, password)?
    };
    // xapi counts sessions per originator; clients that give none share one pool per user.
    let key = if originator.is_empty() { format!("user:{user}") } else { format!("originator:{originator}") };
    let mut sessions = call.core.sessions.lock();
    let mine: Vec<(&String, &SessionMeta)> = sessions.iter().filter(|(_, m)| m.key == key).collect();
    if mine.len() >= call.core.config.session_limit.max(1) {
        let oldest = mine.iter().min_by_key(|(_, m)| m.last_active).map(|(r, _)| (*r).clone());
        if let Some(r) = oldest {
            sessions.remove(&r);
            call.core.registrations.lock().remove(&r);
            db.destroy(&r);
        }
    }
    let c = db.cls("session");
    let now = (db.clock)();
    let this_host = master(db);
    // Superusers carry no permission list, as xapi's root; a user given a
    // role, or a subject, carries its role's permissions.
    let permissions = if who.superuser { Vec::new() } else { permissions_of(who.role) };
    let mut fields = vec![
        ("this_host", Value::String(this_host)),
        ("last_active", Value::DateTime(now.clone())),
        ("validation_time", Value::DateTime(now)),
        ("originator", Value::str(originator)),
        ("is_local_superuser", Value::Bool(who.superuser)),
        ("auth_user_name", Value::str(user)),
        ("rbac_permissions", Value::Array(permissions)),
    ];
    if let Some((sid, subject)) = who.external {
        fields.push(("auth_user_sid", Value::String(sid)));
        fields.push(("subject", Value::String(subject)));
    }
    let r = db.create(c, fields);
    sessions.insert(r.clone(), SessionMeta { key, last_active: Instant::now(), local_to: None, role: who.role });
    Ok(Value::String(r))
}

/// A login by a directory user, as xapi admits one when external
/// authentication is on: the password is checked by the directory, then
/// the user's SID or one of its groups' must be a subject of the pool, and
/// the subjects' roles must give it at least one (the strongest counts:
/// xapi's roles nest, each holding the permissions of those below it).
fn external_login(call: &Call, db: &Db, user: &str, password: &str) -> ApiResult<Who> {
    let failed = || Failure::new("SESSION_AUTHENTICATION_FAILED", [user, "Authentication failure"]);
    let directory = call.core.config.directory.as_ref().ok_or_else(failed)?;
    if crate::rules::pool::external_auth_type(db) != "AD" {
        return Err(failed());
    }
    let entry = directory.resolve(user).filter(|e| !e.is_group && !e.disabled).ok_or_else(failed)?;
    if entry.password.as_deref() != Some(password) {
        return Err(failed());
    }
    let mut closure = vec![entry.sid.clone()];
    closure.extend(directory.membership(entry));
    let c = db.cls("subject");
    let admitted: Vec<(String, Vec<String>)> = db
        .iter(c)
        .filter(|(r, _)| closure.iter().any(|sid| db.field_str(r, "subject_identifier") == sid))
        .map(|(r, _)| {
            let roles = db.field(r, "roles").and_then(Value::as_array).unwrap_or(&[]);
            (r.clone(), roles.iter().filter_map(Value::as_str).map(str::to_string).collect())
        })
        .collect();
    let Some((subject, _)) = admitted.first() else {
        // xapi names the client after "from"; the simulator does not keep it.
        let why =
            format!("Subject {user} (identifier {}, from an HTTP client) has no access rights in this pool", entry.sid);
        return Err(Failure::new("SESSION_AUTHORIZATION_FAILED", [user.to_string(), why]));
    };
    let held: Vec<&str> = admitted
        .iter()
        .flat_map(|(_, roles)| roles.iter())
        .filter_map(|r| crate::rbac::role(r))
        .filter(|r| !r.subroles.is_empty())
        .map(|r| r.name_label.as_str())
        .collect();
    let Some(role) = xenapi::model::ROLES.iter().find(|r| held.contains(r)) else {
        let why = format!("Subject {user} (identifier {}) has no roles in this pool", entry.sid);
        return Err(Failure::new("RBAC_PERMISSION_DENIED", ["session.login_with_password".to_string(), why]));
    };
    Ok(Who { role, superuser: false, external: Some((entry.sid.clone(), subject.clone())) })
}

/// The permissions of a role as xapi names them (`vm.start`,
/// `http/get_export`, ...), from the static role table.
pub fn permissions_of(role: &str) -> Vec<Value> {
    crate::rbac::roles()
        .iter()
        .filter(|p| p.subroles.is_empty() && crate::rbac::holds(p.holders, role))
        .map(|p| Value::str(&p.name_label))
        .collect()
}

/// The SIDs of the directory users with a live session.
fn get_all_subject_identifiers(_: &Call, db: &mut Db) -> ApiResult<Value> {
    let c = db.cls("session");
    let mut sids: Vec<String> = Vec::new();
    for (r, _) in db.iter(c) {
        let sid = db.field_str(r, "auth_user_sid");
        if !sid.is_empty() && !sids.iter().any(|s| s == sid) {
            sids.push(sid.to_string());
        }
    }
    Ok(Value::Array(sids.into_iter().map(Value::String).collect()))
}

/// Ends every session of a directory user but the caller's.
fn logout_subject_identifier(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let c = db.cls("session");
    let own = call.session.as_deref().unwrap_or_default();
    let doomed: Vec<String> = db
        .iter(c)
        .filter(|(r, _)| r.as_str() != own && db.field_str(r, "auth_user_sid") == call.str(0))
        .map(|(r, _)| r.clone())
        .collect();
    let mut sessions = call.core.sessions.lock();
    for r in doomed {
        sessions.remove(&r);
        call.core.registrations.lock().remove(&r);
        db.destroy(&r);
    }
    Ok(Value::str(""))
}

fn logout(call: &Call, db: &mut Db) -> ApiResult<Value> {
    if let Some(s) = &call.session {
        call.core.sessions.lock().remove(s);
        call.core.registrations.lock().remove(s);
        db.destroy(s);
    }
    Ok(Value::str(""))
}

/// `change_password(old_pwd, new_pwd)` sets the password of the session's
/// user; a later login needs the new one, and open sessions stay valid.
///
/// Like xapi, which changes the local superuser's password for any session
/// flagged `is_local_superuser`, the old password is not checked (xapi has
/// the check commented out, and `xe user-password-change` sends "" when
/// `old=` is omitted). Every simulated user is a local superuser; a session
/// without the flag gets USER_IS_NOT_LOCAL_SUPERUSER. Not persisted: see
/// [`crate::core::Core::users`].
fn change_password(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let session = call.session.as_deref().unwrap_or("");
    let user = db.string(session, "auth_user_name");
    if db.field(session, "is_local_superuser").and_then(Value::as_bool) != Some(true) {
        let msg = format!("Failed to change password for user {user}");
        return Err(Failure::new("USER_IS_NOT_LOCAL_SUPERUSER", [msg]));
    }
    let new_pwd = call.str(1).to_string();
    let mut users = call.core.users.write();
    for (_, p) in users.iter_mut().filter(|(u, _)| *u == user) {
        p.clone_from(&new_pwd);
    }
    Ok(Value::str(""))
}
