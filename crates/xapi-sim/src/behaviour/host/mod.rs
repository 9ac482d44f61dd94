//! `host.*` messages: the host's clock, its power and maintenance
//! (disable, enable, evacuate, reboot, shutdown, power_on), and what it
//! computes about itself (free memory, overheads). The rules they follow
//! are in [`crate::rules::host`].

mod clock;
mod evacuate;
mod info;
mod power;

use crate::call::Handler;
use std::collections::HashMap;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    clock::register(t);
    power::register(t);
    evacuate::register(t);
    info::register(t);
}
