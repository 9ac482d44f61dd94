//! The VBD commands with more than one call (the others are in `by_uuid`),
//! and the VBD records the VM disk and CD commands share.

mod create;
mod insert;
mod unplug;

use crate::commands::args::s;
use crate::commands::CommandSpec;
use crate::connect::{Api, CallError};
use xenapi::{Value, NULL_REF};

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] = &[create::SPEC, unplug::SPEC, insert::SPEC];

/// A `VBD.create` record; `vdi` None makes an empty (CD) drive.
pub(crate) struct VbdSpec<'a> {
    pub(crate) vm: &'a str,
    pub(crate) vdi: Option<&'a str>,
    pub(crate) device: &'a str,
    pub(crate) mode: &'a str,
    pub(crate) ty: &'a str,
    pub(crate) bootable: bool,
    pub(crate) unpluggable: bool,
    /// Marks the disk as owned by the VM, so `vm-uninstall` destroys it.
    pub(crate) owner: bool,
}

impl VbdSpec<'_> {
    pub(crate) fn record(&self) -> Value {
        // xe marks a disk the VM owns with an empty `owner` key.
        let other = if self.owner { vec![("owner".into(), s(""))] } else { Vec::new() };
        Value::Struct(vec![
            ("VM".into(), s(self.vm)),
            ("VDI".into(), s(self.vdi.unwrap_or(NULL_REF))),
            ("userdevice".into(), s(self.device)),
            ("bootable".into(), Value::Bool(self.bootable)),
            ("mode".into(), s(self.mode)),
            ("type".into(), s(self.ty)),
            ("unpluggable".into(), Value::Bool(self.unpluggable)),
            ("empty".into(), Value::Bool(self.vdi.is_none())),
            ("other_config".into(), Value::Struct(other)),
            ("qos_algorithm_type".into(), s("")),
            ("qos_algorithm_params".into(), Value::Struct(Vec::new())),
            ("device".into(), s("")),
            ("currently_attached".into(), Value::Bool(false)),
        ])
    }
}

/// Creates a VBD for a selected VM and tries to hot-plug it, as xe does:
/// whatever the VM's state, and keeping the VBD when the plug is refused.
pub(crate) fn attach(api: &mut dyn Api, spec: &VbdSpec) -> Result<(), CallError> {
    let vbd = api.call("VBD.create", vec![spec.record()])?;
    match api.call("VBD.plug", vec![vbd]) {
        Ok(_) | Err(CallError::Api(..)) => Ok(()),
        Err(e) => Err(e),
    }
}
