//! `audit-log-get`: the pool's audit log into a local file, over xapi's
//! `/audit_log` handler, optionally only the lines from `since=` on.

use crate::commands::transfer::{self, encode, Direction, Request, Sink};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;

pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "audit-log-get",
    help: "Download the pool's audit log to a local file, optionally only the lines from a given time on.",
    run: Run::Fn(audit_log_get),
}];

/// xe keeps `since=` and the file name to 255 characters in the task label
/// and query, as the real one does.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(255) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn audit_log_get(ctx: &mut Context) -> CmdResult {
    let file = ctx.params.required("filename")?.to_string();
    let since = clip(ctx.params.get("since").unwrap_or("")).to_string();
    let label = if since.is_empty() {
        format!("audit-log-get into file {}", clip(&file))
    } else {
        format!("audit-log-get (since \"{since}\") into file {}", clip(&file))
    };
    let query = if since.is_empty() { String::new() } else { format!("&since={}", encode(&since)) };
    let path = |session: &str, task: &str| format!("/audit_log?session_id={session}&task_id={task}{query}");
    transfer::run(
        ctx,
        Request {
            label: &label,
            direction: Direction::Download(Sink::from_param(&file)),
            path: &path,
            expected: None,
            report_time: false,
        },
    )?;
    Ok(())
}
