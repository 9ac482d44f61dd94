//! `host.*` messages: the host's clock, its power and maintenance
//! (disable, enable, evacuate, reboot, shutdown, power_on), a host that is
//! gone (declare_dead, destroy), the management interface, management
//! calls (syslog, hostname,
//! plugins, status report capabilities), the rest of its own calls
//! (dmesg, local caching, display, per-host external auth, uploads), and what it
//! computes about itself (free memory, overheads). The rules they follow
//! are in [`crate::rules::host`].

mod clock;
mod evacuate;
mod extras;
mod forget;
mod info;
mod license;
mod management;
mod misc;
mod power;

use crate::call::Handler;
use std::collections::HashMap;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    clock::register(t);
    power::register(t);
    evacuate::register(t);
    info::register(t);
    forget::register(t);
    misc::register(t);
    extras::register(t);
    license::register(t);
    management::register(t);
}
