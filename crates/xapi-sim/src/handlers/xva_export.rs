//! `GET /export` and `GET /export_metadata`: a VM as an XVA, or only its
//! metadata, in the order xapi's export.ml checks things.
//!
//! `/export`: credentials (realm `VM.export`), the VM (`ref` or `uuid`), a
//! 302 to a host that sees all the VM's storage when this one does not
//! (the caller's task is left for that host), then under the task: progress
//! 0.0 (taken), `preserve_power_state` (OCaml's `bool_of_string`), the VM
//! locked for `export` (Halted or Suspended, else `VM_BAD_POWER_STATE`),
//! all failing before the head with a 500; then `HTTP/1.0 200` and the
//! archive (see [`crate::xva::export`]), gzip or zstd compressed on
//! request. Failures after the head show only in the task; a cancelled
//! task stops the stream. The archive streams at constant memory: a
//! blocking worker writes it through a small channel.
//!
//! `/export_metadata`: `ova.xml` alone (snapshots included unless
//! `export_snapshots=false`, power states kept, never compressed), in any
//! power state, built in memory and sent with a `Content-Length`.

use super::context::{error_page, Context, Params};
use super::raw_vdi::{bare, io_error, local_host, redirect, settle, Feed};
use crate::core::Core;
use crate::db::{ApiResult, Db, Failure};
use crate::disks::BlockMap;
use crate::rules::placement::sr_visible;
use crate::rules::vm as lifecycle;
use crate::xva::export::{self as xva, Excluded, Options, TarWriter};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::io::{self, Write};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use xenapi::Value;

/// The routes of this module.
pub fn routes() -> Router<Arc<Core>> {
    Router::new().route("/export", get(export)).route("/export_metadata", get(export_metadata))
}

/// Bytes handed to the connection at a time.
const CHUNK: usize = 256 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// `use_compression`: `true` or `gzip`, `zstd`, anything else none.
    fn of(params: &Params) -> Compression {
        match params.get("use_compression") {
            Some("true" | "gzip") => Compression::Gzip,
            Some("zstd") => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

fn internal(why: &str) -> Failure {
    Failure::new("INTERNAL_ERROR", [why])
}

/// OCaml's `bool_of_string` on a parameter: `default` when absent.
fn bool_param(params: &Params, name: &str, default: bool) -> ApiResult<bool> {
    match params.get(name) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(internal("Invalid argument: bool_of_string")),
    }
}

/// The VM of `ref` (unchecked by xapi; a missing one is `HANDLE_INVALID`)
/// or `uuid`.
fn find_vm(db: &Db, params: &Params) -> ApiResult<String> {
    if let Some(r) = params.get("ref") {
        return match db.is(r, "VM") {
            true => Ok(r.to_string()),
            false => Err(Failure::new("HANDLE_INVALID", ["VM", r])),
        };
    }
    let Some(uuid) = params.get("uuid") else { return Err(internal("Not_found")) };
    db.by_uuid(db.cls("VM"), uuid).map(str::to_string).ok_or_else(|| Failure::new("UUID_INVALID", ["VM", uuid]))
}

/// Where an export of `vm` must run: `Ok(None)` here, the address of a host
/// that sees all the VM's storage, or `Err` when none does.
fn placement(db: &Db, headers: &HeaderMap, vm: &str) -> ApiResult<Option<String>> {
    let mut srs: Vec<String> = db
        .strings(vm, "VBDs")
        .iter()
        .filter(|vbd| !db.bool(vbd, "empty"))
        .map(|vbd| db.string(&db.string(vbd, "VDI"), "SR"))
        .filter(|sr| db.is(sr, "SR"))
        .collect();
    srs.dedup();
    let sees = |h: &str| srs.iter().all(|sr| sr_visible(db, sr, h));
    if sees(&local_host(db, headers)) {
        return Ok(None);
    }
    let host = db.all("host").into_iter().find(|h| sees(h));
    host.map(|h| Some(db.string(&h, "address"))).ok_or_else(|| Failure::new::<&str>("NO_HOSTS_AVAILABLE", []))
}

/// The `200` head xapi's exports send.
fn ok(core: &Core, ctx: &Context, body: Body, length: Option<usize>) -> Response {
    let mut r = bare(StatusCode::OK, true);
    *r.body_mut() = body;
    let server = {
        let db = core.db.read();
        let master = crate::rules::pool::master(&db);
        db.map_get(&master, "software_version", "xapi").unwrap_or_default()
    };
    let (name, task) = ctx.task_header(false);
    let h = r.headers_mut();
    let mut put = |k: header::HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    put(header::HeaderName::from_static(name), &task);
    put(header::SERVER, &format!("xapi/{server}"));
    put(header::CONTENT_TYPE, "application/octet-stream");
    if let Some(n) = length {
        put(header::CONTENT_LENGTH, &n.to_string());
    }
    put(header::CONTENT_DISPOSITION, "attachment; filename=\"export.xva\"");
    r
}

/// A failure before the head: the task fails and the caller gets xapi's 500.
fn refuse(ctx: Context, e: Failure) -> Response {
    let why = e.0.join(" ");
    ctx.finish(Err(e));
    error_page(StatusCode::INTERNAL_SERVER_ERROR, &why)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

// --- the stream ---------------------------------------------------------------------

/// Hands bytes to the response body a chunk at a time.
struct ChanWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl ChanWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(chunk).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChanWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// The archive's bytes, compressed or not.
enum Out {
    Plain(ChanWriter),
    Gzip(flate2::write::GzEncoder<ChanWriter>),
    Zstd(zstd::stream::write::Encoder<'static, ChanWriter>),
}

impl Out {
    fn new(w: ChanWriter, c: Compression) -> io::Result<Out> {
        Ok(match c {
            Compression::None => Out::Plain(w),
            Compression::Gzip => Out::Gzip(flate2::write::GzEncoder::new(w, flate2::Compression::default())),
            Compression::Zstd => Out::Zstd(zstd::stream::write::Encoder::new(w, 0)?),
        })
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Out::Plain(mut w) => w.flush(),
            Out::Gzip(g) => g.finish()?.flush(),
            Out::Zstd(z) => z.finish()?.flush(),
        }
    }
}

impl Write for Out {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Out::Plain(w) => w.write(data),
            Out::Gzip(w) => w.write(data),
            Out::Zstd(w) => w.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Plain(w) => w.flush(),
            Out::Gzip(w) => w.flush(),
            Out::Zstd(w) => w.flush(),
        }
    }
}

/// What an export sends, fixed before its head goes out.
struct Job {
    ova_xml: String,
    mtime: u64,
    disks: Vec<(xva::Disk, BlockMap)>,
    compression: Compression,
}

/// The task's progress (whole MiB done over total MiB, as xapi reckons
/// it; written when it moves by a percent) and the check for a cancel.
struct Progress {
    core: Arc<Core>,
    task: String,
    total_mib: u64,
    shown: i64,
    failure: Option<Failure>,
}

impl Progress {
    fn update(&mut self, done: u64) -> io::Result<()> {
        if self.core.db.read().field_str(&self.task, "status") == "cancelling" {
            self.failure = Some(Failure::new("TASK_CANCELLED", [self.task.as_str()]));
            return Err(io::Error::other("cancelled"));
        }
        let pct = ((done >> 20) * 100 / self.total_mib.max(1)).min(100) as i64;
        if pct != self.shown {
            self.shown = pct;
            let _ = self.core.write(|db| {
                if db.get(&self.task).is_some() {
                    db.set_named(&self.task, "progress", Value::Float(pct as f64 / 100.0));
                }
                Ok(())
            });
        }
        Ok(())
    }
}

impl Job {
    fn run(self, tx: mpsc::Sender<Bytes>, progress: &mut Progress) -> ApiResult<()> {
        let written = self.write(tx, progress);
        if let Some(f) = progress.failure.take() {
            return Err(f);
        }
        written.map_err(|e| match e.kind() {
            io::ErrorKind::BrokenPipe => Failure::new("CLIENT_ERROR", [e.to_string()]),
            _ => io_error(),
        })
    }

    fn write(self, tx: mpsc::Sender<Bytes>, progress: &mut Progress) -> io::Result<()> {
        let out = Out::new(ChanWriter { tx, buf: Vec::with_capacity(CHUNK) }, self.compression)?;
        let mut tar = TarWriter::new(out);
        tar.member("ova.xml", self.ova_xml.as_bytes(), self.mtime)?;
        let mut before = 0u64;
        for (disk, blocks) in &self.disks {
            let mut done = |n: u64| progress.update(before + n);
            xva::write_disk(&mut tar, &disk.id, blocks, disk.size, &mut done)?;
            before += disk.size;
        }
        tar.finish()?.finish()
    }
}

// --- handlers -------------------------------------------------------------------------

async fn export(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap) -> Response {
    let params = Params::new(&uri, &headers);
    let ctx = match Context::open(&core, &params, &headers, "VM.export", "get_export").await {
        Ok(ctx) => ctx,
        Err(page) => return page,
    };
    let compression = Compression::of(&params);
    // Before the task is taken: a failure here leaves the caller's task alone.
    let found = {
        let db = core.db.read();
        find_vm(&db, &params).map(|vm| (placement(&db, &headers, &vm), vm))
    };
    let vm = match found {
        Err(e) => {
            ctx.abandon();
            return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.0.join(" "));
        }
        Ok((Ok(Some(address)), _)) => {
            ctx.abandon();
            return redirect(&address, &uri);
        }
        Ok((Err(e), _)) => return refuse(ctx, e),
        Ok((Ok(None), vm)) => vm,
    };
    if let Err(e) = ctx.take() {
        return refuse(ctx, e);
    }
    let preserve = match bool_param(&params, "preserve_power_state", false) {
        Ok(b) => b,
        Err(e) => return refuse(ctx, e),
    };
    let task = ctx.task.clone();
    let locked = core.write(|db| {
        lifecycle::assert_operation_valid(db, &vm, "export")?;
        lifecycle::enter(db, &vm, "export", &task);
        // xapi's stream_vdi makes the task cancellable.
        db.set_named(&task, "allowed_operations", Value::Array(vec![Value::str("cancel")]));
        Ok(())
    });
    if let Err(e) = locked {
        return refuse(ctx, e);
    }
    let job = {
        let db = core.db.read();
        let master = crate::rules::pool::master(&db);
        let opts = Options { preserve_power_state: preserve, ..Options::default() };
        let meta = xva::metadata(&db, std::slice::from_ref(&vm), &opts, xva::version(&db, &master));
        let disks = xva::streamed_disks(&db, &vm, preserve, &meta.table)
            .into_iter()
            .map(|d| {
                let blocks = core.disks.view(&d.uuid);
                (d, blocks)
            })
            .collect();
        Job { ova_xml: meta.ova_xml, mtime: now(), disks, compression }
    };
    let total: u64 = job.disks.iter().map(|(d, _)| d.size).sum();
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let (delivered_tx, delivered) = oneshot::channel();
    let response = ok(&core, &ctx, Body::new(Feed { rx, delivered: Some(delivered_tx) }), None);
    tokio::spawn(async move {
        let mut progress = Progress {
            core: ctx.core.clone(),
            task: ctx.task.clone(),
            total_mib: total >> 20,
            shown: 0,
            failure: None,
        };
        let worker = tokio::task::spawn_blocking(move || job.run(tx, &mut progress));
        let result = match worker.await {
            Ok(Ok(())) if delivered.await.is_ok() => Ok(Value::str("")),
            Ok(Ok(())) => Err(io_error()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io_error()),
        };
        let _ = ctx.core.write(|db| {
            lifecycle::leave(db, &vm, &ctx.task);
            Ok(())
        });
        let result = settle(&ctx.core, &ctx.task, result);
        ctx.finish(result);
    });
    response
}

/// The VMs of `/export_metadata?all=true`: every VM that is not a default
/// template, the control domains only with `include_dom0`.
fn all_vms(db: &Db, include_dom0: bool) -> Vec<String> {
    db.all("VM")
        .into_iter()
        .filter(|vm| {
            let default_template = db.bool(vm, "is_default_template")
                || (db.bool(vm, "is_a_template")
                    && db.map_get(vm, "other_config", "default_template").as_deref() == Some("true"));
            let dom0 = db.bool(vm, "is_control_domain");
            !default_template && (!dom0 || include_dom0)
        })
        .collect()
}

async fn export_metadata(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap) -> Response {
    let params = Params::new(&uri, &headers);
    let ctx = match Context::open(&core, &params, &headers, "VM.export_metadata", "get_export_metadata").await {
        Ok(ctx) => ctx,
        Err(page) => return page,
    };
    // xapi reads the parameters in this order; the first bad one fails.
    let parsed = (|| {
        let include_vhd_parents = bool_param(&params, "include_vhd_parents", false)?;
        let all = bool_param(&params, "all", false)?;
        let snapshots = bool_param(&params, "export_snapshots", true)?;
        let include_dom0 = bool_param(&params, "include_dom0", true)?;
        let excluded = Excluded::parse(params.get("excluded_device_types").unwrap_or(""))
            .map_err(|why| internal(&format!("Failure(\"{why}\")")))?;
        let vms = {
            let db = core.db.read();
            if all {
                all_vms(&db, include_dom0)
            } else {
                vec![find_vm(&db, &params)?]
            }
        };
        let opts =
            Options { preserve_power_state: true, with_snapshot_metadata: snapshots, include_vhd_parents, excluded };
        Ok((vms, opts))
    })();
    let (vms, opts) = match parsed {
        Ok(p) => p,
        Err(e) => return refuse(ctx, e),
    };
    if vms.is_empty() {
        return refuse(ctx, internal("Failure(\"need to specify at least one VM\")"));
    }
    let task = ctx.task.clone();
    let built = core.write(|db| {
        for (i, vm) in vms.iter().enumerate() {
            if let Err(e) = lifecycle::assert_operation_valid(db, vm, "metadata_export") {
                for locked in &vms[..i] {
                    lifecycle::leave(db, locked, &task);
                }
                return Err(e);
            }
            lifecycle::enter(db, vm, "metadata_export", &task);
        }
        let master = crate::rules::pool::master(db);
        let meta = xva::metadata(db, &vms, &opts, xva::version(db, &master));
        for vm in &vms {
            lifecycle::leave(db, vm, &task);
        }
        let mut tar = TarWriter::new(Vec::new());
        tar.member("ova.xml", meta.ova_xml.as_bytes(), now()).map_err(|_| io_error())?;
        tar.finish().map_err(|_| io_error())
    });
    let archive = match built {
        Ok(a) => a,
        Err(e) => return refuse(ctx, e),
    };
    let (delivered_tx, delivered) = oneshot::channel();
    let length = archive.len();
    let body = Whole { data: Some(Bytes::from(archive)), taken: Some(delivered_tx) };
    let response = ok(&core, &ctx, Body::new(body), Some(length));
    tokio::spawn(async move {
        let result = if delivered.await.is_ok() { Ok(Value::str("")) } else { Err(io_error()) };
        ctx.finish(result);
    });
    response
}

/// A body sent in one piece, telling `taken` once the connection has it.
struct Whole {
    data: Option<Bytes>,
    taken: Option<oneshot::Sender<()>>,
}

impl http_body::Body for Whole {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        let me = self.get_mut();
        let frame = me.data.take().map(|d| Ok(http_body::Frame::data(d)));
        if let Some(t) = me.taken.take() {
            let _ = t.send(());
        }
        std::task::Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}
