//! xe's confirmation prompt (`user_says_yes`), shared by the commands that
//! destroy things unless `--force` is given.

use crate::context::Context;
use crate::error::{CliError, CmdResult};

/// One line from stdin after xe's prompt: `yes` in any case and with
/// surrounding blanks. Anything else is echoed back as typed.
pub fn user_says_yes(ctx: &mut Context) -> CmdResult<bool> {
    ctx.printer.raw("Type 'yes' to continue\n");
    let line = match ctx.printer.read_line() {
        Ok(Some(line)) => line,
        // xe answers an input that ends before the answer this way (and
        // exits 1 having done nothing).
        Ok(None) => return Err(CliError::Connection("Lost connection to the server.".into())),
        Err(e) => return Err(CliError::Connection(format!("Could not read the answer: {e}"))),
    };
    let answer = String::from_utf8_lossy(&line).into_owned();
    let yes = answer.trim_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']).eq_ignore_ascii_case("yes");
    if !yes {
        ctx.printer.raw(&format!("Aborted (you typed: '{answer}')\n"));
    }
    Ok(yes)
}
