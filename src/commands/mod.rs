//! The command table: explicit commands (a spec and a function each), the
//! generated commands of every generic class, and lookup by name.

pub mod args;
pub mod audit;
pub mod by_uuid;
pub mod confirm;
pub mod data_source;
pub mod event;
pub mod generic;
pub mod help;
pub mod host;
pub mod int64;
pub mod message;
pub mod network;
pub mod pbd;
pub mod pool;
pub mod secret;
pub mod select;
pub mod session;
pub mod sim;
pub mod sizes;
pub mod snapshot;
pub mod sr;
pub mod subject;
pub mod top;
pub mod transfer;
pub mod update;
pub mod vbd;
pub mod vdi;
pub mod vm;

use crate::context::Context;
use crate::error::{CliError, CmdResult};

/// Prints the uuid of a new object of `class` (create commands print only that).
pub fn print_uuid(ctx: &mut Context, class: &str, r: &xenapi::Value) -> CmdResult {
    let uuid = ctx.call(&format!("{class}.get_uuid"), vec![r.clone()])?;
    ctx.printer.list(&[uuid.to_string()]);
    Ok(())
}

/// An explicit command we implement: its name, help and implementation.
pub struct CommandSpec {
    pub name: &'static str,
    /// Our own one-line description for `xe help <command>`.
    pub help: &'static str,
    pub run: Run,
}

/// How a command runs.
pub enum Run {
    /// Its own function.
    Fn(fn(&mut Context) -> CmdResult),
    /// One call, `<class>.<method>`, on the object named by `uuid=` (see [`by_uuid`]).
    ByUuid { class: &'static str, method: &'static str },
}

/// Commands of ours that the real xe does not have (parameters listed here).
pub struct ExtraSpec {
    pub spec: CommandSpec,
    pub reqd: &'static [&'static str],
    pub optn: &'static [&'static str],
}

/// Every explicit command this xe implements, one line per family.
pub const COMMANDS: &[&[CommandSpec]] = &[
    help::COMMANDS,
    event::COMMANDS,
    vm::COMMANDS,
    snapshot::COMMANDS,
    sr::COMMANDS,
    pbd::COMMANDS,
    vdi::COMMANDS,
    vbd::COMMANDS,
    network::COMMANDS,
    message::COMMANDS,
    pool::COMMANDS,
    host::COMMANDS,
    secret::COMMANDS,
    subject::COMMANDS,
    update::COMMANDS,
    session::COMMANDS,
    data_source::COMMANDS,
    by_uuid::COMMANDS,
    audit::COMMANDS,
];

/// Every explicit command, family by family.
pub fn commands() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS.iter().flat_map(|family| family.iter())
}

/// Commands that exist only in this xe.
pub const EXTRAS: &[&ExtraSpec] = &[&sim::stop::SPEC, &sim::list::SPEC, &help::completion::SPEC, &top::SPEC];

/// How a command name resolves.
pub enum Resolved {
    Explicit(&'static CommandSpec),
    Generated(&'static crate::facts::ClassFact, &'static str),
    /// Known to the real xe but not implemented here.
    Unsupported(&'static crate::facts::CommandFact),
}

/// Resolves a command name.
pub fn resolve(name: &str) -> Option<Resolved> {
    if let Some(spec) = commands().find(|c| c.name == name) {
        return Some(Resolved::Explicit(spec));
    }
    if let Some(extra) = EXTRAS.iter().find(|c| c.spec.name == name) {
        return Some(Resolved::Explicit(&extra.spec));
    }
    // Explicit commands win over generated ones of the same name.
    if let Some(fact) = crate::facts::command(name) {
        return Some(Resolved::Unsupported(fact));
    }
    generic::split(name).map(|(fact, op)| Resolved::Generated(fact, op))
}

/// Clap's closest match for an unknown command name among every visible
/// command (explicit, generated and ours). It builds the whole command
/// tree, so it runs only on this error path.
pub fn suggestion(name: &str) -> Option<String> {
    let names = help::all_command_names();
    crate::argv::suggestion(crate::argv::tree(names.iter().map(String::as_str)), name)
}

/// Required parameters of an explicit command, from xe's table (or ours).
pub fn required_params(name: &str) -> &'static [&'static str] {
    if let Some(extra) = EXTRAS.iter().find(|c| c.spec.name == name) {
        return extra.reqd;
    }
    crate::facts::command(name).map(|c| c.reqd).unwrap_or(&[])
}

/// Runs the command in the context.
pub fn dispatch(ctx: &mut Context) -> CmdResult {
    let name = ctx.command.clone();
    match resolve(&name) {
        Some(Resolved::Explicit(spec)) => {
            for p in required_params(&name) {
                ctx.params.required(p)?;
            }
            match spec.run {
                Run::Fn(run) => run(ctx),
                Run::ByUuid { class, method } => by_uuid::call(ctx, class, method),
            }
        }
        Some(Resolved::Generated(fact, op)) => generic::run(ctx, fact.cli, op),
        Some(Resolved::Unsupported(fact)) => {
            Err(CliError::failure(format!("The command '{}' is not supported by this version of xe yet", fact.name)))
        }
        None => Err(CliError::UnknownCommand(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_is_an_xe_command_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in commands() {
            assert!(seen.insert(c.name), "{} registered twice", c.name);
            assert!(c.name == "help" || crate::facts::command(c.name).is_some(), "{} is not an xe command", c.name);
        }
        for e in EXTRAS {
            assert!(crate::facts::command(e.spec.name).is_none(), "{} shadows an xe command", e.spec.name);
            assert!(!e.spec.help.is_empty());
        }
    }

    /// Every xe command has one description: the spec's `help` when we
    /// implement it, else its sentence in `facts::command_help`, never both.
    #[test]
    fn every_command_has_one_description() {
        for c in commands() {
            assert!(!c.help.is_empty(), "{} has an empty help", c.name);
            assert!(!crate::facts::command_help::has(c.name), "{} is described twice", c.name);
            if c.name != "help" {
                crate::facts::command_help::tests::check_sentence(c.name, c.help);
            }
        }
        for f in crate::facts::COMMANDS {
            let implemented = commands().any(|c| c.name == f.name);
            assert!(implemented || crate::facts::command_help::has(f.name), "{} has no description", f.name);
            if f.flags & crate::facts::flag::DEPRECATED != 0 {
                assert!(help::description(f.name).starts_with("Deprecated"), "{}", f.name);
            }
        }
        assert_eq!(help::description("vm-shutdown"), "Shut down a VM cleanly; --force does a hard shutdown instead.");
        assert!(help::description("vm-start").contains("--force skips safety checks"));
        assert!(help::description("event-wait").starts_with("Block until"));
        // Implemented deprecated commands name their replacement in their help.
        assert!(help::description("pool-certificate-install").contains("pool-install-ca-certificate"));
        assert!(help::description("pool-certificate-list").contains("certificate-list type=ca"));
        assert!(help::description("pool-certificate-uninstall").contains("pool-uninstall-ca-certificate"));
    }
}
