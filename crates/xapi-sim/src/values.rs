//! Field values by shape: string maps and sets as they are written to the
//! database, read back as pairs, and the null ref.

use xenapi::{Value, NULL_REF};

/// A `(string -> string) map` value.
pub fn smap<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Value {
    Value::Struct(pairs.iter().map(|(k, v)| (k.as_ref().to_string(), Value::str(v.as_ref()))).collect())
}

/// A `string set` (or enum set) value.
pub fn sset<S: AsRef<str>>(items: &[S]) -> Value {
    Value::Array(items.iter().map(|x| Value::str(x.as_ref())).collect())
}

/// An empty map.
pub fn empty_map() -> Value {
    Value::Struct(Vec::new())
}

/// An empty set.
pub fn empty_set() -> Value {
    Value::Array(Vec::new())
}

/// The null ref as a value.
pub fn null() -> Value {
    Value::str(NULL_REF)
}

/// Whether a ref names nothing: empty or the null ref.
pub fn is_null(r: &str) -> bool {
    r.is_empty() || r == NULL_REF
}

/// A map's members as string pairs (ints as their decimal text, other
/// values as "").
pub fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_struct()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::Int(i) => i.to_string(),
                        other => other.as_str().unwrap_or("").to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}
