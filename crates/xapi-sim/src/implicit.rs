//! The datamodel's implicit messages, served generically for any class:
//! getters, setters, map and set updates, records, `get_all_records(_where)`,
//! `get_by_uuid`, `get_by_name_label`, the constructor and the destructor.

use crate::call::Call;
use crate::db::{ApiResult, Db, Failure};
use crate::expr;
use crate::rbac;
use crate::record::{canonical_enum, check_enum};
use xenapi::model::{Qualifier, Type};
use xenapi::{Value, NULL_REF};

/// Whether an explicit message is a setter of a plain field: served like an
/// implicit one unless a behaviour adds rules (xapi validates some, e.g.
/// memory limits).
pub fn is_plain_setter(call: &Call) -> bool {
    call.message.name.strip_prefix("set_").and_then(|f| call.class.field(f)).is_some_and(|f| {
        call.message.params.len() == 3 && xenapi::model::parse_type(call.message.params[2].0).as_ref() == Some(&f.ty)
    })
}

/// Implements every message the datamodel marks implicit, for any class.
pub fn serve(call: &Call) -> ApiResult<Value> {
    let name = call.message.name;
    let c = call.class_idx;
    let class = call.class;
    if class.name() == "role" {
        return role_message(call, name);
    }
    match name {
        "get_all" => {
            let db = call.core.db.read();
            Ok(Value::Array(db.iter(c).map(|(r, _)| Value::String(r.clone())).collect()))
        }
        "get_all_records" => {
            let db = call.core.db.read();
            Ok(all_records(&db, c, |_| true))
        }
        "get_all_records_where" => {
            let e = where_expr(call.str(0))?;
            let db = call.core.db.read();
            // xapi's database spells namespaced fields `name__label`.
            let pos = |f: &str| class.field_pos(f).or_else(|| class.field_pos(&f.replace("__", "_")));
            Ok(all_records(&db, c, |fields| e.eval(&|f: &str| pos(f).and_then(|p| fields.get(p)))))
        }
        "get_record" => {
            let db = call.core.db.read();
            let o = db.expect(c, call.str(0))?;
            Ok(db.record(c, &o.fields))
        }
        "get_by_uuid" => {
            let db = call.core.db.read();
            db.by_uuid(c, call.str(0))
                .map(Value::str)
                .ok_or_else(|| Failure::new("UUID_INVALID", [class.name(), call.str(0)]))
        }
        "get_by_name_label" => {
            let db = call.core.db.read();
            let pos = class.field_pos("name_label");
            Ok(Value::Array(
                db.iter(c)
                    .filter(|(_, o)| pos.and_then(|p| o.fields[p].as_str()) == Some(call.str(0)))
                    .map(|(r, _)| Value::String(r.clone()))
                    .collect(),
            ))
        }
        "create" => call.core.write(|db| create(db, call)),
        "destroy" => call.core.write(|db| {
            db.expect(c, call.str(0))?;
            db.destroy(call.str(0));
            Ok(Value::str(""))
        }),
        _ => field_message(call, name),
    }
}

/// The implicit messages of `role`, served from xapi's static table
/// ([`rbac::roles`]) as xapi serves them, not from the database. The table
/// knows two expressions by their exact text, roles (`subroles<>[]`) and
/// permissions (`subroles=[]`); any other lists every entry.
fn role_message(call: &Call, name: &str) -> ApiResult<Value> {
    let all = rbac::roles();
    let record = |r: &rbac::Role| {
        Value::Struct(vec![
            ("uuid".into(), Value::str(&r.uuid)),
            ("name_label".into(), Value::str(&r.name_label)),
            ("name_description".into(), Value::str(&r.name_description)),
            ("subroles".into(), Value::Array(r.subroles.iter().map(Value::str).collect())),
            ("is_internal".into(), Value::Bool(r.is_internal)),
        ])
    };
    let records = |keep: &dyn Fn(&rbac::Role) -> bool| {
        Value::Struct(all.iter().filter(|r| keep(r)).map(|r| (r.r#ref.clone(), record(r))).collect())
    };
    let this = || rbac::role(call.str(0)).ok_or_else(|| Failure::new("HANDLE_INVALID", ["role", call.str(0)]));
    Ok(match name {
        "get_all" => Value::Array(all.iter().map(|r| Value::str(&r.r#ref)).collect()),
        "get_all_records" => records(&|_| true),
        "get_all_records_where" => match call.str(0) {
            "subroles<>[]" => records(&|r| !r.subroles.is_empty()),
            "subroles=[]" => records(&|r| r.subroles.is_empty()),
            _ => records(&|_| true),
        },
        "get_by_uuid" => all
            .iter()
            .find(|r| r.uuid == call.str(0))
            .map(|r| Value::str(&r.r#ref))
            .ok_or_else(|| Failure::new("UUID_INVALID", ["role", call.str(0)]))?,
        "get_by_name_label" => {
            Value::Array(all.iter().filter(|r| r.name_label == call.str(0)).map(|r| Value::str(&r.r#ref)).collect())
        }
        "get_record" => record(this()?),
        "get_uuid" => Value::str(&this()?.uuid),
        "get_name_label" => Value::str(&this()?.name_label),
        "get_name_description" => Value::str(&this()?.name_description),
        "get_subroles" => Value::Array(this()?.subroles.iter().map(Value::str).collect()),
        "get_is_internal" => Value::Bool(this()?.is_internal),
        _ => return Err(Failure::new("MESSAGE_METHOD_UNKNOWN", [call.method.as_str()])),
    })
}

/// Parses a `get_all_records_where` expression, failing as the API does.
pub(crate) fn where_expr(text: &str) -> ApiResult<expr::Expr> {
    expr::parse(text).map_err(|why| Failure::new("INVALID_VALUE", ["expr".to_string(), format!("{text}: {why}")]))
}

fn all_records(db: &Db, c: usize, keep: impl Fn(&[Value]) -> bool) -> Value {
    Value::Struct(
        db.iter(c).filter(|(_, o)| keep(&o.fields)).map(|(r, o)| (r.clone(), db.record(c, &o.fields))).collect(),
    )
}

/// The generic constructor: every writable or constructor field may be given;
/// those without a datamodel default must be.
fn create(db: &mut Db, call: &Call) -> ApiResult<Value> {
    let c = call.class_idx;
    let members = call.args[0].as_struct().unwrap_or(&[]);
    let mut fields = db.blank_record(c);
    for (pos, f) in call.class.fields.iter().enumerate() {
        if f.def.qualifier == Qualifier::RoRuntime {
            continue;
        }
        match members.iter().find(|(k, _)| k == f.name()) {
            Some((_, v)) => {
                let v = v.clone().coerce(&f.ty).map_err(|_| Failure::new("FIELD_TYPE_ERROR", [f.name()]))?;
                check_enum(&v, &f.ty).map_err(|_| Failure::new("FIELD_TYPE_ERROR", [f.name()]))?;
                if let (Type::Ref(target), Some(r)) = (&f.ty, v.as_str()) {
                    let tc = db.class_index(target).unwrap_or(usize::MAX);
                    if r != NULL_REF && !db.is_a(r, tc) {
                        return Err(Failure::new("HANDLE_INVALID", [target.as_str(), r]));
                    }
                }
                fields[pos] = canonical_enum(v, &f.ty);
            }
            None if f.required_by_constructor() => return Err(Failure::new("FIELD_TYPE_ERROR", [f.name()])),
            None => {}
        }
    }
    let r = db.new_ref();
    Ok(Value::String(db.insert(c, r, fields)))
}

/// Getters, setters and collection updates derived from fields.
pub fn field_message(call: &Call, name: &str) -> ApiResult<Value> {
    let class = call.class;
    let c = call.class_idx;
    let target = call.str(0);
    let find = |field: &str| {
        class.field_pos(field).ok_or_else(|| Failure::new("MESSAGE_METHOD_UNKNOWN", [call.method.as_str()]))
    };
    if let Some(field) = name.strip_prefix("get_") {
        let pos = find(field)?;
        let db = call.core.db.read();
        return Ok(db.expect(c, target)?.fields[pos].clone());
    }
    call.core.write(|db| {
        let (pos, op) = if let Some(f) = name.strip_prefix("set_") {
            (find(f)?, Op::Set)
        } else if let Some(f) = name.strip_prefix("add_to_") {
            (find(f)?, Op::MapAdd)
        } else if let Some(f) = name.strip_prefix("remove_from_") {
            (find(f)?, Op::MapRemove)
        } else if let Some(f) = name.strip_prefix("add_") {
            (find(f)?, Op::SetAdd)
        } else if let Some(f) = name.strip_prefix("remove_") {
            (find(f)?, Op::SetRemove)
        } else {
            return Err(Failure::new("MESSAGE_METHOD_UNKNOWN", [call.method.as_str()]));
        };
        let field = &class.fields[pos];
        let mut v = db.expect(c, target)?.fields[pos].clone();
        match op {
            Op::Set => v = canonical_enum(call.args[1].clone(), &field.ty),
            Op::MapAdd => {
                let key = call.str(1).to_string();
                if let Value::Struct(m) = &mut v {
                    if m.iter().any(|(k, _)| *k == key) {
                        return Err(Failure::new("MAP_DUPLICATE_KEY", [class.name(), field.name(), target, &key]));
                    }
                    m.push((key, canonical_enum(call.args[2].clone(), map_value_type(&field.ty))));
                }
            }
            Op::MapRemove => {
                if let Value::Struct(m) = &mut v {
                    m.retain(|(k, _)| k != call.str(1));
                }
            }
            Op::SetAdd => {
                if let Value::Array(items) = &mut v {
                    if !items.contains(&call.args[1]) {
                        items.push(call.args[1].clone());
                    }
                }
            }
            Op::SetRemove => {
                if let Value::Array(items) = &mut v {
                    items.retain(|x| *x != call.args[1]);
                }
            }
        }
        db.set(target, pos, v);
        Ok(Value::str(""))
    })
}

fn map_value_type(ty: &Type) -> &Type {
    match ty {
        Type::Map(_, v) => v,
        other => other,
    }
}

enum Op {
    Set,
    MapAdd,
    MapRemove,
    SetAdd,
    SetRemove,
}
