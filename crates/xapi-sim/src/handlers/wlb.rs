//! `GET /wlb_report` and `GET /wlb_diagnostics`: xapi takes the caller's
//! task, then asks the WLB server for the report (`report=` and its
//! parameters) or its diagnostics. There is no WLB server here, so the
//! task fails with WLB_NOT_INITIALIZED or the server's connection error
//! ([`crate::rules::wlb`]).

use super::context::{error_page, Context, Params};
use crate::core::Core;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The routes of this module.
pub fn routes() -> Router<Arc<Core>> {
    Router::new().route("/wlb_report", get(report)).route("/wlb_diagnostics", get(diagnostics))
}

async fn report(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap) -> Response {
    let params = Params::new(&uri, &headers);
    if !params.has("report") {
        return error_page(StatusCode::BAD_REQUEST, "Bad request");
    }
    serve(&core, &params, &headers, "WLB ExecuteReport request", "get_wlb_report").await
}

async fn diagnostics(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap) -> Response {
    let params = Params::new(&uri, &headers);
    serve(&core, &params, &headers, "WLB GetDiagnostics request", "get_wlb_diagnostics").await
}

async fn serve(core: &Arc<Core>, params: &Params, headers: &HeaderMap, action: &str, http_action: &str) -> Response {
    let ctx = match Context::open(core, params, headers, action, http_action).await {
        Ok(ctx) => ctx,
        Err(page) => return page,
    };
    let _ = ctx.take();
    let failure = crate::rules::wlb::request(&core.db.read());
    let detail = failure.0.join(" ");
    ctx.finish(Err(failure));
    error_page(StatusCode::INTERNAL_SERVER_ERROR, &detail)
}
