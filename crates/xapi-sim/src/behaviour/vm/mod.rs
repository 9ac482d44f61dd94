//! `VM.*` lifecycle: power states, clone/copy/provision, snapshots, migration, guest agent.

use super::Handler;
use std::collections::HashMap;

pub(super) fn register(_t: &mut HashMap<&'static str, Handler>) {}
