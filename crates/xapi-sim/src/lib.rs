//! `xapi-sim`: a XenAPI-compatible simulated pool.
//!
//! The object database ([`db`]) is generic over the generated schema; [`rpc`]
//! dispatches each call: the datamodel's implicit messages are served for
//! every class by [`implicit`], explicit ones by the table in [`behaviour`],
//! which keeps the pool to the rules in [`rules`] (as [`fixtures`] builds
//! it). [`server`] puts both wire formats on HTTP and HTTPS. The modules
//! depend on each other without cycles (see `tests/module_graph.rs`).
//! Nothing here depends on the `xe` crate.

// The library never prints (clippy.toml); its unit tests may report timings.
#![cfg_attr(test, allow(clippy::disallowed_macros))]

pub mod audit;
pub mod behaviour;
pub mod call;
pub mod certs;
pub mod core;
pub mod db;
pub mod directory;
pub mod disks;
pub mod expr;
pub mod failures;
pub mod faults;
pub mod fixtures;
pub mod ha;
pub mod handlers;
pub mod implicit;
pub mod localtime;
pub mod metrics;
pub mod perfmon;
pub mod persist;
pub mod pools;
pub mod rbac;
pub mod record;
pub mod relations;
pub mod rpc;
pub mod rules;
pub mod server;
pub mod tasks;
pub mod trace;
pub mod update_file;
pub mod values;
pub mod vhd;
pub mod xmldb;
pub mod xva;

pub use crate::core::{Config, Core};
pub use server::{Sim, SimOptions};
