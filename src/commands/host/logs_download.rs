//! `host-logs-download`: the logs of the selected hosts, each into a new
//! local file, over xapi's `/host_logs_download` handler.

use crate::commands::select::{self, Selector, Target};
use crate::commands::transfer::{self, Direction, Request, Sink};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "host-logs-download",
    help: "Download the logs of the selected hosts, each as a compressed tar, into new local files.",
    run: Run::Fn(logs_download),
};

const HOSTS: Selector = Selector { class: "host", templates: false, dom0: false, single: false };

/// xe's default file name: `logs-<Y>-<M>-<D>T<hhmmss>Z` in UTC, with the
/// month and day not zero-padded.
fn default_name(unix: i64) -> String {
    // `YYYYMMDDThh:mm:ssZ`, then the parts xe prints.
    let wire = xenapi::datetime::from_unix(unix);
    let digits: String = wire.chars().filter(char::is_ascii_digit).collect();
    let part = |range: std::ops::Range<usize>| digits.get(range).and_then(|d| d.parse::<u32>().ok()).unwrap_or(0);
    format!(
        "logs-{}-{}-{}T{:02}{:02}{:02}Z",
        part(0..4),
        part(4..6),
        part(6..8),
        part(8..10),
        part(10..12),
        part(12..14)
    )
}

/// One host at a time (the downloads share the terminal's progress line),
/// under a task labelled `host logs download`. With several hosts each file
/// is `<file>-<name-label>`. The master's logs come over this connection;
/// another host's from its own address, as xe asks each host for its own.
fn logs_download(ctx: &mut Context) -> CmdResult {
    let hosts = select::select(ctx, HOSTS)?;
    let base = match ctx.params.get("file-name") {
        Some(f) => f.to_string(),
        None => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            default_name(i64::try_from(now).unwrap_or(0))
        }
    };
    let master = master_ref(ctx)?;
    let several = hosts.len() > 1;
    let mut failures = Vec::new();
    for host in &hosts {
        let name = if several { format!("{base}-{}", host.name()) } else { base.clone() };
        match download(ctx, host, &master, &name) {
            Ok(()) => {}
            Err(e) if several => failures.push((host.uuid.clone(), e.message())),
            Err(e) => return Err(e),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        failures.reverse();
        Err(CliError::Multiple(failures))
    }
}

fn master_ref(ctx: &mut Context) -> CmdResult<String> {
    let pools = ctx.call_refs("pool.get_all", vec![])?;
    match pools.first() {
        Some(pool) => ctx.call_string("pool.get_master", vec![Value::str(pool)]),
        None => Ok(String::new()),
    }
}

fn download(ctx: &mut Context, host: &Target, master: &str, file: &str) -> CmdResult {
    let address = host.rec.get("address").and_then(Value::as_str).unwrap_or("").to_string();
    let prefix = if host.r == master || address.is_empty() { String::new() } else { format!("https://{address}") };
    let path = |session: &str, task: &str| format!("{prefix}/host_logs_download?session_id={session}&task_id={task}");
    transfer::run(
        ctx,
        Request {
            label: "host logs download",
            direction: Direction::Download(Sink::from_param(file)),
            path: &path,
            expected: None,
            report_time: false,
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_follow_xe() {
        // 2026-03-04 05:06:07 UTC.
        assert_eq!(default_name(1_772_600_767), "logs-2026-3-4T050607Z");
    }
}
