//! `xapi-sim`: a XenAPI-compatible simulated pool.
//!
//! The object database ([`db`]) is generic over the generated schema; the
//! datamodel's implicit messages are served for every class by [`rpc`], and
//! explicit ones by the table in [`behaviour`]. [`server`] puts both wire
//! formats on HTTP and HTTPS. Nothing here depends on the `xe` crate.

pub mod behaviour;
pub mod call;
pub mod core;
pub mod db;
pub mod expr;
pub mod fixtures;
pub mod implicit;
pub mod localtime;
pub mod persist;
pub mod record;
pub mod relations;
pub mod rpc;
pub mod rules;
pub mod server;
pub mod tasks;
pub mod values;

pub use crate::core::{Config, Core};
pub use server::{Sim, SimOptions};
