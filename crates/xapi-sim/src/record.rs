//! Values checked against the datamodel: enum members of arguments and of
//! the fields of new records, and their canonical spellings.

use xenapi::model::Type;
use xenapi::Value;

/// Checks enum members against the datamodel's value list.
pub(crate) fn check_enum(v: &Value, ty: &Type) -> Result<(), ()> {
    match (ty, v) {
        (Type::Enum(name), Value::String(s)) => {
            let schema = xenapi::model::Schema::get();
            match schema.enum_def(name) {
                Some(e) if !e.values.iter().any(|x| x.eq_ignore_ascii_case(s)) => Err(()),
                _ => Ok(()),
            }
        }
        (Type::Set(inner), Value::Array(items)) => items.iter().try_for_each(|i| check_enum(i, inner)),
        (Type::Map(_, vt), Value::Struct(m)) => m.iter().try_for_each(|(_, i)| check_enum(i, vt)),
        _ => Ok(()),
    }
}

/// Canonical spelling of an enum value (xapi accepts any case on input).
pub(crate) fn canonical_enum(v: Value, ty: &Type) -> Value {
    match (ty, v) {
        (Type::Enum(name), Value::String(s)) => {
            let schema = xenapi::model::Schema::get();
            let canon = schema.enum_def(name).and_then(|e| e.values.iter().find(|x| x.eq_ignore_ascii_case(&s)));
            Value::String(canon.map_or(s, |c| c.to_string()))
        }
        (Type::Set(inner), Value::Array(items)) => {
            Value::Array(items.into_iter().map(|i| canonical_enum(i, inner)).collect())
        }
        (_, v) => v,
    }
}
