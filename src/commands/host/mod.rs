//! Host commands beyond the generated ones.

mod backup;
mod certificates;
mod evacuate;
mod extras;
mod forget;
mod ha;
mod license;
mod logs_download;
mod maintenance;
mod manage;
mod management;
mod memory;

use crate::commands::CommandSpec;

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] = &[
    logs_download::SPEC,
    backup::BACKUP,
    backup::RESTORE,
    maintenance::DISABLE,
    maintenance::ENABLE,
    maintenance::REBOOT,
    maintenance::SHUTDOWN,
    maintenance::POWER_ON,
    maintenance::SET_POWER_ON_MODE,
    evacuate::EVACUATE,
    evacuate::PREVENT,
    memory::FREE,
    memory::OVERHEAD,
    forget::FORGET,
    forget::DECLARE_DEAD,
    ha::EMERGENCY_DISABLE,
    manage::SYSLOG,
    manage::HOSTNAME,
    manage::CALL_PLUGIN,
    manage::CAPABILITIES,
    manage::CPU_INFO,
    management::RECONFIGURE,
    management::POOL_RECONFIGURE,
    management::DISABLE,
    management::EMERGENCY_RECONFIGURE,
    management::IN_EMERGENCY,
    license::ADD,
    license::REMOVE,
    license::VIEW,
    license::APPLY,
    license::EDITIONS,
    license::POOL_APPLY,
    certificates::INSTALL,
    certificates::RESET,
    certificates::REFRESH,
    certificates::GET,
    certificates::EMERGENCY_RESET,
    certificates::EMERGENCY_DISABLE_TLS,
    certificates::EMERGENCY_REENABLE_TLS,
    extras::SYNC_DATA,
    extras::ENABLE_CACHING,
    extras::DISABLE_CACHING,
    extras::DMESG,
    extras::BUGREPORT_UPLOAD,
    extras::CRASHDUMP_UPLOAD,
    extras::CRASHDUMP_DESTROY,
    extras::SEND_DEBUG_KEYS,
    extras::WLB_EVACUATE,
    extras::ENABLE_EXTERNAL_AUTH,
    extras::DISABLE_EXTERNAL_AUTH,
    extras::EXTERNAL_AUTH_SET_LDAPS,
    extras::REFRESH_PACK_INFO,
    extras::GET_CPU_FEATURES,
    extras::ENABLE_DISPLAY,
    extras::DISABLE_DISPLAY,
    extras::ENABLE_SSH,
    extras::DISABLE_SSH,
    extras::SM_DIAGNOSTICS,
    extras::THREAD_DIAGNOSTICS,
    extras::SM_DP_DESTROY,
    extras::NOTIFY,
    extras::SIGNAL_NETWORKING_CHANGE,
    extras::UPDATE_FIREWALLD,
];

pub(crate) use certificates::client_file;
