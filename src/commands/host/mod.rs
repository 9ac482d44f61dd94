//! Host commands beyond the generated ones.

mod certificates;
mod evacuate;
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
];

pub(crate) use certificates::client_file;
