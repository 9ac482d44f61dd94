//! The commands on networks, VIFs, PIFs and VLANs with more than one call
//! (the others are in `by_uuid`).

mod create;
mod pif_reconfigure_ip;
mod vif_create;
mod vif_unplug;
mod vlan_create;
mod vlan_destroy;

use crate::commands::CommandSpec;

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] = &[
    create::SPEC,
    vif_create::SPEC,
    vif_unplug::SPEC,
    pif_reconfigure_ip::SPEC,
    vlan_create::SPEC,
    vlan_destroy::SPEC,
];
