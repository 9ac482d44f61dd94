//! The pool's rules: what the state of a pool must satisfy and what follows
//! from it, as plain functions of the database. Behaviours apply them after
//! every change; the fixtures build pools that satisfy them. Nothing here
//! knows calls, sessions, tasks or the wire.
//!
//! - [`pool`]: the master, and the messages the pool files.
//! - [`certificate`]: the `Certificate` records of hosts and of the pool's CAs.
//! - [`vm`]: the operations a VM allows in its state; BIOS strings.
//! - [`memory`]: domain overheads, free and reserved host memory.
//! - [`placement`]: where a VM may run.
//! - [`host`]: what a host allows in its state, liveness, evacuation plans.
//! - [`storage`]: what SRs and VDIs allow, SR usage and space.
//! - [`sm`]: SR types and how their drivers size disks.
//! - [`devices`]: VBD and VIF operation tables, hotplug, device names.
//! - [`restart`]: what a restart on a saved pool resets (nothing in progress),
//!   and what a start on a database it did not write fixes up.
//! - [`membership`]: what goes with a host that joins or leaves a pool.
//! - [`ha`]: HA failover planning (protected VMs, plans for n host failures).
//! - [`restore`]: what a host makes of a database backup it restores.

pub mod certificate;
pub mod devices;
pub mod ha;
pub mod host;
pub mod local_cache;
pub mod membership;
pub mod memory;
pub mod placement;
pub mod pool;
pub mod restart;
pub mod restore;
pub mod secrets;
pub mod sm;
pub mod storage;
pub mod vm;
pub mod wlb;

pub const MIB: i64 = 1 << 20;
pub const GIB: i64 = 1 << 30;
pub const TIB: i64 = 1 << 40;
