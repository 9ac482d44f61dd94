//! Records and values checked against the datamodel: the record builder of
//! explicit constructors ([`Rec`], [`parse_record`]), coercion, enum members
//! and their canonical spellings.

use crate::db::{ApiResult, Db, Failure};
use xenapi::model::{Class, Qualifier, Type};
use xenapi::{Value, NULL_REF};

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

/// A record being built for a new object: fields in datamodel order.
pub struct Rec {
    pub class: &'static Class,
    pub idx: usize,
    pub fields: Vec<Value>,
}

impl Rec {
    /// A record with every field at its default.
    pub fn blank(db: &Db, idx: usize) -> Rec {
        Rec { class: db.class(idx), idx, fields: db.blank_record(idx) }
    }

    /// A copy of a live object's record.
    pub fn of(db: &Db, r: &str) -> Option<Rec> {
        let (idx, o) = db.get(r)?;
        Some(Rec { class: db.class(idx), idx, fields: o.fields.clone() })
    }

    fn pos(&self, name: &str) -> usize {
        self.class.field_pos(name).unwrap_or_else(|| panic!("{}.{name} is not a field", self.class.name()))
    }

    pub fn get(&self, name: &str) -> &Value {
        &self.fields[self.pos(name)]
    }

    pub fn str(&self, name: &str) -> &str {
        self.get(name).as_str().unwrap_or("")
    }

    pub fn bool(&self, name: &str) -> bool {
        self.get(name).as_bool().unwrap_or(false)
    }

    pub fn int(&self, name: &str) -> i64 {
        self.get(name).as_int().unwrap_or(0)
    }

    pub fn set(&mut self, name: &str, v: Value) -> &mut Rec {
        let p = self.pos(name);
        self.fields[p] = v;
        self
    }

    /// Stores the record under a new ref; returns the ref.
    pub fn insert(self, db: &mut Db) -> String {
        let r = db.new_ref();
        db.insert(self.idx, r, self.fields)
    }
}

/// Parses the record argument of a constructor the way xapi's generated
/// code does: writable and constructor fields may be given, those without a
/// datamodel default must be, values are coerced to their types, enums
/// checked and ref fields must name live objects of their class.
pub fn parse_record(db: &Db, idx: usize, arg: &Value) -> ApiResult<Rec> {
    let members = arg.as_struct().unwrap_or(&[]);
    let mut rec = Rec::blank(db, idx);
    for (pos, f) in rec.class.fields.iter().enumerate() {
        if f.def.qualifier == Qualifier::RoRuntime {
            continue;
        }
        match members.iter().find(|(k, _)| k == f.name()) {
            Some((_, v)) => {
                let v = coerce(v.clone(), &f.ty).ok_or_else(|| Failure::new("FIELD_TYPE_ERROR", [f.name()]))?;
                if let (Type::Ref(target), Some(r)) = (&f.ty, v.as_str()) {
                    let tc = db.class_index(target).unwrap_or(usize::MAX);
                    if r != NULL_REF && !db.is_a(r, tc) {
                        return Err(Failure::new("HANDLE_INVALID", [target.as_str(), r]));
                    }
                }
                rec.fields[pos] = v;
            }
            None if f.required_by_constructor() => return Err(Failure::new("FIELD_TYPE_ERROR", [f.name()])),
            None => {}
        }
    }
    Ok(rec)
}

/// Coerces a value to a datamodel type, checking and canonicalising enums.
pub fn coerce(v: Value, ty: &Type) -> Option<Value> {
    canonical(v.coerce(ty).ok()?, ty)
}

fn canonical(v: Value, ty: &Type) -> Option<Value> {
    match (ty, v) {
        (Type::Enum(name), Value::String(s)) => match xenapi::model::Schema::get().enum_def(name) {
            Some(e) => e.values.iter().find(|x| x.eq_ignore_ascii_case(&s)).map(|x| Value::str(*x)),
            None => Some(Value::String(s)),
        },
        (Type::Set(inner), Value::Array(items)) => {
            items.into_iter().map(|i| canonical(i, inner)).collect::<Option<Vec<_>>>().map(Value::Array)
        }
        (Type::Map(_, vt), Value::Struct(m)) => {
            m.into_iter().map(|(k, i)| canonical(i, vt).map(|i| (k, i))).collect::<Option<Vec<_>>>().map(Value::Struct)
        }
        (_, v) => Some(v),
    }
}
