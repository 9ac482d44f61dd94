//! Pool commands beyond the generated ones: the database dump and restore,
//! which move the pool database over xapi's HTTP handler
//! `/pool/xmldbdump` under a task, as the real xe's `track_http_operation`
//! does; membership (`pool-join`, `pool-eject`) and master changes; WLB
//! (`wlb`) and the single-call commands of issue 13 (`more`).

mod certificates;
mod dump_database;
mod external_auth;
mod ha;
mod master;
mod membership;
mod more;
mod restore_database;
mod wlb;

use crate::commands::CommandSpec;

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] = &[
    dump_database::SPEC,
    restore_database::SPEC,
    external_auth::ENABLE,
    external_auth::DISABLE,
    membership::JOIN,
    membership::EJECT,
    master::DESIGNATE,
    master::RESET_MASTER,
    master::TRANSITION,
    master::RECOVER,
    master::SYNC,
    ha::ENABLE,
    ha::DISABLE,
    ha::PREVENT_RESTARTS,
    ha::COMPUTE_MAX,
    ha::COMPUTE_HYPOTHETICAL,
    ha::FAILOVER_PLAN,
    certificates::INSTALL_CA,
    certificates::CERTIFICATE_INSTALL,
    certificates::UNINSTALL_CA,
    certificates::CERTIFICATE_UNINSTALL,
    certificates::CERTIFICATE_LIST,
    certificates::CERTIFICATE_SYNC,
    certificates::CRL_INSTALL,
    certificates::CRL_UNINSTALL,
    certificates::CRL_LIST,
    certificates::ENABLE_TLS_VERIFICATION,
    certificates::ENABLE_CLIENT_CERTIFICATE_AUTH,
    certificates::DISABLE_CLIENT_CERTIFICATE_AUTH,
    certificates::DISABLE_SSL_LEGACY,
    more::DISABLE_BINARY_STORAGE,
    more::DISABLE_LOCAL_STORAGE_CACHING,
    more::DISABLE_REDO_LOG,
    more::DISABLE_SSH,
    more::ENABLE_BINARY_STORAGE,
    more::ENABLE_LOCAL_STORAGE_CACHING,
    more::ENABLE_REDO_LOG,
    more::ENABLE_SSH,
    more::EXTERNAL_AUTH_SET_LDAPS,
    more::GET_CPU_FEATURES,
    more::GET_GUEST_SECUREBOOT_READINESS,
    more::RESET_TELEMETRY_UUID,
    more::SECRET_ROTATE,
    more::SEND_TEST_POST,
    more::SET_VSWITCH_CONTROLLER,
    more::VLAN_CREATE,
    wlb::DECONFIGURE,
    wlb::INITIALIZE,
    wlb::RETRIEVE_CONFIGURATION,
    wlb::RETRIEVE_DIAGNOSTICS,
    wlb::RETRIEVE_RECOMMENDATIONS,
    wlb::RETRIEVE_REPORT,
    wlb::SEND_CONFIGURATION,
];

/// The handler both commands use.
const XMLDB: &str = "/pool/xmldbdump";

/// The pool named by `uuid=`, else the pool (xe's `get_pool_with_default`).
pub fn named_or_only(ctx: &mut crate::context::Context) -> crate::error::CmdResult<String> {
    match ctx.params.get("uuid").map(str::to_string) {
        Some(uuid) => ctx.lookup_uuid("pool", &uuid),
        None => Ok(ctx.call_refs("pool.get_all", vec![])?.into_iter().next().unwrap_or_default()),
    }
}
