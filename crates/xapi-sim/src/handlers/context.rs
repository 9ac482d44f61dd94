//! What every data handler does before and after moving bytes, as xapi's
//! `Xapi_http.with_context` does it: find the credentials (a `session_id`
//! cookie, then query parameter, must name a live session; otherwise HTTP
//! Basic logs in a temporary session that is logged out afterwards), run
//! under the caller's task (`task_id`, cookie then query) or a new one, and
//! finish that task with the handler's outcome. Failures before the answer's
//! head are xapi's HTML pages.

use crate::core::Core;
use crate::db::{ApiResult, Failure};
use crate::rbac;
use crate::tasks;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use xenapi::Value;

/// A request's query and cookie parameters, percent-decoded as xapi decodes
/// them (`+` stays a plus).
#[derive(Debug, Clone, Default)]
pub struct Params {
    query: Vec<(String, String)>,
    cookies: Vec<(String, String)>,
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn pairs(text: &str, separators: &[char]) -> Vec<(String, String)> {
    text.split(separators)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

impl Params {
    /// Reads the query of `uri` and every `Cookie` header (`a=b; c=d`, or the old `a=b&c=d`).
    pub fn new(uri: &Uri, headers: &HeaderMap) -> Params {
        let query = uri.query().map(|q| pairs(q, &['&'])).unwrap_or_default();
        let cookies = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .flat_map(|h| pairs(h, &[';', '&']))
            .collect();
        Params { query, cookies }
    }

    fn find<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
        list.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A parameter from the query, else from a cookie (`vdi`, `format`, ...).
    pub fn get(&self, name: &str) -> Option<&str> {
        Self::find(&self.query, name).or_else(|| Self::find(&self.cookies, name))
    }

    /// A parameter from a cookie, else from the query (`session_id`, `task_id`, `sr_id`).
    pub fn cookie_first(&self, name: &str) -> Option<&str> {
        Self::find(&self.cookies, name).or_else(|| Self::find(&self.query, name))
    }

    /// Whether the parameter is given at all, whatever its value (xapi's `chunked`).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// xapi's literal-`true` flags (`restore`, `force`, `dry_run`).
    pub fn is_true(&self, name: &str) -> bool {
        self.get(name) == Some("true")
    }
}

/// An HTML error page as xapi sends it: `Connection: close`, no caching.
pub fn error_page(status: StatusCode, detail: &str) -> Response {
    let escaped = detail.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let reason = status.canonical_reason().unwrap_or("");
    let body = format!("<html><body><h1>HTTP {} {reason}</h1>{escaped}</body></html>", status.as_u16());
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html"),
            (header::CONNECTION, "close"),
            (header::CACHE_CONTROL, "no-cache, no-store"),
        ],
        body,
    )
        .into_response()
}

/// The 403 page, as xapi words it.
pub fn forbidden() -> Response {
    let body = "<html><body><h1>HTTP 403 forbidden</h1>Access to the requested resource is forbidden.</body></html>";
    (
        StatusCode::FORBIDDEN,
        [
            (header::CONTENT_TYPE, "text/html"),
            (header::CONNECTION, "close"),
            (header::CACHE_CONTROL, "no-cache, no-store"),
        ],
        body,
    )
        .into_response()
}

/// The 401 page, naming the action as the Basic realm (`VDI.import`, ...).
pub fn unauthorised(realm: &str) -> Response {
    let mut page = error_page(StatusCode::UNAUTHORIZED, "Authorization required");
    let value = format!("Basic realm=\"{}\"", realm.replace('"', ""));
    if let Ok(v) = HeaderValue::from_str(&value) {
        page.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    page
}

/// The 401 page; a task the caller named fails with
/// `SESSION_AUTHENTICATION_FAILED`, as xapi fails it, so that a client
/// waiting on it learns the outcome.
fn refuse(core: &Arc<Core>, params: &Params, action: &str) -> Response {
    if let Some(task) = params.cookie_first("task_id") {
        let pending = {
            let db = core.db.read();
            db.is(task, "task") && db.field_str(task, "status") == "pending"
        };
        if pending {
            tasks::finish(core, task, Err(Failure::new::<&str>("SESSION_AUTHENTICATION_FAILED", [])));
        }
    }
    unauthorised(action)
}

/// `user:password` from an `Authorization: Basic` header. `Err` for another scheme.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ()> {
    use base64::Engine;
    let Some(h) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let text = h.to_str().map_err(|_| ())?;
    let (scheme, b64) = text.split_once(' ').ok_or(())?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(());
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|_| ())?;
    let text = String::from_utf8(raw).map_err(|_| ())?;
    Ok(text.split_once(':').map(|(u, p)| (u.to_string(), p.to_string())))
}

/// The session a request is made under: `session_id` (cookie, then query)
/// naming a live session, else a temporary one from HTTP Basic (`true`).
async fn credentials(
    core: &Arc<Core>,
    params: &Params,
    headers: &HeaderMap,
    action: &str,
) -> Result<(String, bool), Response> {
    Ok(match params.cookie_first("session_id") {
        Some(s) if core.check_session(s).is_ok() => (s.to_string(), false),
        Some(_) => return Err(refuse(core, params, action)),
        None => match basic_credentials(headers) {
            Ok(Some((user, password))) => {
                let args = vec![Value::String(user), Value::String(password), Value::str("1.0"), Value::str("")];
                match crate::rpc::dispatch(core, "session.login_with_password", args).await {
                    Ok(Value::String(s)) => (s, true),
                    _ => return Err(refuse(core, params, action)),
                }
            }
            Ok(None) => return Err(refuse(core, params, action)),
            Err(()) => return Err(error_page(StatusCode::INTERNAL_SERVER_ERROR, "unsupported authorization scheme")),
        },
    })
}

/// A handler's session and task. [`Context::finish`] ends both.
pub struct Context {
    pub core: Arc<Core>,
    /// The session the request is made under.
    pub session: String,
    /// The task the handler reports on: the caller's (`task_id`) or a new one.
    pub task: String,
    /// Logged out by [`Context::finish`]: it came from HTTP Basic.
    temporary: bool,
    /// The task was made here, not given by the caller.
    own_task: bool,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("task", &self.task).field("temporary", &self.temporary).finish()
    }
}

impl Context {
    /// Checks the request's credentials and takes or makes its task. `action`
    /// names the handler (`VDI.export`), for the 401 realm and a new task's label.
    pub async fn open(
        core: &Arc<Core>,
        params: &Params,
        headers: &HeaderMap,
        action: &str,
        http_action: &str,
    ) -> Result<Context, Response> {
        Context::open_as(core, params, headers, action, action, http_action).await
    }

    /// [`Context::open`] where the 401 realm (`VDI.import`) and the label
    /// of a new task (`Importing raw VDI`) differ, as for xapi's raw VDI handlers.
    /// `http_action` (`put_import_raw_vdi`) names the permission the
    /// session's role must hold, `http/<action>`.
    pub async fn open_as(
        core: &Arc<Core>,
        params: &Params,
        headers: &HeaderMap,
        action: &str,
        label: &str,
        http_action: &str,
    ) -> Result<Context, Response> {
        let (session, temporary) = credentials(core, params, headers, action).await?;
        let given = params.cookie_first("task_id").map(str::to_string);
        // xapi checks the role before the handler runs: a denial is a 403,
        // and fails the caller's task with the reason.
        let roles = rbac::http_roles(http_action);
        let allowed = rbac::holds(roles, core.session_role(&session));
        crate::rpc::audit_http(core, &session, http_action, allowed);
        if !allowed {
            if let Some(task) = &given {
                if core.db.read().field_str(task, "status") == "pending" {
                    tasks::finish(core, task, Err(rbac::denied(&format!("http/{http_action}"), roles)));
                }
            }
            Context { core: core.clone(), session, task: String::new(), temporary, own_task: false }.release();
            return Err(forbidden());
        }
        let own_task = given.is_none();
        let task = core.write(|db| {
            let c = db.cls("task");
            match given {
                Some(t) => db.expect(c, &t).map(|_| t.clone()),
                None => Ok(tasks::new_task(db, label, "", false)),
            }
        });
        match task {
            Ok(task) => Ok(Context { core: core.clone(), session, task, temporary, own_task }),
            Err(Failure(e)) => {
                let ctx = Context { core: core.clone(), session, task: String::new(), temporary, own_task: false };
                ctx.release();
                Err(error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.join(" ")))
            }
        }
    }

    /// Checks the request's credentials only, without a task: xapi's
    /// `with_context ~dummy:true` (the RRD handlers). [`Context::abandon`] ends it.
    pub async fn open_dummy(
        core: &Arc<Core>,
        params: &Params,
        headers: &HeaderMap,
        action: &str,
    ) -> Result<Context, Response> {
        let (session, temporary) = credentials(core, params, headers, action).await?;
        Ok(Context { core: core.clone(), session, task: String::new(), temporary, own_task: false })
    }

    /// Marks the task taken (progress 0.0), the first thing xapi's handlers do.
    pub fn take(&self) -> ApiResult<()> {
        self.progress(0.0)
    }

    /// Sets the task's progress (0..1).
    pub fn progress(&self, p: f64) -> ApiResult<()> {
        self.core.write(|db| {
            if db.get(&self.task).is_some() {
                db.set_named(&self.task, "progress", Value::Float(p.clamp(0.0, 1.0)));
            }
            Ok(())
        })
    }

    /// Whether someone asked to cancel the task.
    pub fn cancelling(&self) -> bool {
        self.core.db.read().field_str(&self.task, "status") == "cancelling"
    }

    /// Completes or fails the task with the handler's outcome and logs out a temporary session.
    pub fn finish(self, result: ApiResult<Value>) {
        tasks::finish(&self.core, &self.task, result);
        self.release();
    }

    /// Leaves the caller's task as it is (the request went elsewhere: a
    /// redirect), destroying a task made here, and logs out a temporary session.
    pub fn abandon(self) {
        if self.own_task {
            let _ = self.core.write(|db| {
                if db.get(&self.task).is_some() {
                    db.destroy(&self.task);
                }
                Ok(())
            });
        }
        self.release();
    }

    fn release(&self) {
        if self.temporary {
            let session = self.session.clone();
            let core = self.core.clone();
            // Logging out only touches the session tables: no need to wait for it.
            tokio::spawn(async move {
                let _ = crate::rpc::dispatch(&core, "session.logout", vec![Value::String(session)]).await;
            });
        }
    }

    /// The `task-id` answer header, as xapi spells it for this handler:
    /// `task-id: T` (export) or `task-id:T` (imports, raw VDI transfers).
    pub fn task_header(&self, spaced: bool) -> (&'static str, String) {
        ("task-id", if spaced { format!(" {}", self.task) } else { self.task.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_core() -> Arc<Core> {
        let mut db = crate::db::Db::new(1);
        crate::fixtures::seed(&mut db, &crate::fixtures::FixtureOptions::default());
        db.reindex_changes();
        Core::new(db, crate::core::Config::default(), None, crate::disks::Disks::memory(), 1).unwrap()
    }

    fn request(uri: &str, headers: &[(&str, &str)]) -> (Params, HeaderMap) {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        (Params::new(&uri.parse().unwrap(), &map), map)
    }

    async fn login(core: &Arc<Core>) -> String {
        let args = vec![Value::str("root"), Value::str("xenroot"), Value::str("1.0"), Value::str("t")];
        crate::rpc::dispatch(core, "session.login_with_password", args).await.unwrap().as_str().unwrap().to_string()
    }

    fn basic(user_password: &str) -> String {
        use base64::Engine;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_password))
    }

    #[test]
    fn parameters_are_decoded_as_xapi_decodes_them() {
        let (p, _) = request("/x?vdi=a%20b&name=1+2&chunked&task_id=q", &[("cookie", "task_id=c; vdi=v&sr_id=s")]);
        assert_eq!(p.get("vdi"), Some("a b"));
        assert_eq!(p.get("name"), Some("1+2"), "a plus stays a plus");
        assert!(p.has("chunked") && !p.is_true("chunked"));
        assert_eq!(p.cookie_first("task_id"), Some("c"));
        assert_eq!(p.get("task_id"), Some("q"));
        assert_eq!(p.cookie_first("sr_id"), Some("s"));
        assert_eq!(p.get("missing"), None);
    }

    #[tokio::test]
    async fn credentials_are_a_live_session_or_http_basic() {
        let core = build_core();
        let session = login(&core).await;
        let (p, h) = request(&format!("/x?session_id={session}"), &[]);
        let ctx = Context::open(&core, &p, &h, "VDI.export", "get_export_raw_vdi").await.unwrap();
        assert_eq!(ctx.session, session);
        assert_eq!(core.db.read().field_str(&ctx.task, "name_label"), "VDI.export");
        ctx.finish(Ok(Value::str("done")));
        assert!(core.check_session(&session).is_ok(), "the caller's session stays");

        for (uri, headers, status) in [
            ("/x?session_id=OpaqueRef:nope", vec![], StatusCode::UNAUTHORIZED),
            ("/x", vec![], StatusCode::UNAUTHORIZED),
            ("/x", vec![("authorization", basic("root:wrong"))], StatusCode::UNAUTHORIZED),
            ("/x", vec![("authorization", "Bearer abc".to_string())], StatusCode::INTERNAL_SERVER_ERROR),
        ] {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (p, h) = request(uri, &headers);
            let page = Context::open(&core, &p, &h, "VDI.import", "put_import_raw_vdi").await.unwrap_err();
            assert_eq!(page.status(), status, "{uri} {headers:?}");
            if status == StatusCode::UNAUTHORIZED {
                assert_eq!(page.headers()[header::WWW_AUTHENTICATE], "Basic realm=\"VDI.import\"");
            }
        }

        let (p, h) = request("/x", &[("authorization", &basic("root:xenroot"))]);
        let ctx = Context::open(&core, &p, &h, "VDI.import", "put_import_raw_vdi").await.unwrap();
        let temporary = ctx.session.clone();
        assert!(core.check_session(&temporary).is_ok());
        ctx.finish(Err(Failure::new("VDI_IO_ERROR", ["short read"])));
        for _ in 0..100 {
            if core.check_session(&temporary).is_err() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(core.check_session(&temporary).is_err(), "a Basic session is logged out at the end");
    }

    #[tokio::test]
    async fn the_callers_task_is_used_and_finished() {
        let core = build_core();
        let session = login(&core).await;
        let args = vec![Value::String(session.clone()), Value::str("VDI export"), Value::str("")];
        let task = crate::rpc::dispatch(&core, "task.create", args).await.unwrap().as_str().unwrap().to_string();
        let (p, h) = request("/x?task_id=other", &[("cookie", &format!("session_id={session}; task_id={task}"))]);
        let ctx = Context::open(&core, &p, &h, "VDI.export", "get_export_raw_vdi").await.unwrap();
        assert_eq!(ctx.task, task);
        ctx.take().unwrap();
        assert_eq!(core.db.read().field(&task, "progress"), Some(&Value::Float(0.0)));
        ctx.finish(Err(Failure::new("VDI_IO_ERROR", ["short read"])));
        {
            let db = core.db.read();
            assert_eq!(db.field_str(&task, "status"), "failure");
            assert_eq!(
                db.field(&task, "error_info"),
                Some(&Value::Array(vec![Value::str("VDI_IO_ERROR"), Value::str("short read")]))
            );
        }

        let (p, h) = request(&format!("/x?session_id={session}&task_id=OpaqueRef:gone"), &[]);
        let page = Context::open(&core, &p, &h, "VDI.export", "get_export_raw_vdi").await.unwrap_err();
        assert_eq!(page.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
