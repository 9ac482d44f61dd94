//! `xe help`, `xe help <command>`, `xe help --all` and the `--minimal`
//! lists that shell completion reads.

pub mod completion;

use super::{generic, CommandSpec, Resolved, Run, EXTRAS};
use crate::context::Context;
use crate::error::CmdResult;
use crate::facts::{self, flag};
use crate::output::Record;

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] = &[SPEC];

pub const SPEC: CommandSpec = CommandSpec {
    name: "help",
    help: "Show the usage, the list of commands, or the parameters of one command.",
    run: Run::Fn(run),
};

/// The usage text printed for `xe`, `xe --help` and `xe help`.
pub fn usage() -> String {
    "Usage: xe <command> [-s server] [-p port] ([-u user] [-pw password] or [-pwf <password file>]) \
     [--nossl] [--minimal] [--json] [--table] <command arguments>\n\
     \n\
     Every command argument has the form name=value (maps: name:key=value; flags: --name).\n\
     Connection options may also come from XE_EXTRA_ARGS or ~/.xe; `-s sim://demo` runs a simulated pool.\n\
     \n\
     List every command:        xe help --all\n\
     Help on one command:       xe help <command>\n"
        .to_string()
}

/// Names `xe help --minimal --all` prints: the real xe's visible commands,
/// explicit and generated, sorted bytewise (completion scripts parse this).
pub fn xe_command_names() -> Vec<String> {
    let mut names: Vec<String> =
        facts::COMMANDS.iter().filter(|c| c.flags & flag::HIDDEN == 0).map(|c| c.name.to_string()).collect();
    for class in facts::CLASSES {
        for (op, bit) in generic::OPS {
            if class.ops & bit != 0 {
                names.push(format!("{}-{op}", class.cli));
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Commands only this xe has (`sim-stop`, `completion`, ...).
pub fn extra_command_names() -> Vec<String> {
    let mut names: Vec<String> = EXTRAS.iter().map(|e| e.spec.name.to_string()).collect();
    names.sort();
    names
}

/// Names of every visible command: explicit, generated and our own, sorted bytewise.
pub fn all_command_names() -> Vec<String> {
    let mut names = xe_command_names();
    names.extend(EXTRAS.iter().map(|e| e.spec.name.to_string()));
    names.sort();
    names.dedup();
    names
}

/// Names plain `xe help` lists: standard commands plus the standard class lists.
pub fn standard_command_names() -> Vec<String> {
    let mut names: Vec<String> = facts::COMMANDS
        .iter()
        .filter(|c| c.flags & flag::STANDARD != 0 && c.flags & flag::HIDDEN == 0)
        .map(|c| c.name.to_string())
        .collect();
    names.extend(facts::CLASSES.iter().filter(|c| c.standard_list).map(|c| format!("{}-list", c.cli)));
    names.sort();
    names
}

/// Required and optional parameters as `xe help <command>` lists them.
pub fn command_params(name: &str) -> Option<(Vec<String>, Vec<String>)> {
    let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if let Some(e) = EXTRAS.iter().find(|e| e.spec.name == name) {
        return Some((own(e.reqd), own(e.optn)));
    }
    if let Some(c) = facts::command(name) {
        let mut optn = own(c.optn);
        for (bit, sel) in [
            (flag::VM_SELECTORS, "<vm-selectors>"),
            (flag::HOST_SELECTORS, "<host-selectors>"),
            (flag::SR_SELECTORS, "<sr-selectors>"),
        ] {
            if c.flags & bit != 0 {
                optn.push(sel.to_string());
            }
        }
        return Some((own(c.reqd), optn));
    }
    generic::split(name).map(|(fact, op)| generic::params_of(fact.cli, op))
}

/// Our description of a command: an implemented one's is its spec's `help`,
/// one we do not implement yet has its sentence in `facts::command_help`.
pub fn description(name: &str) -> String {
    if let Some(Resolved::Explicit(spec)) = super::resolve(name) {
        return spec.help.to_string();
    }
    if facts::command(name).is_some() {
        return crate::facts::command_help::describe(name).to_string();
    }
    if let Some((fact, op)) = generic::split(name).filter(|_| facts::command(name).is_none()) {
        let class = fact.cli;
        return match op {
            "list" => {
                format!("List the {class} objects, optionally filtered by field values (params= picks the fields).")
            }
            "param-list" => format!("Show every field of one {class}."),
            "param-get" => format!("Print one field of a {class} (param-key= picks one key of a map field)."),
            "param-set" => format!("Set writable fields of a {class}; maps take name:key=value."),
            "param-add" => format!("Add a member to a set field, or key=value pairs to a map field, of a {class}."),
            "param-remove" => format!("Remove a member of a set field, or a key of a map field, of a {class}."),
            _ => format!("Clear a writable field of a {class}."),
        };
    }
    crate::facts::command_help::describe(name).to_string()
}

fn help_record(name: &str) -> Option<Record> {
    let (reqd, optn) = command_params(name)?;
    Some(crate::output::record::help_record(name, &reqd.join(", "), &optn.join(", "), &description(name)))
}

fn run(ctx: &mut Context) -> CmdResult {
    let all = ctx.params.flag("all");
    // Every other key is a topic, as in xe (`xe help vm-list sr-list`); an
    // unknown one is said on stdout and is not an error. `help` is no topic.
    const NOT_TOPICS: &[&str] =
        &["server", "username", "password", "port", "minimal", "all", "debug", "json", "table", "insecure", "xmlrpc"];
    let topics: Vec<String> =
        ctx.params.iter().map(|(k, _)| k).filter(|k| !NOT_TOPICS.contains(k)).map(str::to_string).collect();
    if !topics.is_empty() {
        for cmd in topics {
            match help_record(&cmd).filter(|_| cmd != "help") {
                Some(rec) => ctx.printer.records(&[rec]),
                None => ctx.printer.list(&[format!("Unknown command '{cmd}'")]),
            }
        }
        return Ok(());
    }
    let names = if all { xe_command_names() } else { standard_command_names() };
    if ctx.printer.minimal() {
        ctx.printer.list(&names);
        return Ok(());
    }
    let mut text = usage();
    text.push('\n');
    text.push_str(if all { "All commands:\n\n" } else { "Common commands:\n\n" });
    text.push_str(&crate::output::wrap(&names.join(", "), 76, "\t"));
    if all {
        text.push_str("\nCommands of this xe only:\n\n");
        text.push_str(&crate::output::wrap(&extra_command_names().join(", "), 76, "\t"));
    }
    text.push('\n');
    ctx.printer.raw(&text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_record_layout() {
        let rec = help_record("vm-list").unwrap();
        let mut s = String::new();
        crate::output::record::render_record(&rec, &mut s);
        assert!(s.starts_with("command name            : vm-list\n        reqd params     : \n        optional params : params, database:, "));
    }

    #[test]
    fn lists_are_sorted_and_complete() {
        let all = all_command_names();
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert!(all.contains(&"vm-list".to_string()) && all.contains(&"vm-start".to_string()));
        // The real xe lists exactly 646 names (reference STATS.txt).
        let xe = xe_command_names();
        assert_eq!(xe.len(), 646);
        assert!(xe.windows(2).all(|w| w[0] < w[1]));
        assert!(!xe.contains(&"sim-stop".to_string()));
        let std = standard_command_names();
        assert_eq!(std.len(), 43);
    }
}
