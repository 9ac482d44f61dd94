//! `/pool/xmldbdump`: `GET` sends the pool database in xapi's XML format
//! (`xe pool-dump-database`), `PUT` restores one (`xe pool-restore-database`),
//! as xen-api's `Pool_db_backup` handlers do.
//!
//! A restore needs a `Content-Length` (400 without one), answers 200 before
//! it reads a byte, then reads exactly that many bytes and checks them: a
//! file it cannot read fails the task with `INTERNAL_ERROR`, one of another
//! schema version with `RESTORE_INCOMPATIBLE_VERSION`, one whose master's
//! devices this host lacks with `RESTORE_TARGET_*` ([`crate::rules::restore`]).
//! `dry_run=true` stops there. Otherwise the prepared database is staged
//! durably beside `--state` (xapi's `db_temporary_restore_path`), the task
//! succeeds, and the host "restarts" onto it when xapi's 30-second fuse
//! has burnt (30 s times `--time-scale`) and the caller's task, if it gave
//! one, is gone (xe destroys it once it has read the outcome): the database
//! is swapped at once, every session and task of the old one is gone, and
//! the state holds the restored pool. Until then the old pool is served.

use super::context::{error_page, Context, Params};
use crate::core::Core;
use crate::db::{ApiResult, Db, Failure};
use crate::xmldb;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::future::Future as _;
use std::sync::Arc;
use std::time::Duration;
use xenapi::Value;

/// The labels xapi gives these handlers: the 401 realm and a new task's name.
const DUMP: &str = "Dumping database as XML";
const RESTORE: &str = "Reading database as XML";

/// xapi's `db_restore_fuse_time`: the restart comes this long after a restore.
pub const FUSE_SECS: f64 = 30.0;

/// The largest database the simulator takes in a restore (it is read into memory).
const MAX_DB: u64 = 1 << 30;

pub fn router() -> Router<Arc<Core>> {
    Router::new().route("/pool/xmldbdump", get(dump).put(restore))
}

async fn dump(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap) -> Response {
    let params = Params::new(&uri, &headers);
    let ctx = match Context::open(&core, &params, &headers, DUMP, "get_pool_xml_db_sync").await {
        Ok(ctx) => ctx,
        Err(page) => return page,
    };
    let text = xmldb::dump(&core.db.read());
    ctx.finish(Ok(Value::str("")));
    // xapi sends no type and no length: the body ends when the connection closes.
    let mut resp = Response::new(Body::from(text));
    resp.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    resp
}

async fn restore(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let params = Params::new(&uri, &headers);
    let ctx = match Context::open(&core, &params, &headers, RESTORE, "put_pool_xml_db_sync").await {
        Ok(ctx) => ctx,
        Err(page) => return page,
    };
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    let Some(length) = length else {
        // xapi answers 400 and returns normally, so the task succeeds.
        ctx.finish(Ok(Value::str("")));
        return error_page(StatusCode::BAD_REQUEST, "a database restore needs a Content-Length");
    };
    if length > MAX_DB {
        ctx.finish(Err(Failure::new("INTERNAL_ERROR", [format!("a database of {length} bytes is too large")])));
        return error_page(StatusCode::BAD_REQUEST, "the database is too large for the simulator");
    }
    let dry_run = params.is_true("dry_run");
    let caller_task = params.cookie_first("task_id").is_some();
    // The answer's head goes out now; its (empty) body ends when the work
    // does, so the connection stays open while the request body is read.
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let result = match read_exactly(body, length).await {
            Ok(bytes) => restore_from(&ctx.core, &bytes, dry_run),
            Err(e) => Err(Failure::new("INTERNAL_ERROR", [format!("reading the database: {e}")])),
        };
        let task = ctx.task.clone();
        let core = ctx.core.clone();
        match result {
            Ok(None) => ctx.finish(Ok(Value::str(""))),
            Ok(Some(db)) => {
                ctx.finish(Ok(Value::str("")));
                schedule_restart(core, db, caller_task.then_some(task));
            }
            Err(e) => ctx.finish(Err(e)),
        }
        let _ = done.send(());
    });
    let mut resp = Response::new(Body::new(Held(finished)));
    resp.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    resp
}

/// Reads the request body up to `length` bytes (fewer if it ends early).
pub(super) async fn read_exactly(mut body: Body, length: u64) -> Result<Vec<u8>, String> {
    use http_body::Body as _;
    let mut out = Vec::with_capacity(usize::try_from(length.min(64 << 20)).unwrap_or(0));
    while (out.len() as u64) < length {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => break,
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let room = usize::try_from(length - out.len() as u64).unwrap_or(usize::MAX);
                    out.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
        }
    }
    Ok(out)
}

/// Checks a backup and prepares it for this host; `None` for a dry run.
fn restore_from(core: &Arc<Core>, bytes: &[u8], dry_run: bool) -> ApiResult<Option<Db>> {
    let unreadable = |e: String| Failure::new("INTERNAL_ERROR", [format!("cannot read the database: {e}")]);
    let text = std::str::from_utf8(bytes).map_err(|_| unreadable("not UTF-8 text".into()))?;
    let parsed = xmldb::parse(text).map_err(unreadable)?;
    if parsed.version != xmldb::SCHEMA_VERSION {
        return Err(Failure::new::<&str>("RESTORE_INCOMPATIBLE_VERSION", []));
    }
    let seed = core.db.read().rng_state();
    let mut db = xmldb::build(&parsed, seed).map_err(unreadable)?.db;
    crate::rules::restore::prepare(&core.db.read(), &mut db)?;
    if dry_run {
        return Ok(None);
    }
    core.stage_restore(&xmldb::dump(&db))
        .map_err(|e| Failure::new("INTERNAL_ERROR", [format!("cannot keep the restored database: {e}")]))?;
    Ok(Some(db))
}

/// The restart onto a restored database, once the fuse has burnt and the
/// caller's task is gone.
fn schedule_restart(core: Arc<Core>, mut db: Db, task: Option<String>) {
    tokio::spawn(async move {
        let fuse = Duration::try_from_secs_f64(FUSE_SECS * core.config.time_scale).unwrap_or(Duration::ZERO);
        tokio::time::sleep(fuse).await;
        if let Some(task) = task {
            let mut changes = core.subscribe();
            while core.db.read().get(&task).is_some() {
                if changes.changed().await.is_err() {
                    return;
                }
            }
        }
        crate::rules::restart::adopt(&mut db);
        // The backup's certificate records give way to what the hosts serve.
        crate::rules::certificate::sync_served(&mut db, |uuid| core.certs.get(uuid).map(|s| s.facts.clone()));
        // A failure to write the state leaves the old pool serving and the
        // restore staged: the next start applies it.
        let _ = core.replace_db(db);
    });
}

/// An empty body that ends when `.0` fires (or its sender is dropped).
pub(super) struct Held(pub(super) tokio::sync::oneshot::Receiver<()>);

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|_| None)
    }
}
