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

/// C's `%.<precision>g` (as OCaml's `Printf` writes it): that many
/// significant digits, trailing zeros dropped, the exponent form below
/// 1e-4 and from 10^precision; `nan`, `inf`, `-inf`, `0` and `-0`.
pub fn c_g(x: f64, precision: i32) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", (p - 1) as usize, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if (-4..p).contains(&exp) {
        let decimals = (p - 1 - exp).max(0) as usize;
        trim(&format!("{x:.decimals$}"))
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    }
}
