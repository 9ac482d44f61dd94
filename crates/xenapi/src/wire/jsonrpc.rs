//! JSON-RPC 1.0 and 2.0, as xapi speaks them.
//!
//! Values map as the wire-protocol document says: ints are JSON integers,
//! floats JSON numbers, datetimes and strings JSON strings, structs JSON
//! objects (member order kept), [`Value::Nil`] `null`.
//!
//! Decisions worth knowing:
//!
//! - Non-finite floats are *encoded* as the JSON strings `"NaN"`,
//!   `"+Infinity"` and `"-Infinity"`, as xapi does (see the wire samples);
//!   they decode back as [`Value::String`], which
//!   [`Value::coerce`](crate::Value::coerce) turns into a float against a
//!   `float` type.
//! - When *decoding*, the bare tokens `NaN`, `Infinity`, `+Infinity` and
//!   `-Infinity` (invalid JSON, but xapi sends them) are accepted outside
//!   string literals and become [`Value::Float`]. When a plain parse fails,
//!   they are swapped for sentinel strings (a NUL followed by a private
//!   marker), the text is parsed again and the sentinels are mapped back
//!   while building the value; the sentinel is only recognised when a swap
//!   actually happened, and the same pass doubles the leading NUL of the
//!   input's own strings that start with one, so none of them reads as a
//!   sentinel. (Valid JSON never holds the bare tokens, so the common case
//!   costs one parse and no scan.)
//! - [`decode_response_projected`] skips the record members a caller does
//!   not want while parsing: a large `get_all_records` answer then costs a
//!   fraction of its full tree in time and memory.
//! - [`read_response`] decodes a response while reading it from any
//!   [`Read`](std::io::Read) (projected or not), never holding it whole; it
//!   accepts and builds what the slice decoders do (see [`stream`]).
//! - A JSON integer that does not fit an `i64` becomes a [`Value::Float`].
//! - Calls: `params` may be omitted in JSON-RPC 2.0 (empty list; xapi itself
//!   rejects that) but not in 1.0. `id` must be a string or an integer.
//!   Duplicate envelope members are rejected.
//! - Responses: a non-null `error` wins over `result` and becomes
//!   [`Response::Failure`]. A 1.0 error array gives its items; a 2.0 error
//!   object gives `message` then the `data` items (`data` may be an array, a
//!   single value, `null` or missing). Non-string items are rendered as
//!   compact JSON text (so `123456` gives `"123456"`, `2.0` gives `"2.0"`);
//!   a missing `message` gives `""`. `code` is ignored.
//! - Nesting is bounded by serde_json's recursion limit (128).

use super::xmlrpc::sampled_len;
use super::{DecodeError, Response};
use crate::Value;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::{self, Write as _};

pub mod stream;

pub use stream::{read_records, read_response, RawAnswer, RawRecords, ReadError};

/// The JSON-RPC flavour of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// JSON-RPC 1.0: no `jsonrpc` member; responses carry `result`, `error` and `id`.
    V1,
    /// JSON-RPC 2.0: `"jsonrpc": "2.0"`; errors are `{code, message, data}` objects.
    V2,
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: String,
    pub params: Vec<Value>,
    /// The request id (a JSON string or integer), echoed in the response.
    pub id: serde_json::Value,
    pub version: Version,
}

// ---------------------------------------------------------------------------
// Encoding

/// Appends the JSON encoding of `v` to `out`.
pub fn encode_value(out: &mut String, v: &Value) {
    match v {
        Value::Nil => out.push_str("null"),
        Value::String(s) | Value::DateTime(s) => push_str_lit(out, s),
        Value::Int(i) => {
            let mut buf = [0u8; 20];
            out.push_str(super::xmlrpc::format_int(&mut buf, *i));
        }
        Value::Float(f) => {
            if f.is_nan() {
                out.push_str("\"NaN\"");
            } else if f.is_infinite() {
                out.push_str(if *f > 0.0 { "\"+Infinity\"" } else { "\"-Infinity\"" });
            } else {
                let _ = write!(out, "{f:?}");
            }
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                encode_value(out, item);
            }
            out.push(']');
        }
        Value::Struct(members) => {
            out.push('{');
            for (i, (k, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_str_lit(out, k);
                out.push(':');
                encode_value(out, item);
            }
            out.push('}');
        }
    }
}

/// Encodes the response to a call with the given id.
pub fn encode_response(resp: &Response, id: &serde_json::Value, version: Version) -> String {
    let id = serde_json::to_string(id).unwrap_or_else(|_| "null".to_string());
    let body_len = match resp {
        Response::Success(v) => encoded_len(v),
        Response::Failure(desc) => desc.iter().map(|s| s.len() + 4).sum(),
    };
    let mut out = String::with_capacity(64 + id.len() + body_len);
    match (version, resp) {
        (Version::V1, Response::Success(v)) => {
            out.push_str("{\"result\":");
            encode_value(&mut out, v);
            out.push_str(",\"error\":null,\"id\":");
        }
        (Version::V1, Response::Failure(desc)) => {
            out.push_str("{\"result\":null,\"error\":");
            push_str_array(&mut out, desc);
            out.push_str(",\"id\":");
        }
        (Version::V2, Response::Success(v)) => {
            out.push_str("{\"jsonrpc\":\"2.0\",\"result\":");
            encode_value(&mut out, v);
            out.push_str(",\"id\":");
        }
        (Version::V2, Response::Failure(desc)) => {
            out.push_str("{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1,\"message\":");
            push_str_lit(&mut out, desc.first().map(String::as_str).unwrap_or(""));
            out.push_str(",\"data\":");
            push_str_array(&mut out, desc.get(1..).unwrap_or(&[]));
            out.push_str("},\"id\":");
        }
    }
    out.push_str(&id);
    out.push('}');
    out
}

/// Encodes a request, for clients.
pub fn encode_call(method: &str, params: &[Value], id: u64, version: Version) -> String {
    let len: usize = params.iter().map(|p| encoded_len(p) + 1).sum();
    let mut out = String::with_capacity(64 + method.len() + len);
    out.push('{');
    if version == Version::V2 {
        out.push_str("\"jsonrpc\":\"2.0\",");
    }
    out.push_str("\"method\":");
    push_str_lit(&mut out, method);
    out.push_str(",\"params\":[");
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        encode_value(&mut out, p);
    }
    let _ = write!(out, "],\"id\":{id}}}");
    out
}

fn push_str_array(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str_lit(out, s);
    }
    out.push(']');
}

/// Appends `s` as a JSON string literal.
fn push_str_lit(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let bytes = s.as_bytes();
    // Branch-free scan first: most strings need no escaping.
    if !bytes.iter().fold(false, |acc, &b| acc | (b < 0x20) | (b == b'"') | (b == b'\\')) {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Roughly the encoded length of `v`, ignoring escaping: used to size the
/// output once. Large containers are sampled rather than walked in full.
fn encoded_len(v: &Value) -> usize {
    match v {
        Value::Nil => 4,
        Value::String(s) | Value::DateTime(s) => s.len() + 2,
        Value::Int(_) => 20,
        Value::Float(_) => 24,
        Value::Bool(_) => 5,
        Value::Array(items) => 2 + sampled_len(items, |i| encoded_len(i) + 1),
        Value::Struct(members) => 2 + sampled_len(members, |(k, i)| k.len() + 4 + encoded_len(i)),
    }
}

// ---------------------------------------------------------------------------
// Decoding

/// Parses a request.
pub fn decode_call(body: &[u8]) -> Result<Call, DecodeError> {
    let Value::Struct(members) = decode_value(body)? else {
        return Err(err("request is not a JSON object"));
    };
    let mut jsonrpc = None;
    let mut method = None;
    let mut params = None;
    let mut id = None;
    for (k, v) in members {
        let slot = match k.as_str() {
            "jsonrpc" => &mut jsonrpc,
            "method" => &mut method,
            "params" => &mut params,
            "id" => &mut id,
            _ => continue,
        };
        if slot.is_some() {
            return Err(err(format!("duplicate member {k:?}")));
        }
        *slot = Some(v);
    }
    let version = match jsonrpc {
        None => Version::V1,
        Some(Value::String(s)) if s == "2.0" => Version::V2,
        Some(other) => return Err(err(format!("unsupported jsonrpc version {}", json_text(&other)))),
    };
    let method = match method {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(Value::String(_)) => return Err(err("empty method")),
        Some(other) => return Err(err(format!("method is a {}, not a string", other.kind()))),
        None => return Err(err("missing method")),
    };
    let params = match params {
        Some(Value::Array(items)) => items,
        None if version == Version::V2 => Vec::new(),
        None => return Err(err("missing params")),
        Some(other) => return Err(err(format!("params is a {}, not an array", other.kind()))),
    };
    let id = match id {
        Some(Value::String(s)) => serde_json::Value::String(s),
        Some(Value::Int(i)) => serde_json::Value::from(i),
        Some(Value::Nil) | None => return Err(err("missing id (notifications are not supported)")),
        Some(other) => return Err(err(format!("id is a {}, not a string or integer", other.kind()))),
    };
    Ok(Call { method, params, id, version })
}

/// Parses a 1.0 or 2.0 response.
pub fn decode_response(body: &[u8]) -> Result<Response, DecodeError> {
    response_of(decode_with(body, Mode::Plain, None)?)
}

/// Like [`decode_response`], for a result that maps refs to records
/// (`get_all_records`, `get_all_records_where`): the members of each record
/// that `keep` rejects are skipped unread, never allocated. Anything else
/// (an error, a result of another shape) decodes whole.
///
/// A list of 10,000 VMs is a 34 MB answer whose full tree takes some 150 MB
/// and most of the decode time; a list needs a handful of members of each.
pub fn decode_response_projected(body: &[u8], keep: &dyn Fn(&str) -> bool) -> Result<Response, DecodeError> {
    response_of(decode_with(body, Mode::Envelope, Some(keep))?)
}

/// Keeps only the members `keep` accepts in each record of a ref-to-record
/// map, as [`decode_response_projected`] does while decoding.
pub fn project_records(v: &mut Value, keep: &dyn Fn(&str) -> bool) {
    if let Value::Struct(records) = v {
        for (_, rec) in records {
            if let Value::Struct(members) = rec {
                members.retain(|(k, _)| keep(k));
            }
        }
    }
}

fn response_of(envelope: Value) -> Result<Response, DecodeError> {
    let Value::Struct(members) = envelope else {
        return Err(err("response is not a JSON object"));
    };
    let mut result = None;
    let mut error = None;
    for (k, v) in members {
        match k.as_str() {
            "result" if result.is_none() => result = Some(v),
            "error" if error.is_none() => error = Some(v),
            _ => {}
        }
    }
    match error {
        None | Some(Value::Nil) => {
            result.map(Response::Success).ok_or_else(|| err("response has neither result nor error"))
        }
        Some(Value::Array(items)) => Ok(Response::Failure(items.iter().map(json_text).collect())),
        Some(Value::Struct(obj)) => {
            let member = |name: &str| obj.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            let mut desc = vec![match member("message") {
                None | Some(Value::Nil) => String::new(),
                Some(m) => json_text(m),
            }];
            match member("data") {
                None | Some(Value::Nil) => {}
                Some(Value::Array(items)) => desc.extend(items.iter().map(json_text)),
                Some(other) => desc.push(json_text(other)),
            }
            Ok(Response::Failure(desc))
        }
        Some(other) => Ok(Response::Failure(vec![json_text(&other)])),
    }
}

/// Parses any JSON text into a [`Value`], tolerating bare `NaN`, `Infinity`,
/// `+Infinity` and `-Infinity` tokens (see the module notes).
pub fn decode_value(body: &[u8]) -> Result<Value, DecodeError> {
    decode_with(body, Mode::Plain, None)
}

fn decode_with(body: &[u8], mode: Mode, keep: Option<&dyn Fn(&str) -> bool>) -> Result<Value, DecodeError> {
    // Valid JSON has no bare non-finite tokens, so the swap is only needed
    // when a plain parse fails; scanning first would cost as much as parsing.
    let first = match parse(body, false, mode, keep) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    match replace_non_finite(body) {
        Cow::Borrowed(_) => Err(err(first.to_string())),
        Cow::Owned(text) => parse(&text, true, mode, keep).map_err(|e| err(e.to_string())),
    }
}

fn parse(
    text: &[u8],
    sentinels: bool,
    mode: Mode,
    keep: Option<&dyn Fn(&str) -> bool>,
) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let scratch = Scratch::default();
    let v = Seed { sentinels, scratch: &scratch, mode, keep }.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// Renders an error item: strings as themselves, anything else as compact JSON.
fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) | Value::DateTime(s) => s.clone(),
        other => {
            let mut out = String::new();
            encode_value(&mut out, other);
            out
        }
    }
}

fn err(msg: impl Into<String>) -> DecodeError {
    DecodeError(format!("JSON-RPC: {}", msg.into()))
}

/// The bare tokens accepted outside strings, the string literal each is
/// swapped for, that literal's value (the sentinel), and the float it stands for.
const NON_FINITE: [(&[u8], &[u8], &str, f64); 4] = [
    (b"-Infinity", br#""\u0000xenapi:-Infinity""#, "\u{0}xenapi:-Infinity", f64::NEG_INFINITY),
    (b"+Infinity", br#""\u0000xenapi:+Infinity""#, "\u{0}xenapi:+Infinity", f64::INFINITY),
    (b"Infinity", br#""\u0000xenapi:+Infinity""#, "\u{0}xenapi:+Infinity", f64::INFINITY),
    (b"NaN", br#""\u0000xenapi:NaN""#, "\u{0}xenapi:NaN", f64::NAN),
];

/// Replaces bare non-finite tokens outside string literals by sentinel
/// string literals; borrows the input when there are none. A token where a
/// key must be (after `{`, or after `,` in an object) is left for the parser
/// to refuse: a key is a string, never a float. When anything is swapped,
/// the strings of the input that start with NUL (`"\u0000...`, the only way
/// JSON can spell it) get a second one, which [`Seed::string`] and [`Key`]
/// take off again: no string of the input can pass for a sentinel.
fn replace_non_finite(body: &[u8]) -> Cow<'_, [u8]> {
    let ident = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-');
    // (where, bytes replaced, by what), in order.
    let mut edits: Vec<(usize, usize, &[u8])> = Vec::new();
    let mut swapped = false;
    // Whether each open container is an object, and the last byte outside
    // strings that is not whitespace.
    let mut objects: Vec<bool> = Vec::new();
    let mut last = 0u8;
    let mut i = 0;
    while i < body.len() {
        let at_key = objects.last() == Some(&true) && matches!(last, b'{' | b',');
        match body[i] {
            b'"' => {
                if body[i + 1..].starts_with(b"\\u0000") {
                    edits.push((i + 1, 0, b"\\u0000"));
                }
                // Skip the string literal, escapes included.
                i += 1;
                while i < body.len() {
                    match body[i] {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                i += 1;
                last = b'"';
            }
            b'N' | b'I' | b'-' | b'+' if (i == 0 || !ident(body[i - 1])) && !at_key => {
                let rest = &body[i..];
                let hit = NON_FINITE
                    .iter()
                    .find(|(tok, ..)| rest.starts_with(tok) && rest.get(tok.len()).is_none_or(|&b| !ident(b)));
                last = body[i];
                match hit {
                    Some((tok, literal, ..)) => {
                        edits.push((i, tok.len(), literal));
                        swapped = true;
                        i += tok.len();
                    }
                    None => i += 1,
                }
            }
            b => {
                match b {
                    b'{' | b'[' => objects.push(b == b'{'),
                    b'}' | b']' => {
                        objects.pop();
                    }
                    _ => {}
                }
                if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                    last = b;
                }
                i += 1;
            }
        }
    }
    if !swapped {
        return Cow::Borrowed(body);
    }
    let mut out = Vec::with_capacity(body.len() + 32 * edits.len());
    let mut copied = 0;
    for (at, len, by) in edits {
        out.extend_from_slice(&body[copied..at]);
        out.extend_from_slice(by);
        copied = at + len;
    }
    out.extend_from_slice(&body[copied.min(body.len())..]);
    Cow::Owned(out)
}

/// Stacks shared by every level of one decode. A map's members (an array's
/// items) are pushed on top while it is read, nested ones above them and
/// popped before their parent goes on, then moved into a vector of the exact
/// size: no growth by doubling (a record of 100 members would otherwise be
/// copied 7 times and keep up to half its capacity unused).
#[derive(Default)]
struct Scratch {
    members: RefCell<Vec<(String, Value)>>,
    items: RefCell<Vec<Value>>,
}

/// Where a [`Seed`] is in a projected response: only the members of
/// `Envelope` → `result` (`Records`) → each record (`Record`) are filtered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Envelope,
    Records,
    Record,
}

/// Builds a [`Value`] straight from the serde_json token stream.
#[derive(Clone, Copy)]
struct Seed<'s> {
    /// Whether sentinel strings stand for non-finite floats.
    sentinels: bool,
    scratch: &'s Scratch,
    mode: Mode,
    /// The record members to keep, for `Mode::Record`.
    keep: Option<&'s dyn Fn(&str) -> bool>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(i64::try_from(u).map(Value::Int).unwrap_or(Value::Float(u as f64)))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(self.string(Cow::Borrowed(s)))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(self.string(Cow::Owned(s)))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let items = &self.scratch.items;
        let start = items.borrow().len();
        // On an error the partial items stay behind; the whole decode fails anyway.
        let seed = Seed { mode: Mode::Plain, ..self };
        while let Some(v) = seq.next_element_seed(seed)? {
            items.borrow_mut().push(v);
        }
        Ok(Value::Array(items.borrow_mut().drain(start..).collect()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let members = &self.scratch.members;
        let start = members.borrow().len();
        let plain = Seed { mode: Mode::Plain, ..self };
        // Keys borrow from the input when they have no escapes: a skipped one costs nothing.
        while let Some(k) = map.next_key_seed(Key { sentinels: self.sentinels })? {
            let child = match self.mode {
                Mode::Plain => plain,
                Mode::Envelope if k == "result" => Seed { mode: Mode::Records, ..self },
                Mode::Envelope => plain,
                Mode::Records => Seed { mode: Mode::Record, ..self },
                Mode::Record if self.keep.is_none_or(|keep| keep(&k)) => plain,
                Mode::Record => {
                    map.next_value::<de::IgnoredAny>()?;
                    continue;
                }
            };
            let v = map.next_value_seed(child)?;
            members.borrow_mut().push((k.into_owned(), v));
        }
        Ok(Value::Struct(members.borrow_mut().drain(start..).collect()))
    }
}

/// A map key, borrowed from the input when it can be; with `sentinels`,
/// without the NUL the swap put before a key starting with one.
#[derive(Clone, Copy)]
struct Key {
    sentinels: bool,
}

impl Key {
    fn undouble<'a>(self, k: Cow<'a, str>) -> Cow<'a, str> {
        match k {
            Cow::Borrowed(b) if self.sentinels && b.starts_with('\u{0}') => Cow::Borrowed(&b[1..]),
            Cow::Owned(o) if self.sentinels && o.starts_with('\u{0}') => Cow::Owned(o[1..].to_string()),
            k => k,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(self.undouble(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(self.undouble(Cow::Owned(s.to_string())))
    }

    fn visit_string<E>(self, s: String) -> Result<Cow<'de, str>, E> {
        Ok(self.undouble(Cow::Owned(s)))
    }
}

impl Seed<'_> {
    fn string(self, s: Cow<'_, str>) -> Value {
        if self.sentinels && s.starts_with('\u{0}') {
            if let Some((.., f)) = NON_FINITE.iter().find(|(_, _, sentinel, _)| *sentinel == s) {
                return Value::Float(*f);
            }
            // One of the input's own strings, its leading NUL doubled by the swap.
            return Value::String(s[1..].to_string());
        }
        Value::String(s.into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    fn enc(v: &Value) -> String {
        let mut out = String::new();
        encode_value(&mut out, v);
        out
    }

    #[test]
    fn encodes_every_variant() {
        assert_eq!(enc(&Value::Nil), "null");
        assert_eq!(enc(&s("a\"b\\c\n\t\r\u{8}\u{c}\u{1}\u{1f}é")), r#""a\"b\\c\n\t\r\b\f\u0001\u001fé""#);
        assert_eq!(enc(&Value::Int(-42)), "-42");
        assert_eq!(enc(&Value::Int(i64::MAX)), "9223372036854775807");
        assert_eq!(enc(&Value::Float(1.0)), "1.0");
        assert_eq!(enc(&Value::Float(0.25)), "0.25");
        assert_eq!(enc(&Value::Float(1e300)), "1e300");
        assert_eq!(enc(&Value::Float(f64::NAN)), r#""NaN""#);
        assert_eq!(enc(&Value::Float(f64::INFINITY)), r#""+Infinity""#);
        assert_eq!(enc(&Value::Float(f64::NEG_INFINITY)), r#""-Infinity""#);
        assert_eq!(enc(&Value::Bool(true)), "true");
        assert_eq!(enc(&Value::DateTime("20240101T00:00:00Z".into())), r#""20240101T00:00:00Z""#);
        assert_eq!(
            enc(&Value::Struct(vec![("b".into(), Value::Array(vec![])), ("a\"".into(), Value::Struct(vec![]))])),
            r#"{"b":[],"a\"":{}}"#
        );
        // What we emit is valid JSON.
        let v = Value::Array(vec![s("\u{0}\u{7f}\u{2028}"), Value::Float(-1.5e-7), Value::Float(f64::MAX)]);
        let parsed: serde_json::Value = serde_json::from_str(&enc(&v)).unwrap();
        assert_eq!(parsed, json!(["\u{0}\u{7f}\u{2028}", -1.5e-7, f64::MAX]));
    }

    #[test]
    fn round_trips_every_variant() {
        let v = Value::Struct(vec![
            ("nil".into(), Value::Nil),
            ("s".into(), s(" x \"y\" \\ \u{1} ünï ")),
            ("int".into(), Value::Int(i64::MIN)),
            ("big".into(), Value::Int(i64::MAX)),
            ("f".into(), Value::Float(0.1)),
            ("whole".into(), Value::Float(3.0)),
            ("b".into(), Value::Bool(false)),
            ("d".into(), Value::DateTime("20240420T12:00:00Z".into())),
            ("a".into(), Value::Array(vec![Value::Array(vec![]), Value::Struct(vec![])])),
            ("dup".into(), Value::Int(1)),
            ("dup".into(), Value::Int(2)),
        ]);
        let body = encode_response(&Response::Success(v.clone()), &json!(1), Version::V2);
        // Datetimes travel as strings.
        let mut want = v.as_struct().unwrap().to_vec();
        want[7].1 = s("20240420T12:00:00Z");
        assert_eq!(decode_response(body.as_bytes()), Ok(Response::Success(Value::Struct(want.clone()))));
        let body = encode_response(&Response::Success(v.clone()), &json!("x"), Version::V1);
        assert_eq!(decode_response(body.as_bytes()), Ok(Response::Success(Value::Struct(want.clone()))));

        for version in [Version::V1, Version::V2] {
            let call = decode_call(encode_call("VM.foo", &[v.clone(), Value::Nil], 7, version).as_bytes()).unwrap();
            assert_eq!(call.method, "VM.foo");
            assert_eq!(call.params, vec![Value::Struct(want.clone()), Value::Nil]);
            assert_eq!(call.id, json!(7));
            assert_eq!(call.version, version);
        }

        // Non-finite floats go out as strings.
        let body = encode_response(&Response::Success(Value::Float(f64::NEG_INFINITY)), &json!(1), Version::V2);
        assert_eq!(body, r#"{"jsonrpc":"2.0","result":"-Infinity","id":1}"#);
        assert_eq!(decode_response(body.as_bytes()), Ok(Response::Success(s("-Infinity"))));
    }

    #[test]
    fn encodes_responses_in_both_versions() {
        let ok = Response::Success(s("OpaqueRef:1"));
        let fail = Response::Failure(vec!["SESSION_INVALID".into(), "OpaqueRef:9".into()]);
        assert_eq!(
            encode_response(&ok, &json!("xyz"), Version::V1),
            r#"{"result":"OpaqueRef:1","error":null,"id":"xyz"}"#
        );
        assert_eq!(
            encode_response(&fail, &json!("xyz"), Version::V1),
            r#"{"result":null,"error":["SESSION_INVALID","OpaqueRef:9"],"id":"xyz"}"#
        );
        assert_eq!(encode_response(&ok, &json!(3), Version::V2), r#"{"jsonrpc":"2.0","result":"OpaqueRef:1","id":3}"#);
        assert_eq!(
            encode_response(&fail, &json!(3), Version::V2),
            r#"{"jsonrpc":"2.0","error":{"code":1,"message":"SESSION_INVALID","data":["OpaqueRef:9"]},"id":3}"#
        );
        assert_eq!(
            encode_response(&Response::Failure(vec![]), &json!(3), Version::V2),
            r#"{"jsonrpc":"2.0","error":{"code":1,"message":"","data":[]},"id":3}"#
        );
        for version in [Version::V1, Version::V2] {
            assert_eq!(decode_response(encode_response(&fail, &json!(3), version).as_bytes()), Ok(fail.clone()));
        }
    }

    #[test]
    fn encodes_calls() {
        assert_eq!(
            encode_call("session.login_with_password", &[s("root"), s("pw")], 0, Version::V2),
            r#"{"jsonrpc":"2.0","method":"session.login_with_password","params":["root","pw"],"id":0}"#
        );
        assert_eq!(encode_call("a.b", &[], 12, Version::V1), r#"{"method":"a.b","params":[],"id":12}"#);
    }

    #[test]
    fn decodes_calls_and_echoes_ids() {
        let c = decode_call(
            br#"{"method":"host.get_resident_VMs","params":["OpaqueRef:a",1,2.5,true,null,{"k":[1]}],"id":"xyz"}"#,
        )
        .unwrap();
        assert_eq!(c.version, Version::V1);
        assert_eq!(c.id, json!("xyz"));
        assert_eq!(
            c.params,
            vec![
                s("OpaqueRef:a"),
                Value::Int(1),
                Value::Float(2.5),
                Value::Bool(true),
                Value::Nil,
                Value::Struct(vec![("k".into(), Value::Array(vec![Value::Int(1)]))]),
            ]
        );
        let resp = encode_response(&Response::Success(Value::Nil), &c.id, c.version);
        assert_eq!(resp, r#"{"result":null,"error":null,"id":"xyz"}"#);

        let c = decode_call(br#" {"jsonrpc":"2.0","method":"VM.get_all","params":[],"id":3} "#).unwrap();
        assert_eq!((c.version, c.id.clone()), (Version::V2, json!(3)));
        assert_eq!(
            encode_response(&Response::Success(Value::Array(vec![])), &c.id, c.version),
            r#"{"jsonrpc":"2.0","result":[],"id":3}"#
        );

        let c = decode_call(br#"{"jsonrpc":"2.0","method":"m","id":-5}"#).unwrap();
        assert_eq!((c.params, c.id), (vec![], json!(-5)));
    }

    #[test]
    fn decodes_numbers() {
        let c = decode_call(br#"{"method":"m","params":[9223372036854775807,-9223372036854775808,9223372036854775808,1e2,1.0,-0.5,NaN,-Infinity],"id":1}"#).unwrap();
        assert_eq!(c.params[0], Value::Int(i64::MAX));
        assert_eq!(c.params[1], Value::Int(i64::MIN));
        assert_eq!(c.params[2], Value::Float(9223372036854775808.0));
        assert_eq!(c.params[3], Value::Float(100.0));
        assert_eq!(c.params[4], Value::Float(1.0));
        assert_eq!(c.params[5], Value::Float(-0.5));
        assert!(matches!(c.params[6], Value::Float(f) if f.is_nan()));
        assert_eq!(c.params[7], Value::Float(f64::NEG_INFINITY));
    }

    #[test]
    fn rejects_malformed_calls() {
        let bad: &[&[u8]] = &[
            b"",
            b"[]",
            b"\"x\"",
            br#"{"method":"m","params":[]}"#,
            br#"{"method":"m","params":[],"id":null}"#,
            br#"{"method":"m","params":[],"id":1.5}"#,
            br#"{"method":"m","params":[],"id":[1]}"#,
            br#"{"method":"m","id":1}"#,
            br#"{"method":"m","params":{},"id":1}"#,
            br#"{"method":"m","params":null,"id":1}"#,
            br#"{"method":1,"params":[],"id":1}"#,
            br#"{"method":"","params":[],"id":1}"#,
            br#"{"params":[],"id":1}"#,
            br#"{"jsonrpc":"1.0","method":"m","params":[],"id":1}"#,
            br#"{"jsonrpc":2.0,"method":"m","params":[],"id":1}"#,
            br#"{"jsonrpc":null,"method":"m","params":[],"id":1}"#,
            br#"{"method":"m","method":"n","params":[],"id":1}"#,
            br#"{"method":"m","params":[],"id":1} x"#,
            br#"{"method":"m","params":[Infinityx],"id":1}"#,
            br#"{"method":"m","params":[1,],"id":1}"#,
            br#"{"method":"m","params":["\ud800"],"id":1}"#,
            b"{\"method\":\"m\",\"params\":[\"\xff\"],\"id\":1}",
        ];
        for body in bad {
            let r = decode_call(body);
            assert!(r.is_err(), "accepted {:?}: {r:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn projected_responses_keep_only_the_wanted_record_members() {
        let body = br#"{"jsonrpc":"2.0","result":{"OpaqueRef:a":{"uuid":"u1","name_label":"a","other_config":{"uuid":"x"},"VBDs":["r"]},"OpaqueRef:b":{"name_label":"b","bad":NaN,"uuid":"u2"}},"id":1}"#;
        let keep = |k: &str| k == "uuid" || k == "name_label";
        let Ok(Response::Success(v)) = decode_response_projected(body, &keep) else { panic!() };
        let recs = v.as_struct().unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].1, Value::Struct(vec![("uuid".into(), s("u1")), ("name_label".into(), s("a"))]));
        assert_eq!(recs[1].1, Value::Struct(vec![("name_label".into(), s("b")), ("uuid".into(), s("u2"))]));
        // The same as decoding whole and projecting afterwards.
        let Ok(Response::Success(mut whole)) = decode_response(body) else { panic!() };
        project_records(&mut whole, &keep);
        assert_eq!(whole, v);
        // Other shapes and errors decode whole.
        let other = br#"{"jsonrpc":"2.0","result":["a",{"x":1}],"id":1}"#;
        assert_eq!(decode_response_projected(other, &keep), decode_response(other));
        let failed = br#"{"jsonrpc":"2.0","error":{"code":1,"message":"SESSION_INVALID","data":["r"]},"id":1}"#;
        assert_eq!(decode_response_projected(failed, &keep), decode_response(failed));
        assert!(decode_response_projected(br#"{"result":{"r":{"a":1,"b":}}}"#, &keep).is_err());
    }

    #[test]
    fn escaped_keys_and_nested_values_decode_as_before() {
        let v = decode_value(br#"{"ab":[1,{"c":[[],{}]},2.5],"d":{"e":{"f":null}},"":true}"#).unwrap();
        assert_eq!(
            v,
            Value::Struct(vec![
                (
                    "ab".into(),
                    Value::Array(vec![
                        Value::Int(1),
                        Value::Struct(vec![(
                            "c".into(),
                            Value::Array(vec![Value::Array(vec![]), Value::Struct(vec![])])
                        )]),
                        Value::Float(2.5)
                    ])
                ),
                ("d".into(), Value::Struct(vec![("e".into(), Value::Struct(vec![("f".into(), Value::Nil)]))])),
                ("".into(), Value::Bool(true)),
            ])
        );
    }

    #[test]
    fn bare_tokens_only_outside_strings() {
        let v =
            decode_value(br#"{"a":Infinity,"b":"Infinity","c":[-Infinity, +Infinity,NaN],"d":"x\" NaN \\","e":"NaN"}"#)
                .unwrap();
        assert_eq!(v.get("a"), Some(&Value::Float(f64::INFINITY)));
        assert_eq!(v.get("b"), Some(&s("Infinity")));
        let c = v.get("c").unwrap().as_array().unwrap();
        assert_eq!(c[0], Value::Float(f64::NEG_INFINITY));
        assert_eq!(c[1], Value::Float(f64::INFINITY));
        assert!(matches!(c[2], Value::Float(f) if f.is_nan()));
        assert_eq!(v.get("d"), Some(&s("x\" NaN \\")));
        assert_eq!(v.get("e"), Some(&s("NaN")));
        // A real string that looks like a sentinel stays a string, swap or not, also as a key.
        assert_eq!(decode_value(br#""\u0000xenapi:NaN""#), Ok(s("\u{0}xenapi:NaN")));
        let v = decode_value(
            br#"{"a":["\u0000xenapi:NaN",NaN,"\u0000","\u0000\u0000x"],"\u0000xenapi:+Infinity":"x\u0000"}"#,
        );
        let Ok(Value::Struct(m)) = v else { panic!("{v:?}") };
        let a = m[0].1.as_array().unwrap();
        assert_eq!(a[0], s("\u{0}xenapi:NaN"));
        assert!(matches!(a[1], Value::Float(f) if f.is_nan()));
        assert_eq!((&a[2], &a[3]), (&s("\u{0}"), &s("\u{0}\u{0}x")));
        assert_eq!(m[1], ("\u{0}xenapi:+Infinity".to_string(), s("x\u{0}")));
        assert_eq!(decode_value(b"Infinity"), Ok(Value::Float(f64::INFINITY)));
        assert!(decode_value(b"NaNa").is_err());
        assert!(decode_value(b"1Infinity").is_err());
        // Never as keys, also where a projected decode skips the value.
        for body in [&br#"{NaN:1}"#[..], br#"{"a":1, -Infinity :2}"#, br#"[{"a":[NaN]},{Infinity:1}]"#] {
            assert!(decode_value(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let skipped = br#"{"result":{"r":{"skip":{Infinity:1},"uuid":NaN}}}"#;
        assert!(decode_response_projected(skipped, &|k| k == "uuid").is_err());
        assert!(matches!(decode_value(br#"{"a":[1,NaN],"b":{"c":-Infinity}}"#), Ok(Value::Struct(_))));
    }

    #[test]
    fn decodes_error_shapes() {
        let cases: &[(&[u8], Response)] = &[
            (
                br#"{"result":null,"error":["SESSION_INVALID","OpaqueRef:93"],"id":"xyz"}"#,
                Response::Failure(vec!["SESSION_INVALID".into(), "OpaqueRef:93".into()]),
            ),
            (
                br#"{"jsonrpc":"2.0","error":{"code":1,"message":"MAP_DUPLICATE_KEY","data":["Customer","eSpiel Inc."]},"id":3}"#,
                Response::Failure(vec!["MAP_DUPLICATE_KEY".into(), "Customer".into(), "eSpiel Inc.".into()]),
            ),
            (
                br#"{"error":{"code":1,"message":"HANDLE_INVALID","data":"OpaqueRef:6ef0"}}"#,
                Response::Failure(vec!["HANDLE_INVALID".into(), "OpaqueRef:6ef0".into()]),
            ),
            (
                br#"{"result":{},"error":{"code":"abcd","message":123456,"data":2.0}}"#,
                Response::Failure(vec!["123456".into(), "2.0".into()]),
            ),
            (br#"{"jsonrpc":"2.0","error":{"code":1},"id":1}"#, Response::Failure(vec!["".into()])),
            (
                br#"{"error":{"message":"X","data":[1,null,{"a":true}]}}"#,
                Response::Failure(vec!["X".into(), "1".into(), "null".into(), r#"{"a":true}"#.into()]),
            ),
            (br#"{"error":"OOPS","id":1}"#, Response::Failure(vec!["OOPS".into()])),
            (br#"{"error":[],"id":1}"#, Response::Failure(vec![])),
            (br#"{"result":"","error":null,"id":1}"#, Response::Success(s(""))),
            (br#"{"result":null,"error":null,"id":1}"#, Response::Success(Value::Nil)),
            (br#"{"jsonrpc":"2.0","result":{"a":Infinity},"id":1}"#, Response::Success(Value::Struct(vec![("a".into(), Value::Float(f64::INFINITY))]))),
        ];
        for (body, want) in cases {
            assert_eq!(decode_response(body).as_ref(), Ok(want), "{}", String::from_utf8_lossy(body));
        }
        for body in [&b"{}"[..], b"{\"id\":1}", b"[1]", b"{\"result\":", b"{\"error\":null}"] {
            assert!(decode_response(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn never_panics_on_truncations_and_deep_nesting() {
        let v = Value::Struct(vec![
            ("a".into(), Value::Array(vec![s("x\"\\y"), Value::Int(1), Value::Float(0.5), Value::Nil])),
            ("b".into(), Value::Bool(true)),
        ]);
        let body = encode_response(&Response::Success(v), &json!("id"), Version::V1).replace("0.5", "Infinity");
        for i in 0..body.len() {
            let _ = decode_response(&body.as_bytes()[..i]);
            let _ = decode_call(&body.as_bytes()[..i]);
        }
        assert!(decode_response(body.as_bytes()).is_ok());
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(decode_value(deep.as_bytes()).is_err());
        let unterminated = b"{\"a\":\"NaN\\";
        assert!(decode_value(unterminated).is_err());
    }
}
