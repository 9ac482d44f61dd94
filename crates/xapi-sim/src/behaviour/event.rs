//! `event.*`: `from` (coalesced changes since a token, blocking up to a
//! timeout) and the older `register`/`next` journal with EVENTS_LOST.

use crate::call::{BoxFuture, Call, Handler};
use crate::core::Registration;
use crate::db::{ApiResult, Db, Failure, Operation};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("event.from", Handler::Async(from));
    t.insert("event.next", Handler::Async(next));
    t.insert("event.register", Handler::Sync(subscribe));
    t.insert("event.unregister", Handler::Sync(unsubscribe));
    t.insert("event.get_current_id", Handler::Sync(|_, db| Ok(Value::Int(db.event_id() as i64))));
    t.insert("event.inject", Handler::Sync(inject));
}

/// Longest a single `event.from` may block, whatever the client asks.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// A subscription entry: `*`, a class name, or `class/ref`.
struct Filter {
    class: Option<String>,
    obj: Option<String>,
}

fn parse_filters(classes: &[Value]) -> Vec<Filter> {
    classes
        .iter()
        .filter_map(Value::as_str)
        .map(|s| match s.split_once('/') {
            Some((c, r)) => Filter { class: Some(c.to_ascii_lowercase()), obj: Some(r.to_string()) },
            None if s == "*" => Filter { class: None, obj: None },
            None => Filter { class: Some(s.to_ascii_lowercase()), obj: None },
        })
        .collect()
}

fn matches(filters: &[Filter], class: &str, r: &str) -> bool {
    filters.iter().any(|f| {
        f.class.as_deref().is_none_or(|c| c == class.to_ascii_lowercase()) && f.obj.as_deref().is_none_or(|o| o == r)
    })
}

fn token(id: u64) -> String {
    format!("{id:020}")
}

fn parse_token(t: &str) -> ApiResult<u64> {
    if t.is_empty() {
        return Ok(0);
    }
    // Accept our own tokens and xapi's "<id>,<id>" shape.
    t.split(',').next().unwrap_or("").trim().parse().map_err(|_| Failure::new("EVENT_FROM_TOKEN_PARSE_FAILURE", [t]))
}

fn event_record(db: &Db, id: u64, class: usize, op: Operation, r: &str, fields: Option<&[Value]>) -> Value {
    let cls = db.class(class);
    let mut m = vec![
        ("id".to_string(), Value::Int(id as i64)),
        ("timestamp".to_string(), Value::str((db.clock)())),
        ("class".to_string(), Value::str(cls.name().to_ascii_lowercase())),
        ("operation".to_string(), Value::str(op.as_str())),
        ("ref".to_string(), Value::str(r)),
    ];
    if let Some(fields) = fields {
        if let Some(pos) = cls.field_pos("uuid") {
            m.push(("obj_uuid".to_string(), fields[pos].clone()));
        }
        m.push(("snapshot".to_string(), db.record(class, fields)));
    }
    Value::Struct(m)
}

/// The snapshot `event.from` sends: none for a deleted message, as xapi
/// announces those without one (its message store keeps no tombstones).
fn from_snapshot<'a>(db: &Db, class: usize, op: Operation, fields: &'a [Value]) -> Option<&'a [Value]> {
    (op != Operation::Del || db.class(class).name() != "message").then_some(fields)
}

fn collect_from(db: &Db, filters: &[Filter], since: u64) -> Vec<Value> {
    // Waiting on particular objects (`task/<ref>`, as clients do for tasks)
    // must not cost a scan of the whole database.
    if !filters.is_empty() && filters.iter().all(|f| f.obj.is_some()) {
        let mut out: Vec<(u64, Value)> = Vec::new();
        for f in filters {
            let r = f.obj.as_deref().unwrap_or("");
            if let Some((c, o)) = db.get(r) {
                let cls = db.class(c).name().to_ascii_lowercase();
                if o.modified > since && f.class.as_deref().is_none_or(|want| want == cls) {
                    let op = if o.created > since { Operation::Add } else { Operation::Mod };
                    out.push((o.modified, event_record(db, o.modified, c, op, r, Some(&o.fields))));
                }
            } else if since > 0 {
                if let Some((id, c, fields)) = db.tombstone(r).filter(|(id, _, _)| *id > since) {
                    let snap = from_snapshot(db, c, Operation::Del, fields);
                    out.push((id, event_record(db, id, c, Operation::Del, r, snap)));
                }
            }
        }
        out.sort_by_key(|(id, _)| *id);
        return out.into_iter().map(|(_, e)| e).collect();
    }
    db.changes_since(since)
        .into_iter()
        .filter(|(_, _, _, op, _)| !(since == 0 && *op == Operation::Del))
        .filter(|(_, r, c, _, _)| matches(filters, db.class(*c).name(), r))
        .map(|(id, r, c, op, fields)| event_record(db, id, c, op, r, from_snapshot(db, c, op, fields)))
        .collect()
}

fn from(call: Call) -> BoxFuture {
    Box::pin(async move {
        let filters = parse_filters(call.args[0].as_array().unwrap_or(&[]));
        let since = parse_token(call.str(1))?;
        let timeout = call.args.get(2).and_then(Value::as_float).unwrap_or(0.0);
        let timeout = if timeout.is_finite() && timeout > 0.0 {
            Duration::from_secs_f64(timeout).min(MAX_WAIT)
        } else {
            Duration::ZERO
        };
        let deadline = Instant::now() + timeout;
        let mut rx = call.core.subscribe();
        loop {
            rx.borrow_and_update();
            {
                let db = call.core.db.read();
                let events = collect_from(&db, &filters, since);
                if !events.is_empty() || Instant::now() >= deadline {
                    let mut counts = Vec::new();
                    for f in &filters {
                        // Messages are not in xapi's object database, whose tables these count.
                        let table = f.class.as_deref().filter(|c| *c != "message");
                        if let Some(c) = table.and_then(|c| db.class_index(c)) {
                            let name = db.class(c).name().to_ascii_lowercase();
                            if !counts.iter().any(|(k, _): &(String, Value)| *k == name) {
                                counts.push((name, Value::Int(db.count(c) as i64)));
                            }
                        }
                    }
                    return Ok(Value::Struct(vec![
                        ("events".into(), Value::Array(events)),
                        ("valid_ref_counts".into(), Value::Struct(counts)),
                        ("token".into(), Value::String(token(db.event_id()))),
                    ]));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, rx.changed()).await.is_err() {
                continue; // deadline reached: answer with what there is
            }
        }
    })
}

fn subscribe(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let session = call.session.clone().unwrap_or_default();
    let mut regs = call.core.registrations.lock();
    let reg = regs.entry(session).or_insert_with(|| Registration { classes: Vec::new(), position: db.event_id() });
    for c in call.args[0].as_array().unwrap_or(&[]).iter().filter_map(Value::as_str) {
        if !reg.classes.iter().any(|x| x.eq_ignore_ascii_case(c)) {
            reg.classes.push(c.to_string());
        }
    }
    Ok(Value::str(""))
}

fn unsubscribe(call: &Call, _db: &mut Db) -> ApiResult<Value> {
    let session = call.session.clone().unwrap_or_default();
    let mut regs = call.core.registrations.lock();
    if let Some(reg) = regs.get_mut(&session) {
        let drop: Vec<&str> = call.args[0].as_array().unwrap_or(&[]).iter().filter_map(Value::as_str).collect();
        reg.classes.retain(|c| !drop.iter().any(|d| d.eq_ignore_ascii_case(c)));
        if reg.classes.is_empty() {
            regs.remove(&session);
        }
    }
    Ok(Value::str(""))
}

fn next(call: Call) -> BoxFuture {
    Box::pin(async move {
        let session = call.session.clone().unwrap_or_default();
        let mut rx = call.core.subscribe();
        loop {
            rx.borrow_and_update();
            {
                let Some(reg) = call.core.registrations.lock().get(&session).cloned() else {
                    return Err(Failure::new("SESSION_NOT_REGISTERED", [session.as_str()]));
                };
                let db = call.core.db.read();
                if db.journal_start().is_some_and(|start| start > reg.position + 1) {
                    return Err(Failure::new::<&str>("EVENTS_LOST", []));
                }
                let filters = parse_filters(&reg.classes.iter().map(|c| Value::str(c.as_str())).collect::<Vec<_>>());
                let mut last = reg.position;
                let mut out = Vec::new();
                for e in db.journal_since(reg.position) {
                    last = e.id;
                    if matches(&filters, db.class(e.class).name(), &e.obj_ref) {
                        let snap = db.snapshot_of(&e.obj_ref).map(|(_, f)| f);
                        out.push(event_record(&db, e.id, e.class, e.op, &e.obj_ref, snap));
                    }
                }
                if let Some(reg) = call.core.registrations.lock().get_mut(&session) {
                    reg.position = last;
                }
                if !out.is_empty() {
                    return Ok(Value::Array(out));
                }
            }
            // event.next blocks until something arrives; the session check keeps it honest.
            if rx.changed().await.is_err() {
                return Ok(Value::Array(Vec::new()));
            }
        }
    })
}

fn inject(call: &Call, db: &mut Db) -> ApiResult<Value> {
    // Messages live outside xapi's object database, so it cannot touch them.
    let class = db
        .class_index(call.str(0))
        .filter(|&c| db.class(c).name() != "message")
        .ok_or_else(|| Failure::new("HANDLE_INVALID", [call.str(0), call.str(1)]))?;
    db.expect(class, call.str(1))?;
    db.touch(call.str(1));
    Ok(Value::String(token(db.event_id())))
}
