//! Storage: `SR.*`, `PBD.*`, `VDI.*`, `VBD.*` with xapi's rules.

use super::Handler;
use std::collections::HashMap;

pub(super) fn register(_t: &mut HashMap<&'static str, Handler>) {}
