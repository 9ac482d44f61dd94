//! The one-call power operations over the selected VMs: `vm-shutdown`,
//! `vm-reboot`, `vm-suspend`, `vm-pause`, `vm-unpause`, `vm-reset-powerstate`.

use super::{done, each, flag, vm, NO_FORCE};
use crate::commands::select::Selector;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};

pub const SHUTDOWN: CommandSpec = CommandSpec {
    name: "vm-shutdown",
    help: "Shut down a VM cleanly; --force does a hard shutdown instead.",
    run: Run::Fn(shutdown),
};

fn shutdown(ctx: &mut Context) -> CmdResult {
    // xe's --force means a hard shutdown here (unlike vm-start).
    let method = if flag(ctx, "force") { "VM.hard_shutdown" } else { "VM.clean_shutdown" };
    each(ctx, Selector::VM, move |api, t| api.call_async(method, vec![vm(t)]).and_then(done))
}

pub const REBOOT: CommandSpec =
    CommandSpec { name: "vm-reboot", help: "Reboot a VM cleanly; --force does a hard reboot.", run: Run::Fn(reboot) };

fn reboot(ctx: &mut Context) -> CmdResult {
    let method = if flag(ctx, "force") { "VM.hard_reboot" } else { "VM.clean_reboot" };
    each(ctx, Selector::VM, move |api, t| api.call(method, vec![vm(t)]).and_then(done))
}

pub const SUSPEND: CommandSpec =
    CommandSpec { name: "vm-suspend", help: "Suspend a running VM to disk.", run: Run::Fn(suspend) };

fn suspend(ctx: &mut Context) -> CmdResult {
    each(ctx, Selector::VM, |api, t| api.call_async("VM.suspend", vec![vm(t)]).and_then(done))
}

pub const PAUSE: CommandSpec = CommandSpec { name: "vm-pause", help: "Pause a running VM.", run: Run::Fn(pause) };

fn pause(ctx: &mut Context) -> CmdResult {
    each(ctx, Selector::VM, |api, t| api.call("VM.pause", vec![vm(t)]).and_then(done))
}

pub const UNPAUSE: CommandSpec =
    CommandSpec { name: "vm-unpause", help: "Unpause a paused VM.", run: Run::Fn(unpause) };

fn unpause(ctx: &mut Context) -> CmdResult {
    each(ctx, Selector::VM, |api, t| api.call("VM.unpause", vec![vm(t)]).and_then(done))
}

pub const RESET_POWERSTATE: CommandSpec = CommandSpec {
    name: "vm-reset-powerstate",
    help: "Mark a VM halted in the database without touching it; requires --force.",
    run: Run::Fn(reset_powerstate),
};

fn reset_powerstate(ctx: &mut Context) -> CmdResult {
    if !flag(ctx, "force") {
        return Err(CliError::failure(NO_FORCE));
    }
    each(ctx, Selector::VM, |api, t| api.call("VM.power_state_reset", vec![vm(t)]).and_then(done))
}
