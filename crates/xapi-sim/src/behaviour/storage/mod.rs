//! Storage: `SR.*`, `PBD.*`, `VDI.*`, `VBD.*` with xapi's rules.
//!
//! What the SM drivers would do (device_config checks, probe results, the
//! disks that outlive their records) lives in [`driver`], the sizes they
//! give disks in [`crate::rules::sm`]; xapi's own checks live with each
//! class. SR usage (`physical_utilisation`, `virtual_allocation`) is
//! recomputed from the SR's VDIs whenever they change, and
//! `allowed_operations` of SRs, VDIs and VBDs are kept in step with the
//! state they depend on ([`crate::rules::storage`], [`crate::rules::devices`]).

mod driver;
mod pbd;
mod sr;
mod vbd;
mod vdi;

use crate::call::Handler;
use std::collections::HashMap;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    sr::register(t);
    pbd::register(t);
    vdi::register(t);
    vbd::register(t);
}
