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
    t.insert("session.get_all_subject_identifiers", Handler::Sync(|_, _| Ok(Value::Array(Vec::new()))));
}

fn login(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let user = call.str(0);
    let password = call.str(1);
    let originator = call.str(3);
    if !call.core.users.read().iter().any(|(u, p)| u == user && p == password) {
        return Err(Failure::new("SESSION_AUTHENTICATION_FAILED", [user, "Authentication failure"]));
    }
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
    // Users without a role are local superusers, as xapi's root (no
    // permission list); a user given a role carries its permissions, as an
    // external subject does.
    let role = call.core.role_of(user);
    let superuser = !call.core.config.roles.iter().any(|(u, _)| u == user);
    let permissions = if superuser { Value::Array(Vec::new()) } else { Value::Array(permissions_of(role)) };
    let r = db.create(
        c,
        vec![
            ("this_host", Value::String(this_host)),
            ("last_active", Value::DateTime(now.clone())),
            ("validation_time", Value::DateTime(now)),
            ("originator", Value::str(originator)),
            ("is_local_superuser", Value::Bool(superuser)),
            ("auth_user_name", Value::str(user)),
            ("rbac_permissions", permissions),
        ],
    );
    sessions.insert(r.clone(), SessionMeta { key, last_active: Instant::now(), local_to: None, role });
    Ok(Value::String(r))
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
