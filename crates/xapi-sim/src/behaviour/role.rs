//! `role.*` explicit messages: permissions of a role and roles holding a
//! permission, from xapi's static table ([`crate::rbac::roles`]). A
//! permission's only permission is itself; a role's are its subroles.

use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::rbac::{self, Role};
use std::collections::HashMap;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("role.get_permissions", Handler::Sync(get_permissions));
    t.insert("role.get_permissions_name_label", Handler::Sync(get_permissions_name_label));
    t.insert("role.get_by_permission", Handler::Sync(get_by_permission));
    t.insert("role.get_by_permission_name_label", Handler::Sync(get_by_permission_name_label));
}

fn this(call: &Call) -> ApiResult<&'static Role> {
    rbac::role(call.str(0)).ok_or_else(|| Failure::new("HANDLE_INVALID", ["role", call.str(0)]))
}

/// The permissions of an entry: itself for a permission, else its subroles.
fn permissions(role: &'static Role) -> Vec<&'static Role> {
    if role.subroles.is_empty() {
        vec![role]
    } else {
        role.subroles.iter().filter_map(|r| rbac::role(r)).collect()
    }
}

fn get_permissions(call: &Call, _: &mut Db) -> ApiResult<Value> {
    Ok(Value::Array(permissions(this(call)?).into_iter().map(|p| Value::str(&p.r#ref)).collect()))
}

fn get_permissions_name_label(call: &Call, _: &mut Db) -> ApiResult<Value> {
    Ok(Value::Array(permissions(this(call)?).into_iter().map(|p| Value::str(&p.name_label)).collect()))
}

/// The entries (other than the permission itself) whose permissions hold it.
fn holding(permission: &str) -> Value {
    Value::Array(
        rbac::roles()
            .iter()
            .filter(|r| r.r#ref != permission && r.subroles.iter().any(|s| s == permission))
            .map(|r| Value::str(&r.r#ref))
            .collect(),
    )
}

fn get_by_permission(call: &Call, _: &mut Db) -> ApiResult<Value> {
    Ok(holding(call.str(0)))
}

/// By name: an unknown name holds nothing, as in xapi.
fn get_by_permission_name_label(call: &Call, _: &mut Db) -> ApiResult<Value> {
    let found = rbac::roles().iter().find(|r| r.name_label == call.str(0));
    Ok(found.map_or(Value::Array(Vec::new()), |p| holding(&p.r#ref)))
}
