//! `xe sim-list` and `xe sim-stop`: the commands over the simulator
//! processes that `sim://NAME` starts (see [`crate::sims`]).

pub mod list;
pub mod stop;
