//! The dynamic value carried by both wire formats.
//!
//! XenAPI refs, enums and uuids travel as strings; maps with ref or int keys
//! travel as structs with stringified keys. Interpreting a value against a
//! datamodel type is the job of [`Value::coerce`].

use crate::model::Type;
use std::fmt;

/// A wire value, as decoded from or encoded to XML-RPC or JSON-RPC.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON `null` or XML-RPC `<nil/>`; XenAPI itself never sends it.
    Nil,
    String(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A datetime in XenAPI's `YYYYMMDDThh:mm:ssZ` form.
    DateTime(String),
    Array(Vec<Value>),
    /// A map or record; member order is kept.
    Struct(Vec<(String, Value)>),
}

/// Why a value does not fit a datamodel type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeMismatch {
    pub expected: String,
    pub got: String,
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::DateTime(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            Value::String(s) => parse_float(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_struct(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// Looks up a struct member by name.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_struct()?.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Short name of the variant, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::String(_) => "string",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Bool(_) => "bool",
            Value::DateTime(_) => "datetime",
            Value::Array(_) => "array",
            Value::Struct(_) => "struct",
        }
    }

    /// Returns the zero value of a type: what xapi stores for a field with no default.
    pub fn zero(ty: &Type) -> Value {
        match ty {
            Type::String | Type::Enum(_) | Type::Void => Value::String(String::new()),
            Type::Ref(_) => Value::String(crate::NULL_REF.to_string()),
            Type::Int => Value::Int(0),
            Type::Float => Value::Float(0.0),
            Type::Bool => Value::Bool(false),
            Type::DateTime => Value::DateTime(crate::datetime::EPOCH.to_string()),
            Type::Set(_) | Type::Option(_) => Value::Array(Vec::new()),
            Type::Map(..) | Type::Record(_) => Value::Struct(Vec::new()),
        }
    }

    /// Converts a decoded wire value into the canonical form for `ty`.
    ///
    /// XML-RPC carries 64-bit ints as strings and untyped values as strings, so
    /// strings are accepted wherever their text parses as the wanted scalar.
    pub fn coerce(self, ty: &Type) -> Result<Value, TypeMismatch> {
        let mismatch = |v: &Value| TypeMismatch { expected: type_label(ty), got: v.kind().to_string() };
        match ty {
            Type::String | Type::Ref(_) | Type::Enum(_) => match self {
                Value::String(_) => Ok(self),
                other => Err(mismatch(&other)),
            },
            Type::Void => Ok(Value::String(String::new())),
            Type::Int => match self {
                Value::Int(_) => Ok(self),
                Value::String(ref s) => s.trim().parse().map(Value::Int).map_err(|_| mismatch(&self)),
                Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(Value::Int(f as i64)),
                other => Err(mismatch(&other)),
            },
            Type::Float => match self {
                Value::Float(_) => Ok(self),
                Value::Int(i) => Ok(Value::Float(i as f64)),
                Value::String(ref s) => parse_float(s).map(Value::Float).ok_or_else(|| mismatch(&self)),
                other => Err(mismatch(&other)),
            },
            Type::Bool => match self {
                Value::Bool(_) => Ok(self),
                Value::String(ref s) => match s.as_str() {
                    "true" | "1" => Ok(Value::Bool(true)),
                    "false" | "0" => Ok(Value::Bool(false)),
                    _ => Err(mismatch(&self)),
                },
                Value::Int(i) if i == 0 || i == 1 => Ok(Value::Bool(i == 1)),
                other => Err(mismatch(&other)),
            },
            Type::DateTime => match self {
                Value::DateTime(_) => Ok(self),
                Value::String(ref s) => match crate::datetime::normalise(s) {
                    Some(d) => Ok(Value::DateTime(d)),
                    None => Err(mismatch(&self)),
                },
                Value::Int(i) => Ok(Value::DateTime(crate::datetime::from_unix(i))),
                Value::Float(f) => Ok(Value::DateTime(crate::datetime::from_unix(f as i64))),
                other => Err(mismatch(&other)),
            },
            Type::Set(inner) => match self {
                Value::Array(items) => {
                    let items: Result<Vec<_>, _> = items.into_iter().map(|v| v.coerce(inner)).collect();
                    Ok(Value::Array(items?))
                }
                other => Err(mismatch(&other)),
            },
            Type::Map(_, vty) => match self {
                Value::Struct(members) => {
                    let mut out = Vec::with_capacity(members.len());
                    for (k, v) in members {
                        out.push((k, v.coerce(vty)?));
                    }
                    Ok(Value::Struct(out))
                }
                other => Err(mismatch(&other)),
            },
            Type::Record(_) => match self {
                Value::Struct(_) => Ok(self),
                other => Err(mismatch(&other)),
            },
            Type::Option(inner) => match self {
                Value::Array(mut items) if items.len() <= 1 => match items.pop() {
                    Some(v) => Ok(Value::Array(vec![v.coerce(inner)?])),
                    None => Ok(Value::Array(Vec::new())),
                },
                Value::Nil => Ok(Value::Array(Vec::new())),
                other => other.coerce(inner).map(|v| Value::Array(vec![v])),
            },
        }
    }
}

/// Parses a float including the spellings xapi uses for non-finite values.
pub fn parse_float(s: &str) -> Option<f64> {
    match s.trim() {
        "NaN" | "nan" => Some(f64::NAN),
        "Infinity" | "+Infinity" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
        t => t.parse().ok(),
    }
}

/// The datamodel spelling of a type, for FIELD_TYPE_ERROR-style messages.
pub fn type_label(ty: &Type) -> String {
    match ty {
        Type::String => "string".into(),
        Type::Int => "int".into(),
        Type::Float => "float".into(),
        Type::Bool => "bool".into(),
        Type::DateTime => "datetime".into(),
        Type::Void => "void".into(),
        Type::Ref(c) => format!("{c} ref"),
        Type::Enum(e) => format!("enum {e}"),
        Type::Set(t) => format!("{} set", type_label(t)),
        Type::Map(k, v) => format!("({} -> {}) map", type_label(k), type_label(v)),
        Type::Record(c) => format!("{c} record"),
        Type::Option(t) => format!("{} option", type_label(t)),
    }
}

impl fmt::Display for Value {
    /// Renders a value compactly for logs and error parameters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str(""),
            Value::String(s) | Value::DateTime(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Array(a) => {
                f.write_str("(")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(")")
            }
            Value::Struct(m) => {
                f.write_str("(")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "({k} {v})")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_type;

    #[test]
    fn coerces_xmlrpc_strings_to_scalars() {
        let int = parse_type("int").unwrap();
        assert_eq!(Value::str("4294967296").coerce(&int), Ok(Value::Int(4294967296)));
        let b = parse_type("bool").unwrap();
        assert_eq!(Value::str("1").coerce(&b), Ok(Value::Bool(true)));
        let f = parse_type("float").unwrap();
        assert!(Value::str("-Infinity").coerce(&f).unwrap().as_float().unwrap().is_infinite());
        assert!(Value::Bool(true).coerce(&parse_type("string").unwrap()).is_err());
    }

    #[test]
    fn coerces_map_values() {
        let ty = parse_type("(string -> int) map").unwrap();
        let v = Value::Struct(vec![("a".into(), Value::str("7"))]);
        assert_eq!(v.coerce(&ty), Ok(Value::Struct(vec![("a".into(), Value::Int(7))])));
    }
}
