//! xapi's RRD handlers (rrdd_proxy.ml in front of xcp-rrdd's): `GET
//! /rrd_updates` (the rows since `start` of the host's VMs, the host with
//! `host=true`, SRs named by `sr_uuid`), and the full dumps `/host_rrd`,
//! `/vm_rrd` and `/sr_rrd` (`/host_rrds`, `/vm_rrds` too). Credentials are
//! checked as for every handler but no task is made (xapi's dummy
//! context). Each host answers for its own objects: `/vm_rrd` for a VM
//! running elsewhere is a 302 to that host's address, as xapi sends it.
//!
//! XML or JSON as xcp-rrdd chooses: an `Accept` header naming (or
//! covering) `application/json` or `text/xml` decides, JSON at equal
//! preference; otherwise the presence of a `json` query parameter.

use super::context::{error_page, Context, Params};
use super::raw_vdi::{local_host, redirect};
use crate::core::Core;
use crate::db::Db;
use crate::metrics::rrd::{self, Cf, Rrd};
use crate::metrics::{self, Source};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri, Version};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The routes of this module.
pub fn routes() -> Router<Arc<Core>> {
    Router::new()
        .route("/rrd_updates", get(updates))
        .route("/host_rrd", get(host_rrd))
        .route("/host_rrds", get(host_rrd))
        .route("/vm_rrd", get(vm_rrd))
        .route("/vm_rrds", get(vm_rrd))
        .route("/sr_rrd", get(sr_rrd))
}

/// How much a client wants `mime` by its `Accept` header: the q of the most
/// specific range covering it, `None` when no range does.
fn accept_q(accept: &str, mime: &str) -> Option<f64> {
    let (kind, _) = mime.split_once('/').unwrap_or((mime, ""));
    let mut best: Option<(u8, f64)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let q =
            parts.filter_map(|p| p.strip_prefix("q=").and_then(|v| v.trim().parse::<f64>().ok())).next().unwrap_or(1.0);
        let specificity = if media == mime {
            3
        } else if media == format!("{kind}/*") {
            2
        } else if media == "*/*" {
            1
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.map(|(_, q)| q)
}

/// xcp-rrdd's `client_prefers_json`.
fn prefers_json(headers: &HeaderMap, params: &Params) -> bool {
    let accept = headers.get(header::ACCEPT).and_then(|h| h.to_str().ok());
    if let Some(accept) = accept {
        let json = accept_q(accept, "application/json").filter(|q| *q > 0.0);
        let xml = accept_q(accept, "text/xml").filter(|q| *q > 0.0);
        match (json, xml) {
            (Some(j), Some(x)) => return j >= x,
            (Some(_), None) => return true,
            (None, Some(_)) => return false,
            (None, None) => {}
        }
    }
    params.has("json")
}

fn content_type(json: bool) -> HeaderValue {
    HeaderValue::from_static(if json { "application/json" } else { "text/xml" })
}

/// The pool asks for MIN and MAX archives in new VM RRDs.
fn vm_min_max(db: &Db) -> bool {
    db.all("pool")
        .first()
        .and_then(|p| db.map_get(p, "other_config", "create_min_max_in_new_VM_RRDs"))
        .is_some_and(|v| v == "true")
}

/// The recorded sources of `object` (one with an RRD).
fn recorded(core: &Core, db: &Db, object: &str) -> Vec<Source> {
    let all = metrics::sources(db, object, core.metrics.now()).unwrap_or_default();
    core.metrics.recorded(&db.string(object, "uuid"), all)
}

async fn updates(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap) -> Response {
    let params = Params::new(&uri, &headers);
    let ctx = match Context::open_dummy(&core, &params, &headers, "Get RRD updates.").await {
        Ok(ctx) => ctx,
        Err(page) => return page,
    };
    ctx.abandon();
    let Some(start) = params.get("start") else {
        return error_page(StatusCode::BAD_REQUEST, "get_rrd_updates: missing the 'start' parameter");
    };
    let Ok(start) = start.parse::<i64>() else {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, &format!("Failure(\"Int64.of_string\") {start}"));
    };
    let interval = params.get("interval").and_then(|i| i.parse::<i64>().ok()).unwrap_or(0);
    let cf = params.get("cf").and_then(Cf::parse);
    let wanted = |key: &str| -> Option<Vec<String>> {
        let list: Vec<String> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|p| p.split_once('='))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
            .collect();
        (!list.is_empty()).then_some(list)
    };
    let (vm_uuids, sr_uuids) = (wanted("vm_uuid"), wanted("sr_uuid"));
    let json = prefers_json(&headers, &params);
    let rrds = {
        let db = core.db.read();
        let host = local_host(&db, &headers);
        let vm_rras = rrd::layout(vm_min_max(&db));
        let mut rrds = Vec::new();
        if params.get("host") == Some("true") {
            let prefix = format!("host:{}:", db.string(&host, "uuid"));
            rrds.push(Rrd { prefix, sources: recorded(&core, &db, &host), rras: rrd::layout(true) });
        }
        for vm in metrics::resident_vms(&db, &host) {
            let uuid = db.string(&vm, "uuid");
            if vm_uuids.as_ref().is_some_and(|l| !l.contains(&uuid)) {
                continue;
            }
            rrds.push(Rrd { prefix: format!("vm:{uuid}:"), sources: recorded(&core, &db, &vm), rras: vm_rras.clone() });
        }
        if let Some(srs) = &sr_uuids {
            for sr in metrics::host_srs(&db, &host) {
                let uuid = db.string(&sr, "uuid");
                if srs.contains(&uuid) {
                    rrds.push(Rrd {
                        prefix: format!("sr:{uuid}:"),
                        sources: recorded(&core, &db, &sr),
                        rras: vm_rras.clone(),
                    });
                }
            }
        }
        rrds
    };
    let last_update = core.metrics.last_update();
    let body = tokio::task::spawn_blocking(move || {
        rrd::updates(&rrds, start, interval, cf, last_update).map(|x| if json { x.to_json() } else { x.to_xml() })
    })
    .await;
    match body {
        Ok(Ok(text)) => {
            let mut r = Response::new(Body::from(text));
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, content_type(json));
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("X-Requested-With"));
            r
        }
        Ok(Err(_)) => error_page(StatusCode::INTERNAL_SERVER_ERROR, "Rrd.No_RRA_Available"),
        Err(e) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// A full dump as xcp-rrdd sends it: HTTP/1.0, closed after the body.
async fn dump(sources: Vec<Source>, rras: Vec<rrd::Rra>, last_update: i64, json: bool) -> Response {
    let body = tokio::task::spawn_blocking(move || {
        if json {
            rrd::dump_json(&sources, &rras, last_update)
        } else {
            rrd::dump_xml(&sources, &rras, last_update)
        }
    })
    .await;
    let Ok(text) = body else {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "the RRD could not be written");
    };
    let mut r = Response::new(Body::from(text));
    *r.version_mut() = Version::HTTP_10;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(header::CONTENT_TYPE, content_type(json));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    r
}

fn not_found() -> Response {
    let mut r = error_page(StatusCode::NOT_FOUND, "no RRD");
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

async fn host_rrd(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap) -> Response {
    let params = Params::new(&uri, &headers);
    match Context::open_dummy(&core, &params, &headers, "Get Host RRD.").await {
        Ok(ctx) => ctx.abandon(),
        Err(page) => return page,
    }
    let sources = {
        let db = core.db.read();
        let host = local_host(&db, &headers);
        recorded(&core, &db, &host)
    };
    dump(sources, rrd::layout(true), core.metrics.last_update(), prefers_json(&headers, &params)).await
}

async fn sr_rrd(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap) -> Response {
    let params = Params::new(&uri, &headers);
    match Context::open_dummy(&core, &params, &headers, "Get SR RRD.").await {
        Ok(ctx) => ctx.abandon(),
        Err(page) => return page,
    }
    let Some(uuid) = params.get("uuid") else {
        return error_page(StatusCode::BAD_REQUEST, "get_sr_rrd: missing the 'uuid' parameter");
    };
    let found = {
        let db = core.db.read();
        let host = local_host(&db, &headers);
        let sr = db.by_uuid(db.cls("SR"), uuid).map(str::to_string);
        let rras = rrd::layout(vm_min_max(&db));
        sr.filter(|sr| metrics::host_srs(&db, &host).contains(sr)).map(|sr| (recorded(&core, &db, &sr), rras))
    };
    match found {
        Some((sources, rras)) => dump(sources, rras, core.metrics.last_update(), prefers_json(&headers, &params)).await,
        None => error_page(StatusCode::INTERNAL_SERVER_ERROR, "Failure(\"No SR RRD available!\")"),
    }
}

/// What `/vm_rrd` does for a VM: dump it here, send the client to the host
/// running it, or have nothing to give.
enum VmRrd {
    Here(Vec<Source>, Vec<rrd::Rra>),
    At(String),
    Missing,
    Unknown,
}

async fn vm_rrd(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap) -> Response {
    let params = Params::new(&uri, &headers);
    let Some(uuid) = params.get("uuid").map(str::to_string) else {
        return error_page(StatusCode::BAD_REQUEST, "get_vm_rrd: missing the 'uuid' parameter");
    };
    match Context::open_dummy(&core, &params, &headers, "Get VM RRD.").await {
        Ok(ctx) => ctx.abandon(),
        Err(page) => return page,
    }
    let what = {
        let db = core.db.read();
        let here = local_host(&db, &headers);
        match db.by_uuid(db.cls("VM"), &uuid).map(str::to_string) {
            None => VmRrd::Unknown,
            Some(vm) => match metrics::rrd_host(&db, &vm) {
                Some(h) if h == here => VmRrd::Here(recorded(&core, &db, &vm), rrd::layout(vm_min_max(&db))),
                Some(h) => VmRrd::At(db.string(&h, "address")),
                // Not running: the master would unarchive the RRD it saved
                // at shutdown; the simulator archives none.
                None if here == crate::rules::pool::master(&db) => VmRrd::Missing,
                None => VmRrd::At(db.string(&crate::rules::pool::master(&db), "address")),
            },
        }
    };
    match what {
        VmRrd::Here(sources, rras) => {
            dump(sources, rras, core.metrics.last_update(), prefers_json(&headers, &params)).await
        }
        VmRrd::At(address) => redirect(&address, &uri),
        VmRrd::Missing => not_found(),
        VmRrd::Unknown => error_page(StatusCode::INTERNAL_SERVER_ERROR, &format!("UUID_INVALID VM {uuid}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_choose_as_xcp_rrdd_does() {
        let h = |accept: Option<&str>, query: &str| {
            let mut headers = HeaderMap::new();
            if let Some(a) = accept {
                headers.insert(header::ACCEPT, HeaderValue::from_str(a).unwrap());
            }
            let uri: Uri = format!("/rrd_updates?start=0{query}").parse().unwrap();
            prefers_json(&headers, &Params::new(&uri, &headers))
        };
        assert!(h(Some("*/*"), ""), "JSON wins a tie");
        assert!(!h(Some("text/xml"), "&json"));
        assert!(!h(Some("application/json;q=0.5, text/*"), ""));
        assert!(h(Some("application/json"), ""));
        assert!(h(None, "&json=false"));
        assert!(!h(None, ""));
        assert!(!h(Some("image/png"), ""));
    }
}
