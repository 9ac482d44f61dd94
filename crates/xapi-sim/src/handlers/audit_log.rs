//! `GET /audit_log`: the pool's audit log ([`crate::audit`]) as plain text,
//! from `since=` on (ISO 8601, as xapi reads it), under the caller's task.
//! Needs `http/get_audit_log` (every role holds it).

use super::context::{Context, Params};
use crate::core::Core;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use xenapi::Value;

/// The routes of this module.
pub fn routes() -> Router<Arc<Core>> {
    Router::new().route("/audit_log", get(audit_log))
}

async fn audit_log(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap) -> Response {
    let params = Params::new(&uri, &headers);
    let ctx = match Context::open(&core, &params, &headers, "audit_log_get request", "get_audit_log").await {
        Ok(ctx) => ctx,
        Err(page) => return page,
    };
    let text = core.audit.since(params.get("since").unwrap_or(""));
    let (name, value) = ctx.task_header(false);
    ctx.finish(Ok(Value::str("")));
    let mut r = Response::new(Body::from(text));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().insert(name, v);
    }
    r
}
