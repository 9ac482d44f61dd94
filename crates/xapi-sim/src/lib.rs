//! `xapi-sim`: a XenAPI-compatible simulated pool.
//!
//! The object database ([`db`]) is generic over the generated schema; the
//! datamodel's implicit messages are served for every class by [`rpc`], and
//! explicit ones by the table in [`behaviour`]. [`server`] puts both wire
//! formats on HTTP and HTTPS. Nothing here depends on the `xe` crate.

// The library never prints (clippy.toml); its unit tests may report timings.
#![cfg_attr(test, allow(clippy::disallowed_macros))]

pub mod behaviour;
pub mod core;
pub mod db;
pub mod expr;
pub mod fixtures;
pub mod localtime;
pub mod persist;
pub mod relations;
pub mod rpc;
pub mod server;
pub mod tasks;

pub use crate::core::{Config, Core};
pub use server::{Sim, SimOptions};
