//! xapi's static RBAC table: which roles hold each HTTP handler's
//! permission (`http/<action>`, from the `http_actions` table of xen-api's
//! datamodel), the wording of RBAC_PERMISSION_DENIED (shared by API calls
//! and HTTP handlers), and the `role` objects: every permission and every
//! role, as xapi serves them from a static table rather than its database.
//! API messages carry their roles in the generated schema.

use crate::db::Failure;
use std::sync::OnceLock;
use xenapi::model::ROLES;

// Role sets as bits of ROLES (pool-admin is bit 0): each is the role and
// every more powerful one, as the datamodel's `_R_*` shortcuts are.
const POOL_ADMIN: u8 = 0x01;
const POOL_OP: u8 = 0x03;
const VM_POWER_ADMIN: u8 = 0x07;
const VM_ADMIN: u8 = 0x0f;
const VM_OP: u8 = 0x1f;
const CLIENT_CERT: u8 = 0x20;
const READ_ONLY: u8 = 0x7f;
/// Only the local root (`_R_LOCAL_ROOT_ONLY`): no role holds it.
const LOCAL_ROOT: u8 = 0;

/// xapi's HTTP actions and the roles that hold `http/<action>`.
pub const HTTP_ACTIONS: &[(&str, u8)] = &[
    ("get_services", READ_ONLY),
    ("post_services", POOL_ADMIN),
    ("put_services", POOL_ADMIN),
    ("post_remote_db_access", POOL_ADMIN),
    ("post_remote_db_access_v2", POOL_ADMIN),
    ("get_services_xenops", VM_POWER_ADMIN),
    ("post_services_xenops", VM_POWER_ADMIN | CLIENT_CERT),
    ("put_services_xenops", VM_POWER_ADMIN | CLIENT_CERT),
    ("get_services_sm", VM_POWER_ADMIN),
    ("post_services_sm", VM_POWER_ADMIN),
    ("put_services_sm", VM_POWER_ADMIN),
    ("put_import", VM_ADMIN),
    ("put_import_metadata", VM_ADMIN),
    ("put_import_raw_vdi", VM_ADMIN),
    ("get_export", VM_ADMIN),
    ("get_export_metadata", VM_ADMIN),
    ("get_export_raw_vdi", VM_ADMIN),
    ("connect_console", VM_OP),
    ("connect_console/host_console", POOL_ADMIN),
    ("connect_console_ws", VM_OP),
    ("connect_console_ws/host_console", POOL_ADMIN),
    ("get_root", READ_ONLY),
    ("post_cli", READ_ONLY),
    ("get_host_backup", POOL_ADMIN),
    ("put_host_restore", POOL_ADMIN),
    ("get_host_logs_download", POOL_OP),
    ("put_pool_patch_upload", POOL_OP),
    ("get_vncsnapshot", VM_OP),
    ("get_vncsnapshot/host_console", POOL_ADMIN),
    ("get_pool_xml_db_sync", POOL_ADMIN),
    ("put_pool_xml_db_sync", POOL_ADMIN),
    ("get_config_sync", POOL_ADMIN),
    ("get_system_status", POOL_OP),
    ("vm_rrd", READ_ONLY),
    ("get_vm_rrds", READ_ONLY),
    ("host_rrd", READ_ONLY),
    ("get_host_rrds", READ_ONLY),
    ("sr_rrd", READ_ONLY),
    ("rrd_updates", READ_ONLY),
    ("put_rrd", POOL_ADMIN),
    ("get_blob", READ_ONLY),
    ("put_blob", VM_POWER_ADMIN),
    ("put_messages", VM_POWER_ADMIN),
    ("connect_remotecmd", POOL_ADMIN),
    ("get_wlb_report", READ_ONLY),
    ("get_wlb_diagnostics", READ_ONLY),
    ("get_audit_log", READ_ONLY),
    ("post_root", READ_ONLY),
    ("post_RPC2", READ_ONLY),
    ("post_json", READ_ONLY),
    ("post_root_options", READ_ONLY),
    ("post_json_options", READ_ONLY),
    ("post_jsonrpc", READ_ONLY),
    ("post_jsonrpc_options", READ_ONLY),
    ("get_pool_update_download", READ_ONLY),
    ("get_repository", LOCAL_ROOT),
    ("get_enabled_repository", POOL_OP | CLIENT_CERT),
    ("get_host_updates", POOL_OP | CLIENT_CERT),
    ("get_updates", POOL_OP | CLIENT_CERT),
    ("put_bundle", POOL_OP),
];

/// The roles holding `http/<action>`; an action not in the table is held by none.
pub fn http_roles(action: &str) -> u8 {
    HTTP_ACTIONS.iter().find(|(a, _)| *a == action).map_or(LOCAL_ROOT, |(_, r)| *r)
}

/// Whether `role` is among `roles` (bits of ROLES).
pub fn holds(roles: u8, role: &str) -> bool {
    ROLES.iter().position(|r| *r == role).is_some_and(|i| roles & (1 << i) != 0)
}

/// The names of `roles`, most powerful first.
pub fn names(roles: u8) -> Vec<&'static str> {
    ROLES.iter().enumerate().filter(|(i, _)| roles & (1 << i) != 0).map(|(_, r)| *r).collect()
}

/// A map's guarded keys and the roles holding each one's permission.
pub type GuardedKeys = &'static [(&'static str, u8)];

/// Map keys guarded by permissions of their own (xapi's `map_keys_roles`):
/// `add_to_<field>`/`remove_from_<field>` with such a key need
/// `<class>.<message>/key:<key>` (lower case), which these roles hold,
/// instead of the message's own permission. A trailing `*` matches any rest.
pub const KEY_ROLES: &[(&str, &str, GuardedKeys)] = &[
    (
        "task",
        "other_config",
        &[("applies_to", VM_OP), ("XenCenterUUID", VM_OP), ("XenCenterMeddlingActionTitle", VM_OP)],
    ),
    (
        "network",
        "other_config",
        &[("folder", VM_OP), ("XenCenter.CustomFields.*", VM_OP), ("XenCenterCreateInProgress", VM_OP)],
    ),
    ("SR", "other_config", &[("folder", VM_OP), ("XenCenter.CustomFields.*", VM_OP)]),
    ("VDI", "other_config", &[("folder", VM_OP), ("XenCenter.CustomFields.*", VM_OP)]),
    ("host", "other_config", &[("folder", VM_OP), ("XenCenter.CustomFields.*", VM_OP)]),
    ("pool", "other_config", &[("folder", VM_OP), ("XenCenter.CustomFields.*", VM_OP), ("EMPTY_FOLDERS", VM_OP)]),
    ("VM", "platform", &[("hvm_serial", POOL_ADMIN)]),
    (
        "VM",
        "other_config",
        &[("pci", POOL_ADMIN), ("hvm_serial", POOL_ADMIN), ("folder", VM_OP), ("XenCenter.CustomFields.*", VM_OP)],
    ),
];

/// The key permission a call needs, and its holders, when `message` adds
/// to or removes from a guarded map of `class` with a guarded `key`.
pub fn key_permission(class: &str, message: &str, key: &str) -> Option<(String, u8)> {
    let field = message.strip_prefix("add_to_").or_else(|| message.strip_prefix("remove_from_"))?;
    let (_, _, keys) = KEY_ROLES.iter().find(|(c, f, _)| *c == class && *f == field)?;
    let (guarded, roles) = keys.iter().find(|(k, _)| match k.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => key == *k,
    })?;
    Some((format!("{class}.{message}/key:{guarded}").to_lowercase(), *roles))
}

/// RBAC_PERMISSION_DENIED for `permission` (lower case), worded as xapi's
/// `Rbac.check` words it, with the roles that hold the permission.
pub fn denied(permission: &str, roles: u8) -> Failure {
    let why = format!("No permission in user session. (Roles with this permission: {})", names(roles).join(", "));
    Failure::new("RBAC_PERMISSION_DENIED", [permission.to_lowercase(), why])
}

/// One entry of the static role table: a permission (no subroles) or a role.
#[derive(Debug)]
pub struct Role {
    pub r#ref: String,
    pub uuid: String,
    pub name_label: String,
    pub name_description: String,
    /// The refs of a role's permissions; empty for a permission.
    pub subroles: Vec<String>,
    pub is_internal: bool,
    /// The roles holding a permission, as bits of ROLES (a role: its own bit).
    pub holders: u8,
}

/// The description xapi gives each role.
const ROLE_DESCRIPTIONS: [&str; 7] = [
    "The Pool Administrator role has full access to all features and settings, including accessing Dom0 and managing subjects, roles and external authentication",
    "The Pool Operator role manages host- and pool-wide resources, including setting up storage, creating resource pools and managing patches, high availability (HA) and workload balancing (WLB)",
    "The VM Power Administrator role has full access to VM and template management and can choose where to start VMs and use the dynamic memory control and VM snapshot features",
    "The VM Administrator role can manage VMs and templates",
    "The VM Operator role can use VMs and interact with VM consoles",
    "The Client Certificate role has access to functionality granted to those who authenticate using a client certificate",
    "The Read-Only role can log in with basic read-only access",
];

/// pool-admin's uuid is fixed (it is the default of `subject.roles`);
/// every other entry's is the MD5 of its name, read as a uuid.
const POOL_ADMIN_UUID: &str = "0165f154-ba3e-034e-6b27-5d271af109ba";

fn hash_uuid(name: &str) -> String {
    use md5::{Digest, Md5};
    let h = Md5::digest(name.as_bytes());
    let x: String = h.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..])
}

/// The static table: the permissions pool-admin holds (every API message,
/// every HTTP action, and the extra `task.destroy/any`), then the roles.
pub fn roles() -> &'static [Role] {
    static TABLE: OnceLock<Vec<Role>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut wire: Vec<(String, u8)> = Vec::new();
        for class in &xenapi::model::Schema::get().classes {
            for m in class.def.messages {
                wire.push((format!("{}.{}", class.name(), m.name), m.roles));
            }
        }
        wire.extend(HTTP_ACTIONS.iter().map(|(a, r)| (format!("http/{a}"), *r)));
        wire.push(("task.destroy/any".to_string(), POOL_OP));
        for (class, field, keys) in KEY_ROLES {
            for (key, roles) in *keys {
                for op in ["add_to_", "remove_from_"] {
                    wire.push((format!("{class}.{op}{field}/key:{key}"), *roles));
                }
            }
        }
        let mut table: Vec<Role> = wire
            .into_iter()
            .filter(|(_, holders)| holders & 1 != 0)
            .map(|(name, holders)| {
                let uuid = hash_uuid(&name);
                Role {
                    r#ref: format!("OpaqueRef:{uuid}"),
                    uuid,
                    name_label: name.to_lowercase(),
                    name_description: "A basic permission".to_string(),
                    subroles: Vec::new(),
                    is_internal: true,
                    holders,
                }
            })
            .collect();
        for (i, name) in ROLES.iter().enumerate() {
            let bit = 1u8 << i;
            let uuid = if i == 0 { POOL_ADMIN_UUID.to_string() } else { hash_uuid(name) };
            let subroles = table.iter().filter(|p| p.holders & bit != 0).map(|p| p.r#ref.clone()).collect();
            table.push(Role {
                r#ref: format!("OpaqueRef:{uuid}"),
                uuid,
                name_label: name.to_string(),
                name_description: ROLE_DESCRIPTIONS[i].to_string(),
                subroles,
                is_internal: *name == "client-cert",
                holders: bit,
            });
        }
        table
    })
}

/// The entry with this ref.
pub fn role(r: &str) -> Option<&'static Role> {
    roles().iter().find(|x| x.r#ref == r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_sets_are_the_role_and_every_stronger_one() {
        assert_eq!(names(VM_ADMIN), ["pool-admin", "pool-operator", "vm-power-admin", "vm-admin"]);
        assert_eq!(names(READ_ONLY).len(), ROLES.len());
        assert!(holds(http_roles("get_export"), "vm-admin"));
        assert!(!holds(http_roles("get_export"), "vm-operator"));
        assert!(!holds(http_roles("no_such_action"), "pool-admin"));
    }

    #[test]
    fn a_denial_names_the_permission_in_lower_case_and_its_roles() {
        let Failure(e) = denied("http/get_pool_xml_db_sync", POOL_ADMIN);
        assert_eq!(
            e,
            [
                "RBAC_PERMISSION_DENIED",
                "http/get_pool_xml_db_sync",
                "No permission in user session. (Roles with this permission: pool-admin)"
            ]
        );
    }

    #[test]
    fn roles_have_xapis_uuids_and_permissions_are_lower_case() {
        let by_name = |n: &str| roles().iter().find(|r| r.name_label == n).unwrap();
        assert_eq!(by_name("pool-admin").uuid, POOL_ADMIN_UUID);
        assert_eq!(by_name("read-only").uuid, "7233b8e3-eacb-d7da-2c95-f2e581cdbf4e");
        assert_eq!(by_name("vm-admin").r#ref, "OpaqueRef:aaa00ab5-7340-bfbc-0d1b-7cf342639a6e");
        let start = by_name("vm.start");
        // The MD5 of the wire name as the datamodel spells it, not of the label.
        assert_eq!(start.uuid, "24b924aa-926c-879e-d2c1-fe778e82ccee");
        assert!(start.subroles.is_empty() && start.is_internal);
        let ro = by_name("read-only");
        assert!(ro.subroles.contains(&by_name("vm.get_record").r#ref));
        assert!(!ro.subroles.contains(&start.r#ref));
        assert!(by_name("http/get_export").holders & 1 != 0);
    }
}
