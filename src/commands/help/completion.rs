//! `xe completion <shell>`: prints the completion script for bash, zsh, fish, elvish or PowerShell.

use crate::commands::{CommandSpec, ExtraSpec, Run};
use crate::context::{is_standard_key, Context};
use crate::error::{CliError, CmdResult};
use crate::shells::Shell;

pub const SPEC: ExtraSpec = ExtraSpec {
    spec: CommandSpec {
        name: "completion",
        help: "Print the shell completion script for bash, zsh, fish, elvish or PowerShell, e.g. `xe completion bash > ~/.local/share/bash-completion/completions/xe`.",
        run: Run::Fn(run),
    },
    reqd: &[],
    optn: &["shell"],
};

fn run(ctx: &mut Context) -> CmdResult {
    // `xe completion bash` gives the bare word `bash=`; `shell=bash` works too.
    let name = match ctx.params.get("shell") {
        Some(s) => s.to_string(),
        None => ctx.params.iter().map(|(k, _)| k).find(|k| !is_standard_key(k)).unwrap_or("").to_string(),
    };
    let shell = Shell::parse(&name).ok_or_else(|| {
        CliError::failure(format!("Unknown shell '{name}': use bash, zsh, fish, elvish or powershell"))
    })?;
    ctx.printer.raw(&crate::shells::script(shell));
    Ok(())
}
