//! `host-backup` and `host-restore`: a backup of one host's control domain
//! into a new local file, and a backup sent back to it, over xapi's
//! `/host_backup` and `/host_restore` handlers at that host's address.

use crate::commands::select::{self, Selector, Target};
use crate::commands::transfer::{self, Direction, Request, Sink};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use std::path::PathBuf;
use xenapi::Value;

pub const BACKUP: CommandSpec = CommandSpec {
    name: "host-backup",
    help: "Download a backup of a host's control domain into a new local file.",
    run: Run::Fn(backup),
};

pub const RESTORE: CommandSpec = CommandSpec {
    name: "host-restore",
    help: "Send a backup made by host-backup to its host, for the installer to restore.",
    run: Run::Fn(restore),
};

const HOST: Selector = Selector { class: "host", templates: false, dom0: false, single: true };

/// `https://<address>` for a host other than the master, whose handler
/// must run there; nothing for the master (this connection).
fn prefix(ctx: &mut Context, host: &Target) -> CmdResult<String> {
    let pools = ctx.call_refs("pool.get_all", vec![])?;
    let master = match pools.first() {
        Some(pool) => ctx.call_string("pool.get_master", vec![Value::str(pool)])?,
        None => String::new(),
    };
    let address = host.rec.get("address").and_then(Value::as_str).unwrap_or("").to_string();
    Ok(if host.r == master || address.is_empty() { String::new() } else { format!("https://{address}") })
}

fn backup(ctx: &mut Context) -> CmdResult {
    let file = ctx.params.required("file-name")?.to_string();
    let hosts = select::select(ctx, HOST)?;
    let Some(host) = hosts.first() else { return Ok(()) };
    let prefix = prefix(ctx, host)?;
    let path = |session: &str, task: &str| format!("{prefix}/host_backup?session_id={session}&task_id={task}");
    let request = Request {
        label: "host backup download",
        direction: Direction::Download(Sink::from_param(&file)),
        path: &path,
        expected: None,
        report_time: false,
    };
    transfer::run(ctx, request)?;
    Ok(())
}

fn restore(ctx: &mut Context) -> CmdResult {
    let file = PathBuf::from(ctx.params.required("file-name")?);
    let hosts = select::select(ctx, HOST)?;
    let Some(host) = hosts.first() else { return Ok(()) };
    let prefix = prefix(ctx, host)?;
    let path = |session: &str, task: &str| format!("{prefix}/host_restore?session_id={session}&task_id={task}");
    let request = Request {
        label: "host backup upload",
        direction: Direction::Upload(file),
        path: &path,
        expected: None,
        report_time: false,
    };
    transfer::run(ctx, request)?;
    Ok(())
}
