//! `GET /export_raw_vdi` and `PUT /import_raw_vdi`: a disk's contents as raw
//! bytes or a VHD, in the order xapi's `export_raw_vdi.ml` and
//! `import_raw_vdi.ml` check things: credentials (realm `VDI.export_raw` or
//! `VDI.import`), the `vdi` (ref or uuid: 500 when unknown) or the SR of a
//! new disk (`sr_id` or `sr_uuid`), a 302 to a host that sees the SR when
//! this one does not, then under the task: the format (`raw`, `vhd`; an
//! unknown one, `chunked` with a VHD, or a request `Transfer-Encoding` is an
//! `HTTP/1.0 404` and a failed task), the `200` head (`task-id`, content
//! type, and for exports `Content-Disposition`), and the bytes, with the
//! task's progress following them. Failures after the head show only in
//! the task (`VDI_IO_ERROR`, `VDI_TOO_LARGE`, ...); a cancelled task stops
//! the transfer.
//!
//! Bodies stream at constant memory: a blocking worker reads or writes the
//! disk a block at a time through a small channel. `tar` exports are
//! XVA-style blocks ([`crate::xva::export::write_disk`]); a `tar` upload
//! (`vdi/%08d` blocks, each checked against its `.xxhash`) is read by
//! `xva::import::stream`; `qcow2`, which xapi supports, is refused like an
//! unknown format, with a task error that says the simulator lacks it.
//!
//! hyper decides some framing: data answers are sent as `HTTP/1.0` (xapi
//! says `HTTP/1.1 200 OK` but closes the connection to end the body; hyper
//! would otherwise chunk a body without length for HTTP/1.1 clients), and
//! it always writes `task-id: T` with a space.

use super::context::{error_page, Context, Params};
use crate::core::Core;
use crate::db::{ApiResult, Db, Failure};
use crate::disks::{self, BlockMap, BLOCK};
use crate::rules::placement::sr_visible;
use crate::vhd;
use crate::xva::import as xva;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri, Version};
use axum::response::Response;
use axum::routing::{get, put};
use axum::Router;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as Cx, Poll};
use tokio::sync::{mpsc, oneshot};
use xenapi::Value;

/// The routes of this module.
pub fn routes() -> Router<Arc<Core>> {
    Router::new().route("/export_raw_vdi", get(export)).route("/import_raw_vdi", put(import))
}

const BLOCK_U64: u64 = BLOCK as u64;

/// A disk image format xapi knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Raw,
    Vhd,
    Tar,
    Qcow2,
}

impl Format {
    /// The `format` parameter (query, then cookie), case-insensitive; raw
    /// when absent; `Err` with the value when unknown.
    fn of(params: &Params) -> Result<Format, String> {
        let Some(text) = params.get("format") else { return Ok(Format::Raw) };
        match text.to_ascii_lowercase().as_str() {
            "raw" => Ok(Format::Raw),
            "vhd" => Ok(Format::Vhd),
            "tar" => Ok(Format::Tar),
            "qcow2" => Ok(Format::Qcow2),
            _ => Err(text.to_string()),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Vhd => "vhd",
            Format::Tar => "tar",
            Format::Qcow2 => "qcow2",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Raw => "application/octet-stream",
            Format::Vhd => "application/vhd",
            Format::Tar => "application/x-tar",
            Format::Qcow2 => "application/x-qemu-disk",
        }
    }

    /// The refusal of a format xapi has and the simulator does not.
    fn unsupported(self) -> Option<Failure> {
        matches!(self, Format::Qcow2)
            .then(|| internal(&format!("xapi-sim does not implement the {} disk format (use raw or vhd)", self.name())))
    }
}

pub(super) fn internal(why: &str) -> Failure {
    Failure::new("INTERNAL_ERROR", [why])
}

pub(super) fn io_error() -> Failure {
    Failure::new("VDI_IO_ERROR", ["Device I/O errors"])
}

/// A head-only answer as xapi's `Http` module writes it.
pub(super) fn bare(status: StatusCode, http10: bool) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    if http10 {
        *r.version_mut() = Version::HTTP_10;
    }
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
    r
}

/// The `200` that starts a transfer; `body` ends when the transfer does.
pub(super) fn ok(ctx: &Context, body: Body, extra: &[(header::HeaderName, String)]) -> Response {
    let mut r = bare(StatusCode::OK, true);
    *r.body_mut() = body;
    let (name, value) = ctx.task_header(false);
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&value) {
        h.insert(name, v);
    }
    for (k, v) in extra {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k.clone(), v);
        }
    }
    r
}

/// The VDI a parameter names, by ref or uuid.
fn find_vdi(db: &Db, text: &str) -> Option<String> {
    if db.is(text, "VDI") {
        return Some(text.to_string());
    }
    db.by_uuid(db.cls("VDI"), text).map(str::to_string)
}

/// xapi's page for `Db.VDI.get_by_uuid` failing inside a handler.
pub(super) fn missing_uuid(class: &str, uuid: &str) -> String {
    format!("Db_exn.Read_missing_uuid(\"{class}\", \"\", \"{uuid}\")")
}

/// The host this request reached: the one whose address the `Host` header
/// names, else the master (where clients connect).
pub(super) fn local_host(db: &Db, headers: &HeaderMap) -> String {
    let named = headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(crate::faults::host_part);
    named
        .and_then(|name| db.all("host").into_iter().find(|h| db.field_str(h, "address") == name))
        .unwrap_or_else(|| crate::rules::pool::master(db))
}

/// Where to send a request for an SR this host cannot see: `Ok(None)` when
/// it can, the address of a host that can, or `Err` when none can.
pub(super) fn elsewhere(db: &Db, headers: &HeaderMap, sr: &str) -> Result<Option<String>, Failure> {
    if sr_visible(db, sr, &local_host(db, headers)) {
        return Ok(None);
    }
    let host = db.all("host").into_iter().find(|h| sr_visible(db, sr, h));
    host.map(|h| Some(db.string(&h, "address"))).ok_or_else(|| Failure::new::<&str>("NO_HOSTS_AVAILABLE", []))
}

/// xapi's 302 to the same path and query on another host, always https.
pub(super) fn redirect(address: &str, uri: &Uri) -> Response {
    let mut r = bare(StatusCode::FOUND, false);
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    if let Ok(v) = HeaderValue::from_str(&format!("https://{address}{}{query}", uri.path())) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

// --- streaming ------------------------------------------------------------------

/// A response body fed by a channel; tells `delivered` once every chunk has
/// been handed to the connection.
pub(super) struct Feed {
    pub(super) rx: mpsc::Receiver<Bytes>,
    pub(super) delivered: Option<oneshot::Sender<()>>,
}

impl http_body::Body for Feed {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Cx<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        let me = self.get_mut();
        match me.rx.poll_recv(cx) {
            Poll::Ready(Some(b)) => Poll::Ready(Some(Ok(http_body::Frame::data(b)))),
            Poll::Ready(None) => {
                if let Some(d) = me.delivered.take() {
                    let _ = d.send(());
                }
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A request body read as a blocking `Read`, fed by [`pump`].
pub(super) struct Drain {
    pub(super) rx: mpsc::Receiver<io::Result<Bytes>>,
    pub(super) cur: Bytes,
}

impl Read for Drain {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// Moves a request body's data into a channel, until the reader stops.
pub(super) async fn pump(mut body: Body, tx: mpsc::Sender<io::Result<Bytes>>) {
    use http_body::Body as _;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        let item = match frame {
            None => return,
            Some(Ok(f)) => match f.into_data() {
                Ok(d) if d.is_empty() => continue,
                Ok(d) => Ok(d),
                Err(_) => continue,
            },
            Some(Err(e)) => Err(io::Error::other(e.to_string())),
        };
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            return;
        }
    }
}

/// Progress of a transfer on its task, in whole percents as vhd-tool
/// reports them, and the check for a cancel.
struct Progress {
    core: Arc<Core>,
    task: String,
    total: u64,
    shown: i64,
}

impl Progress {
    fn new(core: &Arc<Core>, task: &str, total: u64) -> Progress {
        Progress { core: core.clone(), task: task.to_string(), total: total.max(1), shown: 0 }
    }

    fn update(&mut self, done: u64) -> ApiResult<()> {
        if self.core.db.read().field_str(&self.task, "status") == "cancelling" {
            return Err(Failure::new("TASK_CANCELLED", [self.task.as_str()]));
        }
        let pct = (done.min(self.total) * 100 / self.total) as i64;
        if pct != self.shown {
            self.shown = pct;
            self.core.write(|db| {
                if db.get(&self.task).is_some() {
                    db.set_named(&self.task, "progress", Value::Float(pct as f64 / 100.0));
                }
                Ok(())
            })?;
        }
        Ok(())
    }
}

/// A transfer that stopped while its task was being cancelled was
/// cancelled, whatever broke first (the client may hang up at once).
pub(super) fn settle(core: &Core, task: &str, result: ApiResult<Value>) -> ApiResult<Value> {
    match result {
        Err(_) if core.db.read().field_str(task, "status") == "cancelling" => {
            Err(Failure::new("TASK_CANCELLED", [task]))
        }
        other => other,
    }
}

// --- export ---------------------------------------------------------------------

/// What an export sends, fixed when it starts.
struct Export {
    format: Format,
    size: u64,
    blocks: BlockMap,
    /// With `base`: the base's blocks; only blocks that differ are sent.
    base: Option<BlockMap>,
    uuid: String,
    base_uuid: String,
}

impl Export {
    /// Whether block `i` differs from the base (always, without one).
    fn changed(&self, i: u64) -> bool {
        let Some(base) = &self.base else { return true };
        match (self.blocks.get(&i), base.get(&i)) {
            (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
            (None, None) => false,
            _ => true,
        }
    }

    fn nblocks(&self) -> u64 {
        self.size.div_ceil(BLOCK_U64)
    }

    /// Sends block `i` (`len` bytes): its stored bytes, then zeros.
    fn send_block(&self, tx: &mpsc::Sender<Bytes>, i: u64, len: usize, zero: bool) -> ApiResult<u64> {
        let stored = match self.blocks.get(&i) {
            Some(b) if !zero => b.bytes().map_err(|_| io_error())?,
            _ => Bytes::new(),
        };
        let head = stored.slice(..stored.len().min(len));
        let tail = len - head.len();
        for chunk in [head, disks::zeros(tail)] {
            if !chunk.is_empty() {
                tx.blocking_send(chunk).map_err(|_| io_error())?;
            }
        }
        Ok(len as u64)
    }

    fn run(self, tx: mpsc::Sender<Bytes>, mut progress: Progress) -> ApiResult<()> {
        match self.format {
            Format::Vhd => self.run_vhd(&tx, &mut progress),
            Format::Tar => self.run_tar(&tx, &mut progress),
            _ => self.run_raw(&tx, &mut progress),
        }
    }

    /// Every byte of the disk; with a base, unchanged blocks as zeros.
    fn run_raw(&self, tx: &mpsc::Sender<Bytes>, progress: &mut Progress) -> ApiResult<()> {
        let mut sent = 0u64;
        for i in 0..self.nblocks() {
            let len = (self.size - i * BLOCK_U64).min(BLOCK_U64) as usize;
            sent += self.send_block(tx, i, len, !self.changed(i))?;
            progress.update(sent)?;
        }
        Ok(())
    }

    /// The disk as `vdi/%08d` 1 MiB blocks, each followed by its `.xxhash`
    /// member, all-zero ones left out but the first and last, then the
    /// tar's two zero blocks (xapi's `format=tar`, an XVA without `ova.xml`).
    fn run_tar(&self, tx: &mpsc::Sender<Bytes>, progress: &mut Progress) -> ApiResult<()> {
        struct Out<'a>(&'a mpsc::Sender<Bytes>);
        impl io::Write for Out<'_> {
            fn write(&mut self, data: &[u8]) -> io::Result<usize> {
                self.0.blocking_send(Bytes::copy_from_slice(data)).map_err(|_| io::ErrorKind::BrokenPipe)?;
                Ok(data.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut tar = crate::xva::export::TarWriter::new(Out(tx));
        let mut stop = None;
        let mut done = |n: u64| {
            progress.update(n).map_err(|f| {
                stop = Some(f);
                io::Error::other("stopped")
            })
        };
        let written = crate::xva::export::write_disk(&mut tar, "vdi", &self.blocks, self.size, &mut done);
        if let Some(f) = stop {
            return Err(f);
        }
        written.and_then(|()| tar.finish().map(drop)).map_err(|_| io_error())
    }

    /// A dynamic VHD of the allocated blocks, or with a base a differencing
    /// VHD of the blocks that differ from it.
    fn run_vhd(&self, tx: &mpsc::Sender<Bytes>, progress: &mut Progress) -> ApiResult<()> {
        let indices: Vec<u64> = match &self.base {
            None => self.blocks.keys().copied().collect(),
            Some(base) => {
                let mut all: Vec<u64> = self.blocks.keys().chain(base.keys()).copied().collect();
                all.sort_unstable();
                all.dedup();
                all.into_iter().filter(|&i| self.changed(i)).collect()
            }
        };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let parent = self.base.as_ref().map(|_| vhd::Parent {
            uuid: uuid_bytes(&self.base_uuid),
            timestamp: vhd::timestamp(now),
            name: format!("{}.vhd", self.base_uuid),
        });
        let layout = vhd::Layout {
            size: self.size,
            uuid: uuid_bytes(&self.uuid),
            timestamp: vhd::timestamp(now),
            blocks: indices,
            parent,
        };
        let mut progress_total = Progress::new(&progress.core, &progress.task, layout.total_len());
        progress_total.shown = progress.shown;
        let send = |b: Bytes| tx.blocking_send(b).map_err(|_| io_error());
        let head = layout.head();
        let mut sent = head.len() as u64;
        send(Bytes::from(head))?;
        static BITMAP: [u8; 512] = [0xFF; 512];
        for &i in &layout.blocks {
            send(Bytes::from_static(&BITMAP))?;
            sent += 512 + self.send_block(tx, i, BLOCK, false)?;
            progress_total.update(sent)?;
        }
        send(Bytes::copy_from_slice(&layout.footer()))?;
        Ok(())
    }
}

/// The 16 bytes of a uuid's hex digits (zeros where it has none).
fn uuid_bytes(uuid: &str) -> [u8; 16] {
    let hex: Vec<u8> = uuid.bytes().filter(u8::is_ascii_hexdigit).collect();
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).take(16).enumerate() {
        let text = std::str::from_utf8(pair).unwrap_or("0");
        out[i] = u8::from_str_radix(text, 16).unwrap_or(0);
    }
    out
}

/// Finds what an export sends once its head is out: the base, and for a VHD the size limit.
fn plan_export(core: &Core, vdi: &str, format: Format, params: &Params) -> ApiResult<Export> {
    let db = core.db.read();
    db.expect_is(vdi, "VDI")?;
    let size = db.int(vdi, "virtual_size").max(0) as u64;
    if format == Format::Vhd && size > vhd::MAX_SIZE {
        return Err(Failure::new("VDI_TOO_LARGE", [vdi.to_string(), vhd::MAX_SIZE.to_string()]));
    }
    let uuid = db.string(vdi, "uuid");
    let (base, base_uuid) = match params.get("base") {
        None => (None, String::new()),
        Some(b) => {
            let base = find_vdi(&db, b).ok_or_else(|| Failure::new("UUID_INVALID", ["VDI", b]))?;
            let vhd_backed = |v: &str| {
                let sr = db.string(v, "SR");
                matches!(
                    crate::rules::sm::alloc_of(&db, &sr),
                    crate::rules::sm::Alloc::Lvhd | crate::rules::sm::Alloc::VhdFile
                )
            };
            if !vhd_backed(vdi) || !vhd_backed(&base) {
                return Err(io_error());
            }
            let base_uuid = db.string(&base, "uuid");
            (Some(core.disks.view(&base_uuid)), base_uuid)
        }
    };
    Ok(Export { format, size, blocks: core.disks.view(&uuid), base, uuid, base_uuid })
}

async fn export(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap) -> Response {
    let params = Params::new(&uri, &headers);
    let ctx =
        match Context::open_as(&core, &params, &headers, "VDI.export_raw", "Exporting raw VDI", "get_export_raw_vdi")
            .await
        {
            Ok(ctx) => ctx,
            Err(page) => return page,
        };
    let Some(given) = params.get("vdi") else {
        let why = "Failure(\"Missing vdi query parameter\")";
        ctx.finish(Err(internal(why)));
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, why);
    };
    let found = {
        let db = core.db.read();
        find_vdi(&db, given).map(|v| (elsewhere(&db, &headers, &db.string(&v, "SR")), v))
    };
    let vdi = match found {
        None => {
            let why = missing_uuid("VDI", given);
            ctx.finish(Err(Failure::new("UUID_INVALID", ["VDI", given])));
            return error_page(StatusCode::INTERNAL_SERVER_ERROR, &why);
        }
        Some((Ok(Some(address)), _)) => {
            ctx.abandon();
            return redirect(&address, &uri);
        }
        Some((Err(e), _)) => {
            let why = e.0.join(" ");
            ctx.finish(Err(e));
            return error_page(StatusCode::INTERNAL_SERVER_ERROR, &why);
        }
        Some((Ok(None), vdi)) => vdi,
    };
    let format = match Format::of(&params) {
        Ok(f) => f,
        Err(x) => {
            ctx.finish(Err(internal(&format!("Unknown format {x}"))));
            return bare(StatusCode::NOT_FOUND, true);
        }
    };
    // Exports write tar (XVA-style blocks): see `run_tar`.
    if let Some(refusal) = format.unsupported() {
        ctx.finish(Err(refusal));
        return bare(StatusCode::NOT_FOUND, true);
    }
    if let Err(e) = ctx.take() {
        ctx.finish(Err(e));
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "cannot take the task");
    }
    let uuid = core.db.read().string(&vdi, "uuid");
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let (delivered_tx, delivered) = oneshot::channel();
    let disposition = format!("attachment; filename=\"{uuid}.{}\"", format.name());
    let extra = [(header::CONTENT_TYPE, format.content_type().to_string()), (header::CONTENT_DISPOSITION, disposition)];
    let response = ok(&ctx, Body::new(Feed { rx, delivered: Some(delivered_tx) }), &extra);
    let plan = plan_export(&core, &vdi, format, &params);
    tokio::spawn(async move {
        let result = match plan {
            Err(e) => Err(e),
            Ok(plan) => {
                let progress = Progress::new(&ctx.core, &ctx.task, plan.size);
                let worker = tokio::task::spawn_blocking(move || plan.run(tx, progress));
                match worker.await {
                    Ok(Ok(())) if delivered.await.is_ok() => Ok(Value::str("")),
                    Ok(Ok(())) => Err(io_error()),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(io_error()),
                }
            }
        };
        let result = settle(&ctx.core, &ctx.task, result);
        ctx.finish(result);
    });
    response
}

// --- import ---------------------------------------------------------------------

/// What an import writes into, once its head is out.
struct Import {
    format: Format,
    chunked: bool,
    length: Option<u64>,
    uuid: String,
    size: u64,
    /// The disk's ref (a tar upload names blocks, not offsets).
    vdi: String,
}

/// Sends a VHD's data to a disk writer, reporting progress.
struct VhdSink<'a> {
    writer: Option<disks::Writer>,
    disks: &'a disks::Disks,
    uuid: &'a str,
    size: u64,
    progress: &'a mut Progress,
    failure: Option<Failure>,
}

impl vhd::Sink for VhdSink<'_> {
    fn start(&mut self, ty: vhd::DiskType, image: u64) -> io::Result<()> {
        // A differencing image changes only what it holds; the others are the whole disk.
        self.writer = Some(match ty {
            vhd::DiskType::Differencing => self.disks.writer(self.uuid, self.size),
            _ => self.disks.replacing_writer(self.uuid, self.size, image),
        });
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        // An image may be a little bigger than the disk (qemu rounds sizes up
        // to whole cylinders): what lies beyond must be zeros.
        let within = self.size.saturating_sub(offset).min(data.len() as u64) as usize;
        if data[within..].iter().any(|&b| b != 0) {
            return Err(io::Error::other("data beyond the end of the disk"));
        }
        match &mut self.writer {
            Some(w) if within > 0 => w.write_at(offset, &data[..within]),
            Some(_) => Ok(()),
            None => Err(io::Error::other("data before the VHD's header")),
        }
    }

    fn progress(&mut self, read: u64) -> io::Result<()> {
        self.progress.update(read).map_err(|f| {
            self.failure = Some(f);
            io::Error::other("stopped")
        })
    }
}

impl Import {
    fn run(self, core: &Arc<Core>, mut input: Drain, progress: &mut Progress) -> ApiResult<()> {
        let disks = &core.disks;
        match self.format {
            Format::Tar => {
                // `vdi/%08d` blocks with `.xxhash` members, always checked.
                let stream = xva::Stream { id: "vdi".into(), vdi: self.vdi, size: self.size, fresh: false };
                let mut sink = TarProgress { progress, done: 0 };
                let (wrapping, input) = (xva::Wrapping::Plain, Box::new(input) as xva::Input);
                xva::with_members(wrapping, input, true, |m| xva::stream(core, m, &[stream], 2, false, &mut sink))
            }
            Format::Vhd => {
                let mut sink =
                    VhdSink { writer: None, disks, uuid: &self.uuid, size: self.size, progress, failure: None };
                let read = vhd::read(&mut input, self.length, &mut sink);
                if let Some(f) = sink.failure.take() {
                    return Err(f);
                }
                read.map_err(|_| io_error())?;
                sink.writer.map_or(Ok(()), disks::Writer::finish).map_err(|_| io_error())
            }
            _ if self.chunked => {
                let mut w = disks.writer(&self.uuid, self.size);
                let mut done = 0u64;
                loop {
                    let mut head = [0u8; 12];
                    input.read_exact(&mut head).map_err(|_| io_error())?;
                    let offset = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
                    let len = u64::from(u32::from_le_bytes(head[8..].try_into().expect("4 bytes")));
                    if offset == 0 && len == 0 {
                        break;
                    }
                    copy_into(&mut input, &mut w, offset, len)?;
                    done += len;
                    progress.update(done)?;
                }
                w.finish().map_err(|_| io_error())
            }
            _ => {
                let expected = self.length.unwrap_or(self.size);
                if expected > self.size {
                    return Err(io_error());
                }
                let mut w = disks.writer(&self.uuid, self.size);
                let mut pos = 0u64;
                while pos < expected {
                    let n = (expected - pos).min(BLOCK_U64);
                    copy_into(&mut input, &mut w, pos, n)?;
                    pos += n;
                    progress.update(pos)?;
                }
                w.finish().map_err(|_| io_error())
            }
        }
    }
}

/// A tar upload's progress: blocks written so far, on the task.
struct TarProgress<'a> {
    progress: &'a mut Progress,
    done: u64,
}

impl xva::Progress for TarProgress<'_> {
    fn advance(&mut self, bytes: u64) -> ApiResult<()> {
        self.done += bytes;
        self.progress.update(self.done)
    }
}

/// Copies exactly `len` bytes of `input` to the disk at `offset`.
fn copy_into(input: &mut impl Read, w: &mut disks::Writer, offset: u64, len: u64) -> ApiResult<()> {
    let mut buf = vec![0u8; len.min(BLOCK_U64) as usize];
    let mut done = 0u64;
    while done < len {
        let n = ((len - done) as usize).min(buf.len());
        input.read_exact(&mut buf[..n]).map_err(|_| io_error())?;
        w.write_at(offset + done, &buf[..n]).map_err(|_| io_error())?;
        done += n as u64;
    }
    Ok(())
}

/// The SR of `sr_id` (a ref, unchecked as xapi leaves it) or `sr_uuid`, cookie first.
fn sr_param(db: &Db, params: &Params) -> Result<Option<String>, String> {
    if let Some(r) = params.cookie_first("sr_id") {
        return Ok(Some(r.to_string()));
    }
    match params.cookie_first("sr_uuid") {
        None => Ok(None),
        Some(u) => db.by_uuid(db.cls("SR"), u).map(|r| Some(r.to_string())).ok_or_else(|| missing_uuid("SR", u)),
    }
}

pub(super) async fn import(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let params = Params::new(&uri, &headers);
    let ctx = match Context::open_as(&core, &params, &headers, "VDI.import", "Importing raw VDI", "put_import_raw_vdi")
        .await
    {
        Ok(ctx) => ctx,
        Err(page) => return page,
    };
    // The disk, or the SR of a new one, and where its SR is seen.
    let found = {
        let db = core.db.read();
        let vdi = match params.get("vdi") {
            None => Ok(None),
            Some(v) => find_vdi(&db, v).map(Some).ok_or_else(|| missing_uuid("VDI", v)),
        };
        vdi.and_then(|vdi| {
            let sr = match &vdi {
                Some(v) => Some(db.string(v, "SR")),
                None => sr_param(&db, &params)?,
            };
            let place = sr.as_deref().map(|sr| match db.is(sr, "SR") {
                true => elsewhere(&db, &headers, sr),
                false => Err(Failure::new("HANDLE_INVALID", ["SR", sr])),
            });
            Ok((vdi, sr, place))
        })
    };
    let (vdi, sr) = match found {
        Err(why) => {
            ctx.finish(Err(internal(&why)));
            return error_page(StatusCode::INTERNAL_SERVER_ERROR, &why);
        }
        Ok((_, _, None)) => {
            ctx.finish(Err(Failure::new::<&str>("VDI_MISSING", [])));
            return bare(StatusCode::BAD_REQUEST, false);
        }
        Ok((_, _, Some(Err(e)))) => {
            ctx.finish(Err(e));
            return bare(StatusCode::BAD_REQUEST, false);
        }
        Ok((_, _, Some(Ok(Some(address))))) => {
            ctx.abandon();
            return redirect(&address, &uri);
        }
        Ok((vdi, sr, Some(Ok(None)))) => (vdi, sr.unwrap_or_default()),
    };
    let chunked = params.has("chunked");
    let refusal = match Format::of(&params) {
        Err(x) => Err(internal(&format!("Unknown format {x}"))),
        Ok(f) if f != Format::Raw && chunked => Err(internal("Cannot handle chunked VHD")),
        Ok(f) => match f.unsupported() {
            Some(r) => Err(r),
            None => Ok(f),
        },
    };
    let refusal = refusal.and_then(|f| match headers.get(header::TRANSFER_ENCODING) {
        Some(te) => Err(internal(&format!("Cannot handle encoding: {}", te.to_str().unwrap_or("?")))),
        None => Ok(f),
    });
    let format = match refusal {
        Ok(f) => f,
        Err(e) => {
            ctx.finish(Err(e));
            return bare(StatusCode::NOT_FOUND, true);
        }
    };
    let length = headers.get(header::CONTENT_LENGTH).and_then(|h| h.to_str().ok()).and_then(|h| h.parse::<u64>().ok());
    if length.is_none() && vdi.is_some() {
        // xapi reads such a body to the end of the connection; hyper, under
        // the simulator, takes a request without a length as having no body.
        let why = "xapi-sim cannot read an upload without Content-Length (its HTTP server takes it as empty)";
        ctx.finish(Err(internal(why)));
        return bare(StatusCode::BAD_REQUEST, true);
    }
    let vdi = match (vdi, format, length) {
        (Some(vdi), _, _) => vdi,
        (None, Format::Raw, Some(length)) => {
            let record = Value::Struct(vec![
                ("name_label".into(), Value::str("Imported VDI")),
                ("name_description".into(), Value::str("")),
                ("SR".into(), Value::str(&sr)),
                ("virtual_size".into(), Value::Int(i64::try_from(length).unwrap_or(i64::MAX))),
                ("type".into(), Value::str("user")),
                ("sharable".into(), Value::Bool(false)),
                ("read_only".into(), Value::Bool(false)),
                ("other_config".into(), Value::Struct(Vec::new())),
                ("xenstore_data".into(), Value::Struct(Vec::new())),
                ("sm_config".into(), Value::Struct(Vec::new())),
                ("tags".into(), Value::Array(Vec::new())),
            ]);
            let made = crate::rpc::dispatch(&core, "VDI.create", vec![Value::str(&ctx.session), record]).await;
            match made {
                Ok(Value::String(v)) => v,
                Ok(other) => {
                    ctx.finish(Err(internal(&format!("VDI.create answered {other:?}"))));
                    return error_page(StatusCode::INTERNAL_SERVER_ERROR, "VDI.create failed");
                }
                Err(e) => {
                    let why = e.0.join(" ");
                    ctx.finish(Err(e));
                    return error_page(StatusCode::INTERNAL_SERVER_ERROR, &why);
                }
            }
        }
        (None, Format::Vhd, _) => {
            ctx.finish(Err(internal("Importing a VHD directly into an SR not yet supported")));
            return bare(StatusCode::BAD_REQUEST, true);
        }
        (None, _, _) => {
            ctx.finish(Err(internal("Not enough info supplied to import")));
            return bare(StatusCode::BAD_REQUEST, true);
        }
    };
    if let Err(e) = ctx.take() {
        ctx.finish(Err(e));
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "cannot take the task");
    }
    let (uuid, size, read_only) = {
        let db = core.db.read();
        (db.string(&vdi, "uuid"), db.int(&vdi, "virtual_size").max(0) as u64, db.bool(&vdi, "read_only"))
    };
    // The head goes out before a byte of the body is read; the answer's
    // (empty) body ends, closing the connection, once the task is finished.
    let (end_tx, end_rx) = mpsc::channel::<Bytes>(1);
    let response = ok(
        &ctx,
        Body::new(Feed { rx: end_rx, delivered: None }),
        &[(header::CONTENT_TYPE, "application/octet-stream".to_string())],
    );
    let job = Import { format, chunked, length, uuid, size, vdi: vdi.clone() };
    tokio::spawn(async move {
        let result = if read_only {
            Err(Failure::new("VDI_READ_ONLY", [vdi.as_str()]))
        } else {
            let (tx, rx) = mpsc::channel(4);
            let pump = tokio::spawn(pump(body, tx));
            let input = Drain { rx, cur: Bytes::new() };
            let core = ctx.core.clone();
            let mut progress = Progress::new(&core, &ctx.task, length.unwrap_or(size));
            let worker = tokio::task::spawn_blocking(move || job.run(&core, input, &mut progress));
            let result = worker.await.unwrap_or_else(|_| Err(io_error()));
            pump.abort();
            result
        };
        let result = result.and_then(|()| {
            ctx.core.write(|db| {
                if db.is(&vdi, "VDI") {
                    let uuid = db.string(&vdi, "uuid");
                    let parent = db.map_get(&vdi, "sm_config", "vhd-parent");
                    let own = ctx.core.disks.own_blocks(&uuid, parent.as_deref());
                    crate::rules::storage::record_written(db, &vdi, own);
                }
                Ok(())
            })
        });
        let result = settle(&ctx.core, &ctx.task, result.map(|()| Value::String(vdi)));
        ctx.finish(result);
        drop(end_tx);
    });
    response
}
