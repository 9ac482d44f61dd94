//! Shared helpers for the CLI integration tests.

mod facts_generated;
pub mod golden;
mod scripts;

use xapi_sim::{Sim, SimOptions};

/// Starts the standard demo pool on loopback, over HTTP or HTTPS.
pub fn start_sim(tls: bool) -> Sim {
    let opts = SimOptions { tls, ..SimOptions::default() };
    let mut opts = opts;
    opts.config.time_scale = 0.0;
    Sim::start(opts).expect("simulator starts on loopback")
}
