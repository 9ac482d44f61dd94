//! `sim-request`: the simulator's request path, through its real axum
//! router (`xapi_sim::server::router`), without a socket. An input is a
//! route byte (`x`: XML-RPC on `/`, `r`: on `/RPC2`, `j`: JSON-RPC on
//! `/jsonrpc`; any other byte picks one) and the request body, or `g` and
//! the choices of a call built from the datamodel (see `calls.rs`), sent
//! in a format they choose too.
//!
//! The core is built with `time_scale` 0 (nothing sleeps) and a session
//! opened once; it is rebuilt every [`REBUILD`] inputs, so that what the
//! inputs create (clones, tasks, sessions) stays bounded. The seeds are
//! valid calls of many methods with that session and real refs and uuids
//! of the demo pool, in both formats.
//!
//! Properties: no panic (also in the tasks `Async.` calls spawn); a body
//! the server's decoder refuses gets xapi's HTTP 500 page; any other gets
//! HTTP 200 and an answer that decodes in its format (for JSON-RPC, with
//! the request's id and version), whose error, if any, starts with an
//! error code. The objects a request changed (its own and its tasks') still
//! hold values of their fields' datamodel types (variants, enum members,
//! xapi's datetime form), and their two-way references still agree. `event.from` and `event.next` wait by design: they are cut
//! off after [`WAIT`], which is not a finding; any other call that has not
//! answered after [`HANG`] is one.

use super::calls::{self, Pool};
use super::{tokens, Outcome, Target};
use crate::rng::fnv;
use crate::values::brief;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;
use xapi_sim::db::{Db, Operation};
use xapi_sim::relations::RELATIONS;
use xapi_sim::{Core, SimOptions};
use xenapi::model::Type;
use xenapi::wire::jsonrpc::{self, Version};
use xenapi::wire::{xmlrpc, Response};
use xenapi::Value;

/// Inputs served by one core.
const REBUILD: usize = 256;
/// How long a call that waits by design may wait.
const WAIT: Duration = Duration::from_millis(100);
/// A call without an answer after this long is hung.
const HANG: Duration = Duration::from_secs(30);

struct State {
    core: Arc<Core>,
    router: axum::Router,
    session: String,
    served: usize,
    /// The session and the demo pool's objects as built, for generated calls.
    pool: Arc<Pool>,
}

pub struct SimRequest {
    rt: tokio::runtime::Runtime,
    state: Option<State>,
}

impl SimRequest {
    pub fn new() -> SimRequest {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        SimRequest { rt, state: None }
    }

    /// The current core, built (and logged into) when there is none or it has served its share.
    fn state(&mut self) -> &mut State {
        if self.state.as_ref().is_none_or(|s| s.served >= REBUILD) {
            self.state = None;
            let mut opts = SimOptions::default();
            opts.config.time_scale = 0.0;
            let core = xapi_sim::server::build_core(&opts).expect("the demo pool");
            let login = vec![Value::str("root"), Value::str("xenroot"), Value::str("1.0"), Value::str("xe-fuzz")];
            let session = match self.rt.block_on(core.call("session.login_with_password", login)) {
                Response::Success(Value::String(s)) => s,
                other => panic!("the fuzzer could not log in: {other:?}"),
            };
            let router = xapi_sim::server::router(core.clone());
            let mut objects = std::collections::HashMap::new();
            {
                let db = core.db.read();
                for c in 0..db.schema.classes.len() {
                    let objs: Vec<(String, String)> = db
                        .iter(c)
                        .map(|(r, _)| {
                            (r.clone(), db.field(r, "uuid").and_then(Value::as_str).unwrap_or("").to_string())
                        })
                        .collect();
                    objects.insert(db.class(c).name().to_ascii_lowercase(), objs);
                }
            }
            let pool = Arc::new(Pool { session: session.clone(), objects });
            self.state = Some(State { core, router, session, served: 0, pool });
        }
        self.state.as_mut().expect("built above")
    }

    /// A call on the current core, for the seeds.
    fn call(&mut self, method: &str, params: Vec<Value>) -> Value {
        let core = self.state().core.clone();
        match self.rt.block_on(core.call(method, params)) {
            Response::Success(v) => v,
            Response::Failure(_) => Value::Nil,
        }
    }

    /// The refs of a class's objects and their records.
    fn records(&mut self, class: &str) -> Vec<(String, Value)> {
        let s = Value::String(self.state().session.clone());
        match self.call(&format!("{class}.get_all_records"), vec![s]) {
            Value::Struct(m) => m,
            _ => Vec::new(),
        }
    }

    /// Valid calls of many methods on the demo pool.
    fn calls(&mut self) -> Vec<(String, Vec<Value>)> {
        let vms = self.records("VM");
        let field = |rec: &Value, k: &str| rec.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let running: Vec<&(String, Value)> = vms
            .iter()
            .filter(|(_, r)| {
                field(r, "power_state") == "Running" && r.get("is_control_domain") == Some(&Value::Bool(false))
            })
            .collect();
        let halted: Vec<&(String, Value)> = vms
            .iter()
            .filter(|(_, r)| field(r, "power_state") == "Halted" && r.get("is_a_template") == Some(&Value::Bool(false)))
            .collect();
        let template = vms.iter().find(|(_, r)| r.get("is_a_template") == Some(&Value::Bool(true)));
        let hosts = self.records("host");
        let srs = self.records("SR");
        let session = self.state().session.clone();
        let s = || Value::String(session.clone());
        let r = |x: &str| Value::str(x);
        let mut calls: Vec<(String, Vec<Value>)> = vec![
            ("session.login_with_password".into(), vec![r("root"), r("xenroot"), r("1.0"), r("xe-fuzz")]),
            ("session.login_with_password".into(), vec![r("root"), r("wrong")]),
            ("VM.get_all_records".into(), vec![s()]),
            ("VM.get_all".into(), vec![s()]),
            ("VM.get_all_records_where".into(), vec![s(), r("field \"power_state\" = \"Running\"")]),
            (
                "VM.get_all_records_where".into(),
                vec![s(), r("field \"is_a_template\" = \"false\" and not (field \"name__label\" = \"x\") or false")],
            ),
            ("VDI.get_all_records_where".into(), vec![s(), r("true")]),
            ("event.from".into(), vec![s(), Value::Array(vec![r("*")]), r(""), Value::Float(0.0)]),
            ("event.from".into(), vec![s(), Value::Array(vec![r("vm"), r("task")]), r(""), Value::Float(0.0)]),
            ("event.get_current_id".into(), vec![s()]),
            ("event.register".into(), vec![s(), Value::Array(vec![r("vm")])]),
            ("event.next".into(), vec![s()]),
            ("event.unregister".into(), vec![s(), Value::Array(vec![r("vm")])]),
            ("task.get_all_records".into(), vec![s()]),
            ("pool.get_all_records".into(), vec![s()]),
            ("SR.get_all_records".into(), vec![s()]),
            ("network.get_all_records".into(), vec![s()]),
            ("message.get_all_records".into(), vec![s()]),
            (
                "network.create".into(),
                vec![
                    s(),
                    Value::Struct(vec![
                        ("name_label".into(), r("fuzz net")),
                        ("other_config".into(), Value::Struct(vec![])),
                    ]),
                ],
            ),
            ("VM.get_all_records".into(), vec![r("OpaqueRef:not-a-session")]),
            ("VM.get_record".into(), vec![s()]),
            ("no.such_method".into(), vec![s()]),
        ];
        for (vm, rec) in running.iter().take(2).chain(halted.iter().take(2)) {
            let v = || Value::String(vm.clone());
            let uuid = field(rec, "uuid");
            calls.extend([
                ("VM.get_record".into(), vec![s(), v()]),
                ("VM.get_by_uuid".into(), vec![s(), r(&uuid)]),
                ("VM.get_by_name_label".into(), vec![s(), r(&field(rec, "name_label"))]),
                ("VM.get_power_state".into(), vec![s(), v()]),
                ("VM.set_name_label".into(), vec![s(), v(), r("fuzzed <name> & co")]),
                ("VM.add_to_other_config".into(), vec![s(), v(), r("k"), r("v")]),
                ("VM.remove_from_other_config".into(), vec![s(), v(), r("k")]),
                (
                    "VM.set_memory_limits".into(),
                    vec![s(), v(), Value::Int(1 << 28), Value::Int(1 << 29), Value::Int(1 << 28), Value::Int(1 << 29)],
                ),
                ("VM.clone".into(), vec![s(), v(), r("fuzz clone")]),
                ("VM.snapshot".into(), vec![s(), v(), r("fuzz snap")]),
                ("Async.VM.clone".into(), vec![s(), v(), r("fuzz async clone")]),
                (
                    "event.from".into(),
                    vec![s(), Value::Array(vec![Value::String(format!("vm/{vm}"))]), r(""), Value::Float(0.0)],
                ),
                ("message.create".into(), vec![s(), r("FUZZ"), Value::Int(3), r("VM"), r(&uuid), r("body")]),
            ]);
        }
        for (vm, _) in running.iter().take(2) {
            let v = || Value::String(vm.clone());
            calls.extend([
                ("VM.clean_shutdown".into(), vec![s(), v()]),
                ("Async.VM.hard_reboot".into(), vec![s(), v()]),
                ("VM.pause".into(), vec![s(), v()]),
                ("VM.suspend".into(), vec![s(), v()]),
            ]);
        }
        for (vm, _) in halted.iter().take(2) {
            let v = || Value::String(vm.clone());
            calls.extend([
                ("VM.start".into(), vec![s(), v(), Value::Bool(false), Value::Bool(false)]),
                ("Async.VM.start".into(), vec![s(), v(), Value::Bool(false), Value::Bool(true)]),
                ("VM.destroy".into(), vec![s(), v()]),
            ]);
        }
        if let Some((t, _)) = template {
            calls.push(("VM.clone".into(), vec![s(), Value::String(t.clone()), r("from template")]));
        }
        for (h, _) in hosts.iter().take(1) {
            calls.extend([
                ("host.get_record".into(), vec![s(), Value::String(h.clone())]),
                ("host.get_servertime".into(), vec![s(), Value::String(h.clone())]),
            ]);
        }
        for (sr, _) in srs.iter().take(2) {
            let vdi = Value::Struct(vec![
                ("name_label".into(), r("fuzz disk")),
                ("SR".into(), Value::String(sr.clone())),
                ("virtual_size".into(), Value::Int(1 << 30)),
                ("type".into(), r("user")),
                ("sharable".into(), Value::Bool(false)),
                ("read_only".into(), Value::Bool(false)),
                ("other_config".into(), Value::Struct(vec![])),
            ]);
            calls.extend([
                ("VDI.create".into(), vec![s(), vdi]),
                ("SR.scan".into(), vec![s(), Value::String(sr.clone())]),
            ]);
        }
        calls
    }
}

impl Default for SimRequest {
    fn default() -> Self {
        SimRequest::new()
    }
}

const DICTIONARY: &[&str] = &[
    "<value>",
    "</value>",
    "<struct>",
    "<member>",
    "<name>",
    "<array><data>",
    "<base64>",
    "<int>",
    "<double>",
    "<boolean>1</boolean>",
    "<nil/>",
    "&#x0;",
    "Async.",
    "VM.",
    "host.",
    "task.",
    "event.",
    "get_record",
    "get_all_records_where",
    "OpaqueRef:NULL",
    "field \"",
    "\" = \"",
    " and ",
    " not ",
    "(",
    ")",
    "{",
    "[",
    "\"\\ud800\"",
    "1e999",
    "-0",
    "NaN",
    "\"jsonrpc\":\"2.0\",",
    "\"id\":",
    "null",
];

/// The route an input's first byte names.
fn route(b: u8) -> (&'static str, bool) {
    match b {
        b'x' => ("/", true),
        b'r' => ("/RPC2", true),
        b'j' => ("/jsonrpc", false),
        other => [("/", true), ("/RPC2", true), ("/jsonrpc", false)][usize::from(other) % 3],
    }
}

/// What the server's own decoder makes of a body: the method, and for JSON-RPC the id and version.
enum Decoded {
    Refused,
    Xml(String),
    Json(String, serde_json::Value, Version),
}

/// A XenAPI error code: capitals, digits and underscores.
fn is_code(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The answer's error code ("ok" for a success); an error must have one.
fn check_failure(resp: &Response) -> Result<String, String> {
    match resp {
        Response::Success(_) => Ok("ok".to_string()),
        Response::Failure(desc) => match desc.first() {
            Some(code) if is_code(code) => Ok(code.clone()),
            _ => Err(format!("an error without an error code: {desc:?}")),
        },
    }
}

impl Target for SimRequest {
    fn name(&self) -> &'static str {
        "sim-request"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        let mut seeds = Vec::new();
        for (i, (method, params)) in self.calls().into_iter().enumerate() {
            let mut xml = vec![if i % 4 == 0 { b'r' } else { b'x' }];
            xml.extend_from_slice(xmlrpc::encode_call(&method, &params).as_bytes());
            seeds.push(xml);
            let version = if i % 3 == 0 { Version::V1 } else { Version::V2 };
            let mut json = vec![b'j'];
            json.extend_from_slice(jsonrpc::encode_call(&method, &params, i as u64, version).as_bytes());
            seeds.push(json);
        }
        // Calls built from the datamodel, from random choices.
        let mut rng = crate::rng::Rng::new(51);
        for _ in 0..96 {
            let mut choices = vec![0u8; rng.between(64, 400)];
            rng.fill(&mut choices);
            choices.insert(0, b'g');
            seeds.push(choices);
        }
        // The seeds' calls changed the pool: start the run on a fresh one.
        self.state = None;
        seeds
    }

    fn dictionary(&self) -> Vec<Vec<u8>> {
        tokens(DICTIONARY)
    }

    fn slow_is_finding(&self) -> bool {
        false
    }

    fn reset(&mut self) {
        self.state = None;
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        let Some((&first, rest)) = input.split_first() else { return Ok(0) };
        let (route, body) = if first == b'g' {
            let pool = self.state().pool.clone();
            let mut c = crate::values::Choices::new(rest);
            let format = c.below(4);
            let (method, params) = calls::call(&mut c, &pool);
            match format {
                0 | 1 => ([("/", true), ("/RPC2", true)][format], xmlrpc::encode_call(&method, &params).into_bytes()),
                v => (
                    ("/jsonrpc", false),
                    jsonrpc::encode_call(&method, &params, 1, if v == 2 { Version::V1 } else { Version::V2 })
                        .into_bytes(),
                ),
            }
        } else {
            (route(first), rest.to_vec())
        };
        let ((path, xml), body) = (route, &body[..]);
        let decoded = if xml {
            xmlrpc::decode_call(body).map(|(m, _)| Decoded::Xml(m)).unwrap_or(Decoded::Refused)
        } else {
            jsonrpc::decode_call(body).map(|c| Decoded::Json(c.method, c.id, c.version)).unwrap_or(Decoded::Refused)
        };
        let method = match &decoded {
            Decoded::Refused => "",
            Decoded::Xml(m) | Decoded::Json(m, ..) => m.as_str(),
        };
        let waits = matches!(method, "event.from" | "event.next");
        let state = self.state();
        state.served += 1;
        let router = state.router.clone();
        let core = state.core.clone();
        let before = core.db.read().event_id();
        let request =
            Request::builder().method("POST").uri(path).body(Body::from(body.to_vec())).map_err(|e| e.to_string())?;
        let answer = self.rt.block_on(async move {
            let served = async {
                let resp = router.oneshot(request).await.map_err(|e| format!("{e:?}"))?;
                let status = resp.status();
                let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.map_err(|e| e.to_string())?;
                Ok::<_, String>((status, bytes))
            };
            let answer = tokio::time::timeout(if waits { WAIT } else { HANG }, served).await;
            // Let the tasks `Async.` calls spawned run to their end.
            for _ in 0..8 {
                tokio::task::yield_now().await;
            }
            answer
        });
        let (status, bytes) = match answer {
            Ok(r) => r?,
            Err(_) if waits => return Ok(fnv(b"waited")),
            Err(_) => return Err(format!("{method} did not answer in {} s", HANG.as_secs())),
        };
        let text = String::from_utf8_lossy(&bytes);
        let code = match decoded {
            Decoded::Refused => {
                if status != StatusCode::INTERNAL_SERVER_ERROR || !text.contains("HTTP 500 internal server error") {
                    return Err(format!("a request the decoder refuses got HTTP {status}: {}", brief(&text)));
                }
                "refused".to_string()
            }
            _ if status != StatusCode::OK => return Err(format!("{method} got HTTP {status}: {}", brief(&text))),
            Decoded::Xml(_) => {
                let resp = xmlrpc::decode_response(&bytes)
                    .map_err(|e| format!("{method}: the XML-RPC answer does not decode ({e}): {}", brief(&text)))?;
                check_failure(&resp).map_err(|e| format!("{method}: {e}"))?
            }
            Decoded::Json(_, ref id, version) => {
                let resp = jsonrpc::decode_response(&bytes)
                    .map_err(|e| format!("{method}: the JSON-RPC answer does not decode ({e}): {}", brief(&text)))?;
                let code = check_failure(&resp).map_err(|e| format!("{method}: {e}"))?;
                let envelope: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| format!("{method}: the answer is not JSON: {e}"))?;
                let v2 = envelope.get("jsonrpc").and_then(|v| v.as_str()) == Some("2.0");
                if envelope.get("id") != Some(id) || v2 != (version == Version::V2) {
                    return Err(format!("{method}: the answer's id or version differs from the request's: {text}"));
                }
                code
            }
        };
        check_changes(&core.db.read(), before).map_err(|e| format!("{method}: {e}"))?;
        Ok(fnv(format!("{path} {method} {code}").as_bytes()))
    }
}

/// The objects changed after event `since` hold values of their fields'
/// types, and their two-way references agree (see `relations.rs`).
fn check_changes(db: &Db, since: u64) -> Result<(), String> {
    for (_, r, c, op, fields) in db.changes_since(since) {
        if op == Operation::Del {
            continue;
        }
        let cls = db.class(c);
        for (f, v) in cls.fields.iter().zip(fields) {
            typed(db, &f.ty, v).map_err(|e| format!("{}.{} of {r} holds {e}", cls.name(), f.name()))?;
        }
        for rel in RELATIONS {
            let field = |class: &str, name: &str| (cls.name() == class).then(|| cls.field_pos(name)).flatten();
            // This object's ref names an object whose set must list it.
            if let Some(pos) = field(rel.ref_class, rel.ref_field) {
                let target = fields[pos].as_str().unwrap_or("");
                let set = db.get(target).filter(|(tc, _)| db.class(*tc).name() == rel.set_class).map(|_| {
                    db.field(target, rel.set_field)
                        .and_then(Value::as_array)
                        .unwrap_or(&[])
                        .iter()
                        .any(|x| x.as_str() == Some(r))
                });
                if set == Some(false) {
                    return Err(format!(
                        "{}.{} of {r} is {target}, whose {} lacks it",
                        cls.name(),
                        rel.ref_field,
                        rel.set_field
                    ));
                }
            }
            // This object's set lists objects whose ref must name it.
            if let Some(pos) = field(rel.set_class, rel.set_field) {
                for item in fields[pos].as_array().unwrap_or(&[]) {
                    let item = item.as_str().unwrap_or("");
                    let back = db.field(item, rel.ref_field).and_then(Value::as_str);
                    if db.get(item).is_some_and(|(ic, _)| db.class(ic).name() == rel.ref_class) && back != Some(r) {
                        return Err(format!(
                            "{}.{} of {r} lists {item}, whose {} is {back:?}",
                            cls.name(),
                            rel.set_field,
                            rel.ref_field
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whether `v` is a value of `ty` as the simulator stores it: the exact
/// variant, enum members, datetimes in xapi's `YYYYMMDDThh:mm:ssZ` form.
/// (Refs are not required to name live objects: xapi leaves some dangling.)
fn typed(db: &Db, ty: &Type, v: &Value) -> Result<(), String> {
    let member = |e: &str, x: &str| match db.schema.enum_def(e) {
        Some(def) if def.values.contains(&x) => Ok(()),
        _ => Err(format!("{x:?}, no member of enum {e}")),
    };
    match (ty, v) {
        (Type::String | Type::Void | Type::Ref(_), Value::String(_)) => Ok(()),
        (Type::Int, Value::Int(_)) | (Type::Float, Value::Float(_)) | (Type::Bool, Value::Bool(_)) => Ok(()),
        (Type::DateTime, Value::DateTime(d)) if d.len() == 18 && d.ends_with('Z') => Ok(()),
        (Type::Enum(e), Value::String(x)) => member(e, x),
        (Type::Set(inner), Value::Array(items)) => items.iter().try_for_each(|x| typed(db, inner, x)),
        (Type::Option(inner), Value::Array(items)) if items.len() <= 1 => {
            items.iter().try_for_each(|x| typed(db, inner, x))
        }
        (Type::Map(k, val), Value::Struct(members)) => members.iter().try_for_each(|(key, x)| {
            match &**k {
                Type::Int => key.parse::<i64>().map(drop).map_err(|_| format!("the int key {key:?}"))?,
                Type::Enum(e) => member(e, key)?,
                _ => {}
            }
            typed(db, val, x)
        }),
        (Type::Record(_), Value::Struct(_)) => Ok(()),
        _ => Err(format!("{}, not a {}", brief(v), xenapi::value::type_label(ty))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool check sees a field of the wrong type, a bad enum member and
    /// a one-sided reference, and only in objects changed after `since`.
    #[test]
    fn the_pool_check_finds_broken_objects() {
        let mut sim = SimRequest::new();
        let core = sim.state().core.clone();
        let mut db = core.db.write();
        let vms: Vec<String> = db
            .all("VM")
            .into_iter()
            .filter(|r| !db.field(r, "VBDs").and_then(Value::as_array).unwrap_or(&[]).is_empty())
            .collect();
        let (a, b) = (vms[0].clone(), vms[1].clone());
        let since = db.event_id();
        assert_eq!(check_changes(&db, since), Ok(()));
        db.set_named(&a, "name_label", Value::str("renamed"));
        assert_eq!(check_changes(&db, since), Ok(()));
        db.set_named(&a, "power_state", Value::str("Exploded"));
        assert!(check_changes(&db, since).unwrap_err().contains("enum"));
        db.set_named(&a, "power_state", Value::str("Halted"));
        db.set_named(&a, "memory_static_max", Value::str("1024"));
        assert!(check_changes(&db, since).unwrap_err().contains("memory_static_max"));
        db.set_named(&a, "memory_static_max", Value::Int(1024));
        let since = db.event_id();
        let theirs = db.field(&b, "VBDs").cloned().unwrap_or(Value::Nil);
        db.set_named(&a, "VBDs", theirs);
        assert!(check_changes(&db, since).unwrap_err().contains("VBDs"));
        assert_eq!(check_changes(&db, db.event_id()), Ok(()));
    }
}
