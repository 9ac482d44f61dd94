//! `GET /host_logs_download`: the logs of the host the request reached, as
//! the gzip-compressed tar of `/var/log` that xapi's `logs-download` script
//! writes. A simulated host has no log files, so they are made from what
//! the pool records about that host: the tasks (xapi's `xensource.log`),
//! the messages (`messages`) and the storage it has attached (`SMlog`).
//!
//! xapi answers `200` under the task named `Downloading host logs` and
//! streams the script's output without a length; the archive here is small
//! and built whole, so it goes with a `Content-Length`.

use super::context::{error_page, Context, Params};
use super::raw_vdi::local_host;
use crate::core::Core;
use crate::db::Db;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::io::Write;
use std::sync::Arc;
use xenapi::Value;

/// The routes of this module.
pub fn routes() -> Router<Arc<Core>> {
    Router::new().route("/host_logs_download", get(download))
}

async fn download(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap) -> Response {
    let params = Params::new(&uri, &headers);
    let ctx = match Context::open(&core, &params, &headers, "Downloading host logs", "get_host_logs_download").await {
        Ok(ctx) => ctx,
        Err(page) => return page,
    };
    let _ = ctx.take();
    let archive = {
        let db = core.db.read();
        let host = local_host(&db, &headers);
        archive(&logs(&db, &host))
    };
    match archive {
        Ok(bytes) => {
            let (name, value) = ctx.task_header(false);
            ctx.finish(Ok(Value::str("")));
            let mut r = Response::new(Body::from(bytes));
            if let Ok(v) = HeaderValue::from_str(&value) {
                r.headers_mut().insert(name, v);
            }
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
        Err(e) => {
            let why = format!("cannot build the logs archive: {e}");
            ctx.finish(Err(crate::db::Failure::new("INTERNAL_ERROR", [why.as_str()])));
            error_page(StatusCode::INTERNAL_SERVER_ERROR, &why)
        }
    }
}

/// A datetime field as a syslog-style stamp (`20260412T09:30:00Z` → `Apr 12 09:30:00`).
fn stamp(v: Option<&Value>) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let text = match v {
        Some(Value::DateTime(s) | Value::String(s)) => s.as_str(),
        _ => "",
    };
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 14 {
        return "Jan  1 00:00:00".to_string();
    }
    let month = digits[4..6].parse::<usize>().unwrap_or(1).clamp(1, 12);
    let day = digits[6..8].parse::<u32>().unwrap_or(1);
    format!("{} {day:>2} {}:{}:{}", MONTHS[month - 1], &digits[8..10], &digits[10..12], &digits[12..14])
}

/// The log files of `host`, by path under `/`.
fn logs(db: &Db, host: &str) -> Vec<(String, String)> {
    let name = db.string(host, "hostname");
    let mut xensource = String::new();
    for t in db.all("task") {
        let line = format!(
            "{} {name} xapi: [ info||{}|{} R:{}|xapi] task {} ({}) status {}, progress {}\n",
            stamp(db.field(&t, "created")),
            db.string(&t, "uuid").get(..8).unwrap_or(""),
            db.string(&t, "name_label"),
            t.trim_start_matches("OpaqueRef:").get(..12).unwrap_or(""),
            db.string(&t, "uuid"),
            db.string(&t, "name_label"),
            db.string(&t, "status"),
            db.field(&t, "progress").and_then(Value::as_float).unwrap_or(0.0),
        );
        xensource.push_str(&line);
    }
    let mut messages = String::new();
    for m in db.all("message") {
        let line = format!(
            "{} {name} xapi: message {} priority {} on {} {}: {}\n",
            stamp(db.field(&m, "timestamp")),
            db.string(&m, "name"),
            db.int(&m, "priority"),
            db.string(&m, "cls"),
            db.string(&m, "obj_uuid"),
            db.string(&m, "body").replace('\n', " "),
        );
        messages.push_str(&line);
    }
    let mut sm = String::new();
    for pbd in db.strings(host, "PBDs") {
        let sr = db.string(&pbd, "SR");
        let line = format!(
            "{} {name} SM: sr_attach type={} uuid={} attached={}\n",
            stamp(db.field(&db.string(host, "metrics"), "last_updated")),
            db.string(&sr, "type"),
            db.string(&sr, "uuid"),
            db.field(&pbd, "currently_attached").and_then(Value::as_bool).unwrap_or(false),
        );
        sm.push_str(&line);
    }
    vec![
        ("var/log/xensource.log".to_string(), xensource),
        ("var/log/messages".to_string(), messages),
        ("var/log/SMlog".to_string(), sm),
    ]
}

/// The files as a gzip-compressed tar, as `logs-download` writes it.
pub(super) fn archive(files: &[(String, String)]) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, text) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, text.as_bytes())?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    gz.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_as_syslog_writes_them() {
        assert_eq!(stamp(Some(&Value::DateTime("20260412T09:05:07Z".into()))), "Apr 12 09:05:07");
        assert_eq!(stamp(None), "Jan  1 00:00:00");
    }

    #[test]
    fn the_archive_is_a_gzip_tar_of_the_files() {
        let files = vec![("var/log/a".to_string(), "one\n".to_string())];
        let bytes = archive(&files).unwrap();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        let names: Vec<String> =
            tar.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["var/log/a"]);
    }
}
