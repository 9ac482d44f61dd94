//! Small builders of API call arguments.

use xenapi::Value;

pub(crate) fn s(v: &str) -> Value {
    Value::str(v)
}

pub(crate) fn map(pairs: Vec<(String, String)>) -> Value {
    Value::Struct(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}
