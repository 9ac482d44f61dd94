//! `PUT /pool_patch_upload`: the legacy patch upload, as xapi's
//! `pool_patch_upload_handler` does it: under the caller's task ("Uploading
//! update"), a subtask ("VDI upload") runs the `/import_raw_vdi` handler
//! into the SR of `sr_id` or the pool's default SR (the `task_id` of the
//! request stripped); its VDI is introduced as an update, and the caller's
//! task ends with the update's `pool_patch`. A failed introduction destroys
//! the VDI; a failed upload's error goes to the caller's task.

use super::context::{Context, Params};
use super::raw_vdi;
use crate::core::Core;
use crate::db::{ApiResult, Failure};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::routing::put;
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use xenapi::Value;

pub fn routes() -> Router<Arc<Core>> {
    Router::new().route("/pool_patch_upload", put(upload))
}

/// The query without `task_id`, with the subtask's and an SR.
fn inner_uri(uri: &Uri, subtask: &str, default_sr: &str) -> Option<Uri> {
    let query = uri.query().unwrap_or("");
    let mut parts: Vec<String> =
        query.split('&').filter(|p| !p.is_empty() && !p.starts_with("task_id=")).map(str::to_string).collect();
    if !parts.iter().any(|p| p.starts_with("sr_id=") || p.starts_with("sr_uuid=")) {
        parts.push(format!("sr_id={default_sr}"));
    }
    parts.insert(0, format!("task_id={subtask}"));
    format!("/import_raw_vdi?{}", parts.join("&")).parse().ok()
}

/// The cookie without `task_id`.
fn strip_cookie(headers: &mut HeaderMap) {
    let Some(cookie) = headers.get(header::COOKIE).and_then(|c| c.to_str().ok()).map(str::to_string) else {
        return;
    };
    let kept: Vec<&str> = cookie.split(';').map(str::trim).filter(|c| !c.starts_with("task_id=")).collect();
    match HeaderValue::from_str(&kept.join("; ")) {
        Ok(v) if !kept.is_empty() => {
            headers.insert(header::COOKIE, v);
        }
        _ => {
            headers.remove(header::COOKIE);
        }
    }
}

/// Waits for a task to leave `pending`; its status, error and result.
async fn settled(core: &Core, task: &str) -> (String, Vec<String>, String) {
    loop {
        {
            let db = core.db.read();
            if !db.is(task, "task") {
                return ("failure".into(), vec!["HANDLE_INVALID".into(), "task".into(), task.into()], String::new());
            }
            let status = db.string(task, "status");
            if status != "pending" && status != "cancelling" {
                return (status, db.strings(task, "error_info"), db.string(task, "result"));
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn introduce(core: &Arc<Core>, session: &str, vdi: &str) -> ApiResult<Value> {
    let made = crate::rpc::dispatch(core, "pool_update.introduce", vec![Value::str(session), Value::str(vdi)]).await;
    let update = match made {
        Ok(u) => u.as_str().unwrap_or("").to_string(),
        Err(e) => {
            let _ = crate::rpc::dispatch(core, "VDI.destroy", vec![Value::str(session), Value::str(vdi)]).await;
            return Err(e);
        }
    };
    let db = core.db.read();
    db.all("pool_patch")
        .into_iter()
        .find(|p| db.field_str(p, "pool_update") == update)
        .map(Value::String)
        .ok_or_else(|| Failure::new("INTERNAL_ERROR", ["Invalid state"]))
}

async fn upload(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let params = Params::new(&uri, &headers);
    let ctx = match Context::open_as(
        &core,
        &params,
        &headers,
        "Uploading update",
        "Uploading update",
        "put_pool_patch_upload",
    )
    .await
    {
        Ok(ctx) => ctx,
        Err(page) => return page,
    };
    let (subtask, default_sr) = {
        let made = core.write(|db| Ok(crate::tasks::new_task(db, "VDI upload", "", false)));
        let db = core.db.read();
        let pool = db.all("pool").into_iter().next().unwrap_or_default();
        (made.unwrap_or_default(), db.string(&pool, "default_SR"))
    };
    let Some(inner) = inner_uri(&uri, &subtask, &default_sr) else {
        ctx.finish(Err(Failure::new("INTERNAL_ERROR", ["bad request URI"])));
        return super::context::error_page(StatusCode::BAD_REQUEST, "bad request URI");
    };
    let mut inner_headers = headers.clone();
    strip_cookie(&mut inner_headers);
    let response = raw_vdi::import(State(core.clone()), inner, inner_headers, body).await;
    let forget_subtask = |core: &Arc<Core>, task: &str| {
        let _ = core.write(|db| {
            if db.is(task, "task") {
                db.destroy(task);
            }
            Ok(())
        });
    };
    if response.status() == StatusCode::FOUND {
        forget_subtask(&core, &subtask);
        ctx.abandon();
        return response;
    }
    tokio::spawn(async move {
        let (status, info, result) = settled(&ctx.core, &subtask).await;
        let outcome = if status == "success" {
            let vdi = result.trim_start_matches("<value>").trim_end_matches("</value>").to_string();
            introduce(&ctx.core, &ctx.session, &vdi).await
        } else if info.is_empty() {
            Err(Failure::new("INTERNAL_ERROR", ["the upload failed"]))
        } else {
            Err(Failure(info))
        };
        forget_subtask(&ctx.core, &subtask);
        ctx.finish(outcome);
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inner_request_has_the_subtask_and_an_sr() {
        let uri: Uri = "/pool_patch_upload?session_id=S&task_id=T".parse().unwrap();
        assert_eq!(
            inner_uri(&uri, "OpaqueRef:sub", "OpaqueRef:sr").unwrap().to_string(),
            "/import_raw_vdi?task_id=OpaqueRef:sub&session_id=S&sr_id=OpaqueRef:sr"
        );
        let uri: Uri = "/pool_patch_upload?session_id=S&sr_id=X".parse().unwrap();
        assert_eq!(
            inner_uri(&uri, "OpaqueRef:sub", "OpaqueRef:sr").unwrap().to_string(),
            "/import_raw_vdi?task_id=OpaqueRef:sub&session_id=S&sr_id=X"
        );
    }
}
