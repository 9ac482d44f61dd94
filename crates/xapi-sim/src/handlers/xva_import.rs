//! `PUT /import` and `PUT /import_metadata`: an XVA read back into the
//! pool (the format and the import rules are in [`crate::xva::import`]), in
//! the order xapi's import.ml checks things. `/import`: credentials (realm
//! `VM.import`), the SR (`sr_id`, `sr_uuid`, else the pool's default, else
//! `DEFAULT_SR_NOT_FOUND`), a 302 to a host that sees it, then under the
//! task: progress 0.0, an ISO SR is a `400` (`SR_OPERATION_NOT_SUPPORTED`),
//! a request `Transfer-Encoding` a `403` (`IMPORT_ERROR_CANNOT_HANDLE_CHUNKED`),
//! else the `200` head before a byte of the body is read. The objects are
//! made, the task's `other_config:object_creation` becomes `complete`, the
//! disks stream in, and the task's result is the array of new VMs.
//! `/import_metadata` (realm `VM.metadata_import`) checks none of that:
//! `200`, the objects (existing disks matched, `dry_run` makes nothing),
//! then the rest of the body is read.
//!
//! The archive is read on a blocking worker fed through a small channel,
//! so memory stays constant; a cancelled task stops the import, and a
//! failure destroys what was made unless `force`.

use super::context::{error_page, Context, Params};
use super::raw_vdi::{bare, elsewhere, missing_uuid, ok, pump, redirect, settle, Drain, Feed};
use crate::core::Core;
use crate::db::{ApiResult, Failure};
use crate::xva::import::{self as xva, Api, Config, Header, Import, Kind};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::put;
use axum::Router;
use std::sync::Arc;
use tokio::sync::mpsc;
use xenapi::{Value, NULL_REF};

/// The routes of this module.
pub fn routes() -> Router<Arc<Core>> {
    Router::new().route("/import", put(import)).route("/import_metadata", put(import_metadata))
}

/// The SR of `sr_id` (a ref, cookie first), `sr_uuid`, or the pool's default.
fn target_sr(core: &Core, params: &Params) -> Result<String, (Failure, String)> {
    let db = core.db.read();
    if let Some(r) = params.cookie_first("sr_id") {
        return Ok(r.to_string());
    }
    if let Some(u) = params.cookie_first("sr_uuid") {
        return db.by_uuid(db.cls("SR"), u).map(str::to_string).ok_or_else(|| {
            let why = missing_uuid("SR", u);
            (Failure::new("UUID_INVALID", ["SR", u]), why)
        });
    }
    let default = db.all("pool").first().map(|p| db.string(p, "default_SR")).unwrap_or_else(|| NULL_REF.to_string());
    if db.is(&default, "SR") {
        Ok(default)
    } else {
        let f = Failure::new("DEFAULT_SR_NOT_FOUND", [default.as_str()]);
        let why = f.0.join(" ");
        Err((f, why))
    }
}

/// Progress of the disks on the task, in whole percents of the bytes
/// to write, and the check for a cancel.
struct TaskProgress {
    core: Arc<Core>,
    task: String,
    total: u64,
    done: u64,
    shown: i64,
}

impl xva::Progress for TaskProgress {
    fn advance(&mut self, bytes: u64) -> ApiResult<()> {
        if self.core.db.read().field_str(&self.task, "status") == "cancelling" {
            return Err(Failure::new("TASK_CANCELLED", [self.task.as_str()]));
        }
        self.done += bytes;
        let pct = (self.done.min(self.total) * 100 / self.total.max(1)) as i64;
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

/// Reads the whole import from `input`: `ova.xml`, the objects, the disks.
/// Answers the VMs made.
fn run(api: Api, task: String, config: Config, input: Drain) -> ApiResult<Vec<String>> {
    let core = api.core.clone();
    let metadata = matches!(config.kind, Kind::Metadata { .. });
    let (wrapping, input) = xva::open(input)?;
    xva::with_members(wrapping, input, true, |members| {
        let xml = members.ova_xml()?;
        let header = Header::parse(&xml)?;
        xva::assert_compatible(&core.db.read(), &header)?;
        let (vsn, force) = (header.export_vsn, config.force);
        let mut import = Import::new(api, &task, config, header);
        import.create()?;
        if metadata {
            return import.complete();
        }
        // The sign that the objects exist (XenCenter then remaps networks).
        core.write(|db| {
            if db.get(&task).is_some() {
                db.map_put(&task, "other_config", "object_creation", Some("complete"));
            }
            Ok(())
        })?;
        let streams = import.streams();
        let total = streams.iter().map(|s| s.size).sum();
        let mut progress = TaskProgress { core: core.clone(), task: task.clone(), total, done: 0, shown: 0 };
        let streamed = xva::stream(&core, members, &streams, vsn, force, &mut progress);
        let streamed = streamed.and_then(|()| {
            if core.db.read().field_str(&task, "status") == "cancelling" {
                return Err(Failure::new("TASK_CANCELLED", [task.as_str()]));
            }
            Ok(())
        });
        if let Err(e) = streamed {
            import.cleanup();
            return Err(e);
        }
        import.complete()
    })
}

/// xapi reads a body without `Content-Length` to the end of the archive;
/// hyper, under the simulator, takes such a request as having no body, so
/// it is refused in words rather than read as an empty archive.
fn with_length(ctx: Context, headers: &HeaderMap) -> Result<Context, Box<Response>> {
    if headers.contains_key(header::CONTENT_LENGTH) {
        return Ok(ctx);
    }
    let why = "xapi-sim cannot read an upload without Content-Length (its HTTP server takes it as empty)";
    ctx.finish(Err(Failure::new("INTERNAL_ERROR", [why])));
    Err(Box::new(bare(StatusCode::BAD_REQUEST, true)))
}

/// Answers the `200` and runs the import behind it; the answer's (empty)
/// body ends, closing the connection, once the task is finished.
fn start(ctx: Context, config: Config, body: Body) -> Response {
    let (end_tx, end_rx) = mpsc::channel::<Bytes>(1);
    let response = ok(
        &ctx,
        Body::new(Feed { rx: end_rx, delivered: None }),
        &[(header::CONTENT_TYPE, "application/octet-stream".to_string())],
    );
    tokio::spawn(async move {
        let (tx, rx) = mpsc::channel(4);
        let pump = tokio::spawn(pump(body, tx));
        let input = Drain { rx, cur: Bytes::new() };
        let api =
            Api { core: ctx.core.clone(), session: ctx.session.clone(), runtime: tokio::runtime::Handle::current() };
        let task = ctx.task.clone();
        let worker = tokio::task::spawn_blocking(move || run(api, task, config, input));
        let result = match worker.await {
            Ok(r) => r,
            Err(_) => Err(Failure::new("INTERNAL_ERROR", ["the import worker stopped"])),
        };
        pump.abort();
        let result = result.map(|vms| Value::Array(vms.into_iter().map(Value::String).collect()));
        let result = settle(&ctx.core, &ctx.task, result);
        ctx.finish(result);
        drop(end_tx);
    });
    response
}

async fn import(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let params = Params::new(&uri, &headers);
    let ctx = match Context::open(&core, &params, &headers, "VM.import", "put_import").await {
        Ok(ctx) => ctx,
        Err(page) => return page,
    };
    let sr = match target_sr(&core, &params) {
        Ok(sr) => sr,
        Err((f, why)) => {
            ctx.finish(Err(f));
            return error_page(StatusCode::INTERNAL_SERVER_ERROR, &why);
        }
    };
    let place = {
        let db = core.db.read();
        match db.is(&sr, "SR") {
            true => elsewhere(&db, &headers, &sr),
            false => Err(Failure::new("HANDLE_INVALID", ["SR", sr.as_str()])),
        }
    };
    match place {
        Ok(Some(address)) => {
            ctx.abandon();
            return redirect(&address, &uri);
        }
        Err(e) => {
            let why = e.0.join(" ");
            ctx.finish(Err(e));
            return error_page(StatusCode::INTERNAL_SERVER_ERROR, &why);
        }
        Ok(None) => {}
    }
    if let Err(e) = ctx.take() {
        ctx.finish(Err(e));
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "cannot take the task");
    }
    if core.db.read().string(&sr, "content_type") == "iso" {
        ctx.finish(Err(Failure::new::<&str>("SR_OPERATION_NOT_SUPPORTED", [])));
        return bare(StatusCode::BAD_REQUEST, false);
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        ctx.finish(Err(Failure::new::<&str>("IMPORT_ERROR_CANNOT_HANDLE_CHUNKED", [])));
        return bare(StatusCode::FORBIDDEN, false);
    }
    let ctx = match with_length(ctx, &headers) {
        Ok(ctx) => ctx,
        Err(refusal) => return *refusal,
    };
    let config = Config { kind: Kind::Full { sr }, restore: params.is_true("restore"), force: params.is_true("force") };
    start(ctx, config, body)
}

/// `vdi:<exported>=<existing>` parameters.
fn vdi_map(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            let decode = |t: &str| percent_encoding::percent_decode_str(t).decode_utf8_lossy().into_owned();
            (decode(k), decode(v))
        })
        .filter_map(|(k, v)| k.strip_prefix("vdi:").filter(|k| !k.is_empty()).map(|k| (k.to_string(), v)))
        .collect()
}

async fn import_metadata(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let params = Params::new(&uri, &headers);
    let ctx = match Context::open(&core, &params, &headers, "VM.metadata_import", "put_import_metadata").await {
        Ok(ctx) => ctx,
        Err(page) => return page,
    };
    if let Err(e) = ctx.take() {
        ctx.finish(Err(e));
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "cannot take the task");
    }
    let ctx = match with_length(ctx, &headers) {
        Ok(ctx) => ctx,
        Err(refusal) => return *refusal,
    };
    let kind = Kind::Metadata { dry_run: params.is_true("dry_run"), vdi_map: vdi_map(&uri) };
    let config = Config { kind, restore: params.is_true("restore"), force: params.is_true("force") };
    start(ctx, config, body)
}
