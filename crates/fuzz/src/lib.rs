//! Seeded mutation fuzzing on stable Rust, without instrumentation: the
//! wire decoders (XML-RPC, JSON-RPC values and streams), the codecs' round
//! trips, xe's argument grammar, the `~/.xe` parser and the simulator's
//! request path. Each target in [`targets`] checks properties of its own
//! beyond "no panic"; [`runner`] mutates a corpus (seeds, then inputs that
//! reached a new feature) with [`mutate`] and keeps what it finds.
//!
//! The `xe-fuzz` binary runs it (`scripts/fuzz`); `tests/regressions.rs`
//! replays every input in `regressions/<target>/`.

pub mod mutate;
pub mod rng;
pub mod runner;
pub mod targets;
pub mod values;

pub use runner::{minimize, quiet_panics, replay, run, Finding, Options, Report};
pub use targets::{target, Target, NAMES};
