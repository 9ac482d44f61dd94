//! The HTTP data transfers of xe's data commands (`vdi-export`,
//! `vdi-import`, `vm-export`, and later `vm-import`, `pool-dump-database`,
//! `host-logs-download`), the way xe's `track_http_operation` runs them
//! ([`run`]): `task.create` with the command's label, the transfer under
//! that task (`?session_id=S&task_id=T&...`), a wait for the task with
//! `event.from`, its result or error, and `task.destroy`; or the way its
//! `download_file` does ([`run_handed_over`], the exports of VMs).
//!
//! What this does beyond the real xe: an output file is created (exclusively,
//! mode 0600) before anything is asked of the server, and written sparsely;
//! a transfer that fails removes its partial file and cancels its task, and
//! says so; a redirect is followed to the named host with this connection's
//! port, TLS mode and certificate pinning; bytes, rate and time left show on
//! a terminal. Streams move through a fixed buffer: constant memory.

use crate::connect;
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use xenapi::client::{Connection, Transfer};
use xenapi::Value;

/// Bytes moved per read and write.
const CHUNK: usize = 256 << 10;
/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 8;
/// How long a task is given to finish after the client side failed.
const SETTLE: Duration = Duration::from_secs(2);

/// Percent-encodes a query value (xe sends values as they are; these are
/// the same for uuids, refs and format names).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The real xe's text for a local file it cannot use: OCaml's
/// `Sys_error("<file>: <reason>")`, after `Operation failed. Error: `.
fn sys_error(path: &Path, e: &std::io::Error) -> CliError {
    let text = e.to_string();
    let reason = text.split(" (os error").next().unwrap_or(&text);
    CliError::Raw(format!("Operation failed. Error: Sys_error(\"{}: {reason}\")", path.display()))
}

/// Where a download goes.
pub enum Sink {
    /// A new file, created exclusively with mode 0600 (never overwritten).
    File(PathBuf),
    /// Standard output (`filename=` empty).
    Stdout,
}

impl Sink {
    /// `filename=`: empty means standard output.
    pub fn from_param(name: &str) -> Sink {
        if name.is_empty() {
            Sink::Stdout
        } else {
            Sink::File(PathBuf::from(name))
        }
    }
}

/// A download or an upload.
pub enum Direction {
    Download(Sink),
    /// An existing file; a regular file is sent with its length, anything
    /// else (a pipe) to its end.
    Upload(PathBuf),
}

/// One transfer: the task's label, the path (with query, after
/// `session_id`, `task_id`) and the size expected, for the progress bar.
pub struct Request<'a> {
    pub label: &'a str,
    pub direction: Direction,
    /// Builds `/handler?session_id=S&task_id=T&...` from the session and
    /// task refs; `https://<host>/handler?...` sends it to that host.
    pub path: &'a dyn Fn(&str, &str) -> String,
    /// The bytes a download will bring, when known.
    pub expected: Option<u64>,
    /// xe's `progress=true`: say how long it took, at the end.
    pub report_time: bool,
}

/// An open local end of a transfer.
enum Local {
    File { file: File, path: PathBuf, pos: u64, sparse_end: bool },
    Stdout,
    Source { file: File, len: Option<u64> },
}

impl Local {
    fn open(direction: &Direction) -> CmdResult<Local> {
        match direction {
            Direction::Download(Sink::Stdout) => Ok(Local::Stdout),
            Direction::Download(Sink::File(path)) => {
                let mut o = OpenOptions::new();
                o.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
                let file = o.open(path).map_err(|e| sys_error(path, &e))?;
                Ok(Local::File { file, path: path.clone(), pos: 0, sparse_end: false })
            }
            Direction::Upload(path) => {
                let missing =
                    || CliError::Raw(format!("Operation failed. Error: file '{}' does not exist", path.display()));
                let meta = std::fs::metadata(path).map_err(|_| missing())?;
                let file = File::open(path).map_err(|e| sys_error(path, &e))?;
                let len = meta.is_file().then_some(meta.len());
                Ok(Local::Source { file, len })
            }
        }
    }

    /// Removes what a failed download left behind.
    fn discard(self) -> Option<PathBuf> {
        match self {
            Local::File { file, path, .. } => {
                drop(file);
                std::fs::remove_file(&path).ok().map(|()| path)
            }
            _ => None,
        }
    }
}

/// Why the client side of a transfer failed.
struct ClientFailure(String);

/// Runs a transfer under a task of its own and returns the task's result.
pub fn run(ctx: &mut Context, req: Request<'_>) -> CmdResult<Value> {
    let mut local = Local::open(&req.direction)?;
    let task = match ctx.call("task.create", vec![Value::str(req.label), Value::str("")]) {
        Ok(t) => t.as_str().unwrap_or("").to_string(),
        Err(e) => {
            local.discard();
            return Err(e);
        }
    };
    connect::set_current_task(Some(&task));
    if let Local::File { path, .. } = &local {
        connect::set_partial_file(Some(path));
    }
    let started = Instant::now();
    let moved = match ctx.data_link() {
        Ok((conn, session)) => {
            let path = (req.path)(&session, &task);
            exchange(ctx, &conn, &path, &mut local, &req)
        }
        Err(e) => Err(ClientFailure(e.message())),
    };
    let outcome = match moved {
        Ok(()) => {
            if let Local::File { file, pos, sparse_end, .. } = &mut local {
                // A download that ends in zeros was seeked over: give the file its length.
                let synced = if *sparse_end { file.set_len(*pos) } else { Ok(()) };
                if let Err(e) = synced.and_then(|()| file.flush()) {
                    return finish_failed(ctx, &task, local, &format!("cannot write the file: {e}"));
                }
            }
            connect::set_partial_file(None);
            let result = ctx.wait_task(&task);
            connect::set_current_task(None);
            if result.is_err() {
                if let Some(p) = local.discard() {
                    ctx.printer.err_always(&format!("The file '{}' of the failed transfer was removed.", p.display()));
                }
            }
            result
        }
        Err(ClientFailure(why)) => return finish_failed(ctx, &task, local, &why),
    };
    if req.report_time {
        ctx.printer.err_always(&format!("Total time: {:.3}s", started.elapsed().as_secs_f64()));
    }
    outcome
}

/// xe's Pattern A (`download_file`), used by `vm-export` and its kin: the
/// task carries a description and starts at progress -1.0, which the
/// handler sets to 0.0 when it takes the task; the outcome is the task's.
pub struct Handover<'a> {
    /// `task.create`'s description (the VM's uuid for an export).
    pub description: &'a str,
    /// The word of the outcome messages: `Export succeeded`, `Export cancelled`.
    pub what: &'a str,
}

/// Runs a download as xe's Pattern A does: `task.create(label,
/// description)`, `task.set_progress(-1.0)`, the transfer, then the task's
/// outcome (polled, at most a second apart): `<what> succeeded` on stdout
/// when the download went to a file, the task's error, or `<what>
/// cancelled`. A client failure on a task no handler took (progress still
/// below zero) fails the task, as xe does, before the usual clean-up.
pub fn run_handed_over(ctx: &mut Context, req: Request<'_>, h: &Handover<'_>) -> CmdResult {
    let mut local = Local::open(&req.direction)?;
    let created = ctx.call("task.create", vec![Value::str(req.label), Value::str(h.description)]).and_then(|t| {
        ctx.call("task.set_progress", vec![t.clone(), Value::Float(-1.0)])?;
        Ok(t.as_str().unwrap_or("").to_string())
    });
    let task = match created {
        Ok(t) => t,
        Err(e) => {
            local.discard();
            return Err(e);
        }
    };
    connect::set_current_task(Some(&task));
    if let Local::File { path, .. } = &local {
        connect::set_partial_file(Some(path));
    }
    let moved = match ctx.data_link() {
        Ok((conn, session)) => {
            let path = (req.path)(&session, &task);
            exchange(ctx, &conn, &path, &mut local, &req)
        }
        Err(e) => Err(ClientFailure(e.message())),
    };
    let moved = moved.and_then(|()| match &mut local {
        // A download that ends in zeros was seeked over: give the file its length.
        Local::File { file, pos, sparse_end, .. } => {
            let synced = if *sparse_end { file.set_len(*pos) } else { Ok(()) };
            synced.and_then(|()| file.flush()).map_err(|e| ClientFailure(format!("cannot write the file: {e}")))
        }
        _ => Ok(()),
    });
    if let Err(ClientFailure(why)) = moved {
        let progress = ctx.call("task.get_progress", vec![Value::str(&task)]).ok().and_then(|p| p.as_float());
        if progress.is_some_and(|p| p < 0.0) {
            let _ = ctx.call("task.set_status", vec![Value::str(&task), Value::str("failure")]);
        }
        return finish_failed(ctx, &task, local, &why).map(drop);
    }
    connect::set_partial_file(None);
    let mut pause = Duration::from_millis(20);
    let status = loop {
        let status = ctx.call("task.get_status", vec![Value::str(&task)]);
        match status.as_ref().ok().and_then(Value::as_str) {
            Some("pending" | "cancelling") => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            _ => break status,
        }
    };
    let info = ctx.call("task.get_error_info", vec![Value::str(&task)]);
    let _ = ctx.call("task.destroy", vec![Value::str(&task)]);
    connect::set_current_task(None);
    let status = status?;
    let outcome = match status.as_str().unwrap_or("") {
        "success" => {
            if matches!(local, Local::File { .. }) {
                // xe prints it whatever the output mode (--minimal too).
                ctx.printer.raw(&format!("{} succeeded\n", h.what));
            }
            return Ok(());
        }
        "failure" => {
            let info: Vec<String> = info
                .ok()
                .as_ref()
                .and_then(Value::as_array)
                .unwrap_or(&[])
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect();
            match info.split_first() {
                Some((code, params)) => Err(ctx.api_error(code, params.to_vec())),
                None => Err(CliError::Raw(format!("{} failed, unknown error", h.what))),
            }
        }
        "cancelled" => Err(CliError::Raw(format!("{} cancelled", h.what))),
        other => Err(CliError::Internal(format!("task {task} ended in status {other:?}"))),
    };
    if let Some(p) = local.discard() {
        ctx.printer.err_always(&format!("The file '{}' of the failed transfer was removed.", p.display()));
    }
    outcome
}

/// The client side failed: the server's word on the task wins if it has
/// one; otherwise the task is cancelled. Either way the partial file goes
/// and the task is destroyed.
fn finish_failed(ctx: &mut Context, task: &str, local: Local, why: &str) -> CmdResult<Value> {
    connect::set_partial_file(None);
    let removed = local.discard();
    let status = |ctx: &mut Context| {
        ctx.call("task.get_status", vec![Value::str(task)]).map(|v| v.as_str().unwrap_or("").to_string())
    };
    let deadline = Instant::now() + SETTLE;
    let mut state = status(ctx).unwrap_or_default();
    while (state == "pending" || state == "cancelling") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        state = status(ctx).unwrap_or_default();
    }
    let mut cancelled = false;
    if state == "pending" {
        cancelled = ctx.call("task.cancel", vec![Value::str(task)]).is_ok();
    }
    let info = ctx.call("task.get_error_info", vec![Value::str(task)]).ok();
    let _ = ctx.call("task.destroy", vec![Value::str(task)]);
    connect::set_current_task(None);
    let info: Vec<String> = info
        .as_ref()
        .and_then(Value::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(|v| v.as_str())
        .map(String::from)
        .collect();
    if state == "failure" && !info.is_empty() {
        let mut info = info.into_iter();
        let code = info.next().unwrap_or_default();
        return Err(ctx.api_error(&code, info.collect()));
    }
    let mut what = format!("the transfer failed: {why}");
    if cancelled {
        what.push_str("; its task was cancelled");
    }
    if let Some(p) = removed {
        what.push_str(&format!("; the partial file '{}' was removed", p.display()));
    }
    Err(CliError::failure(what))
}

/// Sends the request, follows redirects, and moves the body.
fn exchange(
    ctx: &mut Context,
    conn: &Connection,
    path: &str,
    local: &mut Local,
    req: &Request<'_>,
) -> Result<(), ClientFailure> {
    let mut conn = conn.clone();
    let mut path = path.to_string();
    // A path may name the host to use (`https://<address>/...`, as xe does
    // for a given pool member): reached like a redirect's host.
    if path.contains("://") {
        let (host, rest) =
            split_location(&path).ok_or_else(|| ClientFailure(format!("an unusable location '{path}'")))?;
        conn = conn.to_host(&host).map_err(|e| ClientFailure(e.to_string()))?;
        path = rest;
    }
    for _ in 0..=MAX_REDIRECTS {
        let opened = match local {
            Local::Source { len, .. } => conn.transfer_put(&path, *len),
            _ => conn.transfer_get(&path),
        };
        // A host reached by a redirect may have had its certificate pinned just now.
        for notice in conn.take_notices() {
            ctx.printer.err_always(&notice);
        }
        let mut t = opened.map_err(|e| ClientFailure(e.to_string()))?;
        match t.status {
            200 => return stream(ctx, &mut t, local, req),
            302 => {
                let location = t.header("location").unwrap_or_default().to_string();
                let (host, rest) = split_location(&location)
                    .ok_or_else(|| ClientFailure(format!("a redirect to an unusable location '{location}'")))?;
                // xe goes to the named host with its own port and TLS mode.
                conn = conn.to_host(&host).map_err(|e| ClientFailure(e.to_string()))?;
                path = rest;
                if let Local::Source { file, len } = local {
                    if len.is_none() {
                        return Err(ClientFailure(format!(
                            "the server redirected the upload to {host}, and a pipe cannot be sent twice"
                        )));
                    }
                    file.seek(SeekFrom::Start(0)).map_err(|e| ClientFailure(e.to_string()))?;
                }
            }
            status => return Err(ClientFailure(format!("the server answered {}", status_text(status, &t)))),
        }
    }
    Err(ClientFailure("too many redirects".into()))
}

fn status_text(status: u16, t: &Transfer) -> String {
    let line = t.status_line.split_once(' ').map_or("", |(_, rest)| rest).trim().to_string();
    if line.is_empty() {
        status.to_string()
    } else {
        line
    }
}

/// `https://host[:port]/path?query` → (host, `/path?query`).
fn split_location(location: &str) -> Option<(String, String)> {
    let rest = location.split_once("://").map_or(location, |(_, r)| r);
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = if let Some(h) = authority.strip_prefix('[') {
        h.split(']').next().unwrap_or(h)
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    (!host.is_empty()).then(|| (host.to_string(), path.to_string()))
}

/// Moves the body between the connection and the local end.
fn stream(ctx: &mut Context, t: &mut Transfer, local: &mut Local, req: &Request<'_>) -> Result<(), ClientFailure> {
    let total = match local {
        Local::Source { len, .. } => *len,
        _ => t.content_length().or(req.expected),
    };
    let bar = ctx.printer.transfer_progress(req.label, total);
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    let result = loop {
        let step = match local {
            Local::Source { file, .. } => match file.read(&mut buf) {
                Ok(0) => break t.finish_upload().map_err(|e| ClientFailure(e.to_string())),
                Ok(n) => t.write_all(&buf[..n]).map(|()| n).map_err(|e| ClientFailure(format!("sending: {e}"))),
                Err(e) => Err(ClientFailure(format!("reading the file: {e}"))),
            },
            _ => match t.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => write_local(ctx, local, &buf[..n]).map(|()| n),
                Err(e) => Err(ClientFailure(format!("receiving: {e}"))),
            },
        };
        match step {
            Ok(n) => {
                done += n as u64;
                if let Some(b) = &bar {
                    b.set(done);
                }
            }
            Err(e) => break Err(e),
        }
    };
    if let Some(b) = bar {
        b.finish();
    }
    if let Local::Stdout = local {
        ctx.printer.data_flush().map_err(|e| ClientFailure(format!("writing to standard output: {e}")))?;
    }
    result
}

/// Writes downloaded bytes: to stdout, or to the file, seeking over whole
/// zero pages so that empty disk regions take no space.
fn write_local(ctx: &mut Context, local: &mut Local, data: &[u8]) -> Result<(), ClientFailure> {
    const PAGE: usize = 4096;
    match local {
        Local::Stdout => ctx.printer.data(data).map_err(|e| ClientFailure(format!("writing to standard output: {e}"))),
        Local::File { file, pos, sparse_end, path } => {
            let fail = |e: std::io::Error| ClientFailure(format!("writing '{}': {e}", path.display()));
            // Runs of whole zero pages are skipped with one seek, everything
            // else is written in one call per run: few system calls per chunk.
            let zero = |piece: &[u8]| piece.len() == PAGE && piece.iter().all(|&b| b == 0);
            let mut rest = data;
            while !rest.is_empty() {
                let skip = rest.chunks(PAGE).take_while(|p| zero(p)).count() * PAGE;
                if skip > 0 {
                    file.seek(SeekFrom::Current(skip as i64)).map_err(fail)?;
                    *sparse_end = true;
                    *pos += skip as u64;
                    rest = &rest[skip..];
                    continue;
                }
                let keep = rest.chunks(PAGE).take_while(|p| !zero(p)).map(<[u8]>::len).sum::<usize>();
                file.write_all(&rest[..keep]).map_err(fail)?;
                *sparse_end = false;
                *pos += keep as u64;
                rest = &rest[keep..];
            }
            Ok(())
        }
        Local::Source { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_give_their_host_and_path() {
        assert_eq!(
            split_location("https://192.0.2.2/export_raw_vdi?session_id=S&vdi=V"),
            Some(("192.0.2.2".into(), "/export_raw_vdi?session_id=S&vdi=V".into()))
        );
        assert_eq!(split_location("https://host:4443/x"), Some(("host".into(), "/x".into())));
        assert_eq!(split_location("https://[fe80::1]:443/x?y"), Some(("fe80::1".into(), "/x?y".into())));
        assert_eq!(split_location("https:///x"), None);
    }

    #[test]
    fn query_values_are_encoded_only_where_needed() {
        assert_eq!(encode("OpaqueRef:1b2-c3"), "OpaqueRef:1b2-c3");
        assert_eq!(encode("a b&c"), "a%20b%26c");
    }

    #[test]
    fn local_file_errors_read_as_xe_prints_them() {
        let e = std::io::Error::from_raw_os_error(17);
        let text = sys_error(Path::new("out.raw"), &e).render().0;
        assert_eq!(text, "Operation failed. Error: Sys_error(\"out.raw: File exists\")\n");
    }
}
