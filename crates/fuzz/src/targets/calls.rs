//! Calls built from input bytes and the datamodel: any message of any
//! class (now and then as `Async.`), its parameters of their declared
//! types, mostly sensible (the session, refs and uuids of the demo pool,
//! enum members, `get_all_records_where` expressions over the class's
//! fields), sometimes not (a ref of another class, a bad enum, a parameter
//! too few or too many). Reaches far more of the simulator than byte
//! mutations of well-formed requests, which mostly break their syntax.

use crate::values::{self, Choices};
use std::collections::HashMap;
use xenapi::model::{parse_type, Schema, Type};
use xenapi::Value;

/// What the calls can name: the session and the pool's objects by class.
pub struct Pool {
    pub session: String,
    /// Refs and uuids of each class's objects (by lower-case class name).
    pub objects: HashMap<String, Vec<(String, String)>>,
}

impl Pool {
    fn pick(&self, c: &mut Choices<'_>, class: &str) -> Option<&(String, String)> {
        let objs = self.objects.get(&class.to_ascii_lowercase())?;
        (!objs.is_empty()).then(|| &objs[c.below(objs.len().min(256))])
    }

    /// Any object's ref or uuid, of any class.
    fn any(&self, c: &mut Choices<'_>) -> Option<&(String, String)> {
        let classes: Vec<&String> = self.objects.keys().collect();
        let mut classes = classes;
        classes.sort();
        let class = classes.get(c.below(classes.len()))?;
        self.pick(c, class)
    }
}

fn index(c: &mut Choices<'_>, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (usize::from(c.byte()) << 8 | usize::from(c.byte())) % n
    }
}

/// A method name and its parameters.
pub fn call(c: &mut Choices<'_>, pool: &Pool) -> (String, Vec<Value>) {
    let schema = Schema::get();
    let class = &schema.classes[index(c, schema.classes.len())];
    let messages = class.def.messages;
    if messages.is_empty() {
        return (format!("{}.get_all", class.name()), vec![Value::String(pool.session.clone())]);
    }
    let m = &messages[index(c, messages.len())];
    let prefix = if c.below(8) == 0 { "Async." } else { "" };
    let mut params = Vec::with_capacity(m.params.len());
    for &(ty, name) in m.params {
        let ty = parse_type(ty).unwrap_or(Type::String);
        params.push(param(c, pool, class.name(), name, &ty, 3));
    }
    match c.below(16) {
        // A parameter too few (a defaulted one, or not), or one too many.
        0 => {
            params.pop();
        }
        1 => params.push(values::value(c, 1)),
        _ => {}
    }
    (format!("{prefix}{}.{}", class.name(), m.name), params)
}

fn param(c: &mut Choices<'_>, pool: &Pool, class: &str, name: &str, ty: &Type, depth: usize) -> Value {
    // One parameter in 16 of any type at all.
    if c.below(16) == 0 {
        return values::value(c, 1);
    }
    match ty {
        Type::Ref(target) if target == "session" => {
            Value::String(if c.below(16) == 0 { "OpaqueRef:NULL".into() } else { pool.session.clone() })
        }
        Type::Ref(target) => {
            let r = match c.below(8) {
                0 => Some(xenapi::NULL_REF.to_string()),
                1 => pool.any(c).map(|(r, _)| r.clone()),
                _ => pool.pick(c, target).map(|(r, _)| r.clone()),
            };
            Value::String(r.unwrap_or_else(|| xenapi::NULL_REF.to_string()))
        }
        Type::String if name == "expr" => Value::String(expr(c, class)),
        Type::String if name.contains("uuid") => {
            let u = if c.below(4) == 0 { pool.any(c) } else { pool.pick(c, class) };
            Value::String(u.map(|(_, u)| u.clone()).unwrap_or_default())
        }
        Type::String | Type::Void => Value::String(values::string(c)),
        Type::Int => Value::Int(match c.below(4) {
            0 => c.u64() as i64,
            1 => -1,
            _ => [0, 1, 2, 7, 1 << 20, 1 << 30, 1 << 34][c.below(7)],
        }),
        Type::Float => Value::Float([0.0, 0.5, 1.0, -1.0, 1e9, f64::NAN][c.below(6)]),
        Type::Bool => Value::Bool(c.byte() & 1 == 1),
        Type::DateTime => {
            Value::DateTime(if c.below(4) == 0 { values::string(c) } else { "20250101T12:00:00Z".to_string() })
        }
        Type::Enum(e) => {
            let members = Schema::get().enum_def(e).map(|d| d.values).unwrap_or(&[]);
            match members.get(c.below(members.len() + 1)) {
                Some(m) => Value::str(*m),
                None => Value::String(values::string(c)),
            }
        }
        Type::Set(inner) if depth > 0 => {
            Value::Array((0..c.below(4)).map(|_| param(c, pool, class, name, inner, depth - 1)).collect())
        }
        Type::Option(inner) if depth > 0 => {
            Value::Array((0..c.below(2)).map(|_| param(c, pool, class, name, inner, depth - 1)).collect())
        }
        Type::Map(k, v) if depth > 0 => Value::Struct(
            (0..c.below(4))
                .map(|_| {
                    let key = match param(c, pool, class, "key", k, 0) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, param(c, pool, class, name, v, depth - 1))
                })
                .collect(),
        ),
        Type::Record(target) if depth > 0 => record(c, pool, target, depth - 1),
        _ => Value::Array(Vec::new()),
    }
}

/// A record of `class` for a constructor: some of its fields, typed.
fn record(c: &mut Choices<'_>, pool: &Pool, class: &str, depth: usize) -> Value {
    let Some(cls) = Schema::get().class(class) else { return Value::Struct(Vec::new()) };
    let mut members = Vec::new();
    for f in &cls.fields {
        // Most of them, so that constructors' required fields are often all there.
        if c.below(4) != 0 {
            members.push((f.name().to_string(), param(c, pool, class, f.name(), &f.ty, depth)));
        }
    }
    Value::Struct(members)
}

/// A `get_all_records_where` expression over the class's fields.
fn expr(c: &mut Choices<'_>, class: &str) -> String {
    let fields: Vec<&str> =
        Schema::get().class(class).map(|cls| cls.fields.iter().map(|f| f.name()).collect()).unwrap_or_default();
    let atom = |c: &mut Choices<'_>| match c.below(6) {
        0 => "true".to_string(),
        1 => "false".to_string(),
        _ => {
            let f = fields.get(c.below(fields.len().max(1))).copied().unwrap_or("uuid");
            format!("field \"{f}\" = \"{}\"", values::string(c).replace('"', "\\\""))
        }
    };
    let mut e = atom(c);
    for _ in 0..c.below(4) {
        e = match c.below(4) {
            0 => format!("not ({e})"),
            1 => format!("{e} or {}", atom(c)),
            2 => format!("({e}) and ({})", atom(c)),
            _ => format!("{e} and {}", atom(c)),
        };
    }
    e
}
