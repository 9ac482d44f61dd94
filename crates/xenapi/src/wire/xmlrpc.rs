//! XML-RPC, as xapi speaks it.
//!
//! Encoding mirrors xapi: strings and 64-bit ints travel as *untyped*
//! `<value>text</value>` (ints as their decimal text), so an [`Value::Int`]
//! decodes back as a [`Value::String`]; [`Value::coerce`](crate::Value::coerce)
//! turns it into an int again against the datamodel type. Floats are
//! `<double>` (finite ones in the shortest round-trip form, `1.0`, `0.25`,
//! `1e300`; non-finite ones as `NaN`, `Infinity`, `-Infinity`), booleans
//! `<boolean>0|1</boolean>`, datetimes `<dateTime.iso8601>`.
//!
//! Decoding accepts every standard XML-RPC value type plus untyped values.
//! Decisions worth knowing:
//!
//! - `<base64>` is decoded (whitespace inside ignored) and returned as a
//!   [`Value::String`]; bytes that are not UTF-8 are replaced lossily.
//! - `<boolean>` accepts `0`/`1` and also `true`/`false`.
//! - `<dateTime.iso8601>` is normalised with [`crate::datetime::normalise`];
//!   a spelling it cannot parse is kept verbatim (trimmed).
//! - A standard `<fault>` response becomes
//!   `Response::Failure(vec![faultString, faultCode])`, missing members
//!   being empty strings.
//! - Values nest at most [`MAX_DEPTH`] levels deep.
//! - Text is taken as-is (no end-of-line normalisation); comments,
//!   processing instructions and the XML declaration are skipped.

use super::{DecodeError, Response};
use crate::Value;
use quick_xml::events::{BytesRef, Event};
use quick_xml::Reader;
use std::borrow::Cow;
use std::fmt::Write as _;

/// The deepest nesting of arrays and structs the decoder accepts.
pub const MAX_DEPTH: usize = 256;

const XML_DECL: &str = "<?xml version=\"1.0\"?>";

// ---------------------------------------------------------------------------
// Encoding

/// Encodes a `methodCall` document.
pub fn encode_call(method: &str, params: &[Value]) -> String {
    let mut len = 128 + method.len();
    for p in params {
        len += 16 + encoded_len(p);
    }
    let mut out = String::with_capacity(len);
    out.push_str(XML_DECL);
    out.push_str("<methodCall><methodName>");
    escape_into(&mut out, method);
    out.push_str("</methodName><params>");
    for p in params {
        out.push_str("<param>");
        encode_value(&mut out, p);
        out.push_str("</param>");
    }
    out.push_str("</params></methodCall>");
    out
}

/// Encodes a `methodResponse` carrying xapi's `Status` struct.
pub fn encode_response(resp: &Response) -> String {
    const HEAD: &str = "<methodResponse><params><param><value><struct><member><name>Status</name>";
    const TAIL: &str = "</member></struct></value></param></params></methodResponse>";
    match resp {
        Response::Success(v) => {
            let mut out = String::with_capacity(XML_DECL.len() + HEAD.len() + TAIL.len() + 96 + encoded_len(v));
            out.push_str(XML_DECL);
            out.push_str(HEAD);
            out.push_str("<value>Success</value></member><member><name>Value</name>");
            encode_value(&mut out, v);
            out.push_str(TAIL);
            out
        }
        Response::Failure(desc) => {
            let len: usize = desc.iter().map(|s| s.len() + 16).sum();
            let mut out = String::with_capacity(XML_DECL.len() + HEAD.len() + TAIL.len() + 160 + len);
            out.push_str(XML_DECL);
            out.push_str(HEAD);
            out.push_str("<value>Failure</value></member><member><name>ErrorDescription</name><value><array><data>");
            for s in desc {
                out.push_str("<value>");
                escape_into(&mut out, s);
                out.push_str("</value>");
            }
            out.push_str("</data></array></value>");
            out.push_str(TAIL);
            out
        }
    }
}

/// Appends the `<value>…</value>` encoding of `v` to `out`.
pub fn encode_value(out: &mut String, v: &Value) {
    out.push_str("<value>");
    encode_inner(out, v);
    out.push_str("</value>");
}

/// Appends what goes between `<value>` and `</value>`; merging the fixed
/// tags around it into single pushes keeps large responses fast.
fn encode_inner(out: &mut String, v: &Value) {
    match v {
        Value::Nil => out.push_str("<nil/>"),
        Value::String(s) => escape_into(out, s),
        Value::Int(i) => push_int(out, *i),
        Value::Float(f) => {
            out.push_str("<double>");
            push_double(out, *f);
            out.push_str("</double>");
        }
        Value::Bool(b) => out.push_str(if *b { "<boolean>1</boolean>" } else { "<boolean>0</boolean>" }),
        Value::DateTime(d) => {
            out.push_str("<dateTime.iso8601>");
            escape_into(out, d);
            out.push_str("</dateTime.iso8601>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>");
            for item in items {
                out.push_str("<value>");
                encode_inner(out, item);
                out.push_str("</value>");
            }
            out.push_str("</data></array>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>");
            for (k, item) in members {
                out.push_str("<member><name>");
                escape_into(out, k);
                out.push_str("</name><value>");
                encode_inner(out, item);
                out.push_str("</value></member>");
            }
            out.push_str("</struct>");
        }
    }
}

/// Roughly the encoded length of `v`, ignoring escaping: used to size the
/// output once. Large containers are sampled rather than walked in full.
fn encoded_len(v: &Value) -> usize {
    match v {
        Value::Nil => 21,
        Value::String(s) => 15 + s.len(),
        Value::Int(_) => 15 + 20,
        Value::Float(_) => 31 + 24,
        Value::Bool(_) => 35,
        Value::DateTime(d) => 51 + d.len(),
        Value::Array(items) => 37 + sampled_len(items, encoded_len),
        Value::Struct(members) => 31 + sampled_len(members, |(k, item)| 30 + k.len() + encoded_len(item)),
    }
}

/// The summed length of `items` by `len`; beyond a few dozen items, an
/// extrapolation from an evenly spread sample, with a little headroom.
pub(crate) fn sampled_len<T>(items: &[T], len: impl Fn(&T) -> usize) -> usize {
    const SAMPLE: usize = 32;
    let n = items.len();
    if n <= SAMPLE {
        return items.iter().map(len).sum();
    }
    let sum: usize = (0..SAMPLE).map(|i| len(&items[i * n / SAMPLE])).sum();
    sum / SAMPLE * n + sum / SAMPLE * n / 16
}

fn push_int(out: &mut String, i: i64) {
    let mut buf = [0u8; 20];
    out.push_str(format_int(&mut buf, i));
}

/// Formats `i` in decimal into `buf`, without going through `fmt`.
pub(crate) fn format_int(buf: &mut [u8; 20], i: i64) -> &str {
    let mut n = i.unsigned_abs();
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        pos -= 1;
        buf[pos] = b'-';
    }
    std::str::from_utf8(&buf[pos..]).unwrap_or("0")
}

/// Shortest round-trip text, always with a `.` or an exponent.
fn push_double(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        let _ = write!(out, "{f:?}");
    }
}

/// Appends `s` with `&`, `<` and `>` escaped.
fn escape_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    // Branch-free scan first: most strings need no escaping.
    if !bytes.iter().fold(false, |acc, &b| acc | (b == b'&') | (b == b'<') | (b == b'>')) {
        out.push_str(s);
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(rep);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

// ---------------------------------------------------------------------------
// Decoding

/// Parses a `methodCall` into its method name and parameters.
pub fn decode_call(body: &[u8]) -> Result<(String, Vec<Value>), DecodeError> {
    let mut p = Parser::new(body);
    p.expect_start(Tag::MethodCall)?;
    p.expect_start(Tag::MethodName)?;
    let name = p.text_until_end(Tag::MethodName)?;
    let name = name.trim();
    if name.is_empty() {
        return Err(err("empty methodName"));
    }
    let name = name.to_string();
    let params = match p.next_skip_ws()? {
        Tok::Start(Tag::Params) => {
            let params = p.params()?;
            p.expect_end(Tag::MethodCall)?;
            params
        }
        Tok::End(Tag::MethodCall) => Vec::new(),
        other => return Err(unexpected(&other, "<params> or </methodCall>")),
    };
    p.expect_eof()?;
    Ok((name, params))
}

/// Parses a `methodResponse`: xapi's `Status` struct, or a standard `<fault>`.
pub fn decode_response(body: &[u8]) -> Result<Response, DecodeError> {
    let mut p = Parser::new(body);
    p.expect_start(Tag::MethodResponse)?;
    let resp = match p.next_skip_ws()? {
        Tok::Start(Tag::Params) => {
            let mut params = p.params()?;
            if params.len() != 1 {
                return Err(err(format!("expected one response param, got {}", params.len())));
            }
            status_struct(params.pop().unwrap_or(Value::Nil))?
        }
        Tok::Start(Tag::Fault) => {
            p.expect_start(Tag::Value)?;
            let v = p.value_body(1)?;
            p.expect_end(Tag::Fault)?;
            fault(&v)
        }
        other => return Err(unexpected(&other, "<params> or <fault>")),
    };
    p.expect_end(Tag::MethodResponse)?;
    p.expect_eof()?;
    Ok(resp)
}

/// Interprets xapi's `{Status, Value | ErrorDescription}` struct.
fn status_struct(v: Value) -> Result<Response, DecodeError> {
    let Value::Struct(members) = v else {
        return Err(err(format!("response is a {}, not a Status struct", v.kind())));
    };
    let mut status = None;
    let mut value = None;
    let mut desc = None;
    for (k, v) in members {
        match k.as_str() {
            "Status" if status.is_none() => status = Some(v),
            "Value" if value.is_none() => value = Some(v),
            "ErrorDescription" if desc.is_none() => desc = Some(v),
            _ => {}
        }
    }
    match status.as_ref().and_then(Value::as_str) {
        Some("Success") => value.map(Response::Success).ok_or_else(|| err("Success response without Value")),
        Some("Failure") => match desc {
            Some(Value::Array(items)) => Ok(Response::Failure(items.iter().map(scalar_text).collect())),
            Some(other) => Err(err(format!("ErrorDescription is a {}, not an array", other.kind()))),
            None => Err(err("Failure response without ErrorDescription")),
        },
        Some(s) => Err(err(format!("unknown Status {s:?}"))),
        None => Err(err("response struct without a string Status")),
    }
}

fn fault(v: &Value) -> Response {
    let text = |k: &str| v.get(k).map(scalar_text).unwrap_or_default();
    Response::Failure(vec![text("faultString"), text("faultCode")])
}

/// Renders an error-description item as a string.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) | Value::DateTime(s) => s.clone(),
        other => other.to_string(),
    }
}

fn err(msg: impl Into<String>) -> DecodeError {
    DecodeError(format!("XML-RPC: {}", msg.into()))
}

fn unexpected(tok: &Tok<'_>, wanted: &str) -> DecodeError {
    let got = match tok {
        Tok::Start(t) => format!("<{}>", t.as_str()),
        Tok::End(t) => format!("</{}>", t.as_str()),
        Tok::Text(t) => {
            let t: String = t.chars().take(20).collect();
            format!("text {t:?}")
        }
        Tok::Eof => "end of document".to_string(),
    };
    err(format!("expected {wanted}, found {got}"))
}

/// A simplified XML token: adjacent text, references and CDATA are merged.
#[derive(Debug)]
enum Tok<'a> {
    Start(Tag),
    End(Tag),
    Text(Cow<'a, str>),
    Eof,
}

/// The element names XML-RPC uses; anything else is `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tag {
    MethodCall,
    MethodName,
    MethodResponse,
    Params,
    Param,
    Fault,
    Value,
    String,
    Int,
    I4,
    I8,
    Boolean,
    Double,
    DateTime,
    Base64,
    Nil,
    Array,
    Data,
    Struct,
    Member,
    Name,
    Other(Box<str>),
}

impl Tag {
    fn from_name(n: &[u8]) -> Tag {
        match n {
            b"methodCall" => Tag::MethodCall,
            b"methodName" => Tag::MethodName,
            b"methodResponse" => Tag::MethodResponse,
            b"params" => Tag::Params,
            b"param" => Tag::Param,
            b"fault" => Tag::Fault,
            b"value" => Tag::Value,
            b"string" => Tag::String,
            b"int" => Tag::Int,
            b"i4" => Tag::I4,
            b"i8" => Tag::I8,
            b"boolean" => Tag::Boolean,
            b"double" => Tag::Double,
            b"dateTime.iso8601" => Tag::DateTime,
            b"base64" => Tag::Base64,
            b"nil" => Tag::Nil,
            b"array" => Tag::Array,
            b"data" => Tag::Data,
            b"struct" => Tag::Struct,
            b"member" => Tag::Member,
            b"name" => Tag::Name,
            other => Tag::Other(String::from_utf8_lossy(other).into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Tag::MethodCall => "methodCall",
            Tag::MethodName => "methodName",
            Tag::MethodResponse => "methodResponse",
            Tag::Params => "params",
            Tag::Param => "param",
            Tag::Fault => "fault",
            Tag::Value => "value",
            Tag::String => "string",
            Tag::Int => "int",
            Tag::I4 => "i4",
            Tag::I8 => "i8",
            Tag::Boolean => "boolean",
            Tag::Double => "double",
            Tag::DateTime => "dateTime.iso8601",
            Tag::Base64 => "base64",
            Tag::Nil => "nil",
            Tag::Array => "array",
            Tag::Data => "data",
            Tag::Struct => "struct",
            Tag::Member => "member",
            Tag::Name => "name",
            Tag::Other(n) => n,
        }
    }
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    peeked: Option<Event<'a>>,
}

impl<'a> Parser<'a> {
    fn new(body: &'a [u8]) -> Self {
        let mut reader = Reader::from_reader(body);
        let cfg = reader.config_mut();
        cfg.expand_empty_elements = true;
        cfg.check_end_names = true;
        cfg.trim_text(false);
        Parser { reader, peeked: None }
    }

    /// The next raw event, skipping declarations, comments and the like.
    fn event(&mut self) -> Result<Event<'a>, DecodeError> {
        if let Some(e) = self.peeked.take() {
            return Ok(e);
        }
        loop {
            let e = self
                .reader
                .read_event()
                .map_err(|e| err(format!("malformed XML at byte {}: {e}", self.reader.buffer_position())))?;
            match e {
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => continue,
                e => return Ok(e),
            }
        }
    }

    fn next(&mut self) -> Result<Tok<'a>, DecodeError> {
        let mut text: Option<Cow<'a, str>> = None;
        loop {
            let piece: Cow<'a, str> = match self.event()? {
                Event::Text(t) => t.decode().map_err(|e| err(format!("bad text encoding: {e}")))?,
                Event::CData(t) => t.decode().map_err(|e| err(format!("bad CDATA encoding: {e}")))?,
                Event::GeneralRef(r) => Cow::Owned(resolve_ref(&r)?.to_string()),
                e => {
                    if let Some(t) = text {
                        self.peeked = Some(e);
                        return Ok(Tok::Text(t));
                    }
                    return Ok(match e {
                        Event::Start(s) => Tok::Start(Tag::from_name(s.name().into_inner())),
                        Event::End(s) => Tok::End(Tag::from_name(s.name().into_inner())),
                        Event::Eof => Tok::Eof,
                        // Empty elements are expanded; the rest were skipped.
                        _ => return Err(err("unexpected XML construct")),
                    });
                }
            };
            text = Some(match text {
                None => piece,
                Some(t) => Cow::Owned(t.into_owned() + &piece),
            });
        }
    }

    /// The next token that is not whitespace-only text.
    fn next_skip_ws(&mut self) -> Result<Tok<'a>, DecodeError> {
        match self.next()? {
            Tok::Text(t) if is_ws(&t) => self.next(),
            other => Ok(other),
        }
    }

    fn expect_start(&mut self, tag: Tag) -> Result<(), DecodeError> {
        match self.next_skip_ws()? {
            Tok::Start(t) if t == tag => Ok(()),
            other => Err(unexpected(&other, &format!("<{}>", tag.as_str()))),
        }
    }

    fn expect_end(&mut self, tag: Tag) -> Result<(), DecodeError> {
        match self.next_skip_ws()? {
            Tok::End(t) if t == tag => Ok(()),
            other => Err(unexpected(&other, &format!("</{}>", tag.as_str()))),
        }
    }

    fn expect_eof(&mut self) -> Result<(), DecodeError> {
        match self.next_skip_ws()? {
            Tok::Eof => Ok(()),
            other => Err(unexpected(&other, "end of document")),
        }
    }

    /// Text content up to `</name>`, with no child elements.
    fn text_until_end(&mut self, tag: Tag) -> Result<Cow<'a, str>, DecodeError> {
        let text = match self.next()? {
            Tok::Text(t) => t,
            Tok::End(t) if t == tag => return Ok(Cow::Borrowed("")),
            other => return Err(unexpected(&other, "text")),
        };
        match self.next()? {
            Tok::End(t) if t == tag => Ok(text),
            other => Err(unexpected(&other, &format!("</{}>", tag.as_str()))),
        }
    }

    /// The `<param>` list after `<params>`, consuming `</params>`.
    fn params(&mut self) -> Result<Vec<Value>, DecodeError> {
        let mut out = Vec::new();
        loop {
            match self.next_skip_ws()? {
                Tok::Start(Tag::Param) => {
                    self.expect_start(Tag::Value)?;
                    out.push(self.value_body(1)?);
                    self.expect_end(Tag::Param)?;
                }
                Tok::End(Tag::Params) => return Ok(out),
                other => return Err(unexpected(&other, "<param> or </params>")),
            }
        }
    }

    /// The content of a `<value>` whose start tag was consumed, through `</value>`.
    fn value_body(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(err(format!("values nested deeper than {MAX_DEPTH}")));
        }
        let mut tok = self.next()?;
        let text = match tok {
            Tok::Text(t) => {
                tok = self.next()?;
                Some(t)
            }
            _ => None,
        };
        match tok {
            Tok::End(Tag::Value) => Ok(Value::String(text.map(Cow::into_owned).unwrap_or_default())),
            Tok::Start(tag) => {
                if let Some(t) = &text {
                    if !is_ws(t) {
                        return Err(err("text mixed with a typed value"));
                    }
                }
                let v = self.typed(tag, depth)?;
                self.expect_end(Tag::Value)?;
                Ok(v)
            }
            other => Err(unexpected(&other, "a value")),
        }
    }

    /// A typed value whose start tag `<name>` was consumed, through its end tag.
    fn typed(&mut self, tag: Tag, depth: usize) -> Result<Value, DecodeError> {
        let v = match tag {
            Tag::String => Value::String(self.text_until_end(tag)?.into_owned()),
            Tag::Int | Tag::I4 | Tag::I8 => {
                let t = self.text_until_end(tag.clone())?;
                let t = t.trim();
                Value::Int(t.parse().map_err(|_| err(format!("bad integer {t:?}")))?)
            }
            Tag::Boolean => match self.text_until_end(tag.clone())?.trim() {
                "1" | "true" => Value::Bool(true),
                "0" | "false" => Value::Bool(false),
                t => return Err(err(format!("bad boolean {t:?}"))),
            },
            Tag::Double => {
                let t = self.text_until_end(tag.clone())?;
                let t = t.trim();
                Value::Float(crate::value::parse_float(t).ok_or_else(|| err(format!("bad double {t:?}")))?)
            }
            Tag::DateTime => {
                let t = self.text_until_end(tag.clone())?;
                let t = t.trim();
                Value::DateTime(crate::datetime::normalise(t).unwrap_or_else(|| t.to_string()))
            }
            Tag::Base64 => {
                let t = self.text_until_end(tag.clone())?;
                let bytes = base64_decode(&t).ok_or_else(|| err("bad base64"))?;
                Value::String(match String::from_utf8(bytes) {
                    Ok(s) => s,
                    Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                })
            }
            Tag::Nil => {
                self.expect_end(Tag::Nil)?;
                Value::Nil
            }
            Tag::Array => {
                let mut items = Vec::new();
                match self.next_skip_ws()? {
                    Tok::Start(Tag::Data) => loop {
                        match self.next_skip_ws()? {
                            Tok::Start(Tag::Value) => items.push(self.value_body(depth + 1)?),
                            Tok::End(Tag::Data) => break,
                            other => return Err(unexpected(&other, "<value> or </data>")),
                        }
                    },
                    // Tolerate `<array/>` without `<data>`.
                    Tok::End(Tag::Array) => return Ok(Value::Array(items)),
                    other => return Err(unexpected(&other, "<data>")),
                }
                self.expect_end(Tag::Array)?;
                Value::Array(items)
            }
            Tag::Struct => {
                let mut members = Vec::new();
                loop {
                    match self.next_skip_ws()? {
                        Tok::Start(Tag::Member) => {
                            self.expect_start(Tag::Name)?;
                            let key = self.text_until_end(Tag::Name)?.into_owned();
                            self.expect_start(Tag::Value)?;
                            let v = self.value_body(depth + 1)?;
                            self.expect_end(Tag::Member)?;
                            members.push((key, v));
                        }
                        Tok::End(Tag::Struct) => break,
                        other => return Err(unexpected(&other, "<member> or </struct>")),
                    }
                }
                Value::Struct(members)
            }
            other => return Err(err(format!("unknown element <{}>", other.as_str()))),
        };
        Ok(v)
    }
}

fn is_ws(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

fn resolve_ref(r: &BytesRef<'_>) -> Result<char, DecodeError> {
    resolve_entity(r).map_err(err)
}

/// The character an XML entity or character reference stands for (the
/// five predefined entities and `&#...;`), for any quick-xml reader.
pub fn resolve_entity(r: &BytesRef<'_>) -> Result<char, String> {
    if r.is_char_ref() {
        return match r.resolve_char_ref() {
            Ok(Some(c)) => Ok(c),
            _ => Err(format!("bad character reference &{};", String::from_utf8_lossy(r))),
        };
    }
    match &**r {
        b"amp" => Ok('&'),
        b"lt" => Ok('<'),
        b"gt" => Ok('>'),
        b"quot" => Ok('"'),
        b"apos" => Ok('\''),
        other => Err(format!("unknown entity &{};", String::from_utf8_lossy(other))),
    }
}

/// Decodes standard base64 (with optional padding), ignoring ASCII whitespace.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn sextet(b: u8) -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut n = 0u32;
    let mut pad = 0;
    for b in s.bytes() {
        if b.is_ascii_whitespace() {
            continue;
        }
        if b == b'=' {
            pad += 1;
            continue;
        }
        if pad > 0 {
            return None; // data after padding
        }
        acc = (acc << 6) | sextet(b)?;
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match (n, pad) {
        (0, 0) => {}
        (2, 0 | 2) => out.push((acc >> 4) as u8),
        (3, 0 | 1) => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    fn call(params: &str) -> Vec<Value> {
        let doc = format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>m</methodName><params>{params}</params></methodCall>"
        );
        decode_call(doc.as_bytes()).unwrap().1
    }

    fn param(value: &str) -> Result<Value, DecodeError> {
        let doc = format!("<methodCall><methodName>m</methodName><params><param>{value}</param></params></methodCall>");
        decode_call(doc.as_bytes()).map(|(_, mut p)| p.remove(0))
    }

    #[test]
    fn encodes_a_call() {
        let doc = encode_call("session.login_with_password", &[s("root"), s("a<b&c")]);
        assert_eq!(
            doc,
            "<?xml version=\"1.0\"?><methodCall><methodName>session.login_with_password</methodName>\
             <params><param><value>root</value></param><param><value>a&lt;b&amp;c</value></param>\
             </params></methodCall>"
        );
    }

    #[test]
    fn encodes_success_and_failure_like_xapi() {
        assert_eq!(
            encode_response(&Response::Success(Value::Int(123))),
            "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct>\
             <member><name>Status</name><value>Success</value></member>\
             <member><name>Value</name><value>123</value></member>\
             </struct></value></param></params></methodResponse>"
        );
        assert_eq!(
            encode_response(&Response::Failure(vec!["SESSION_INVALID".into(), "OpaqueRef:x".into()])),
            "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct>\
             <member><name>Status</name><value>Failure</value></member>\
             <member><name>ErrorDescription</name><value><array><data>\
             <value>SESSION_INVALID</value><value>OpaqueRef:x</value>\
             </data></array></value></member>\
             </struct></value></param></params></methodResponse>"
        );
    }

    #[test]
    fn encodes_every_variant() {
        let enc = |v: Value| {
            let mut out = String::new();
            encode_value(&mut out, &v);
            out
        };
        assert_eq!(enc(Value::Nil), "<value><nil/></value>");
        assert_eq!(enc(s("x > y")), "<value>x &gt; y</value>");
        assert_eq!(enc(Value::Int(-9_000_000_000)), "<value>-9000000000</value>");
        assert_eq!(enc(Value::Bool(true)), "<value><boolean>1</boolean></value>");
        assert_eq!(enc(Value::Bool(false)), "<value><boolean>0</boolean></value>");
        assert_eq!(enc(Value::Float(1.0)), "<value><double>1.0</double></value>");
        assert_eq!(enc(Value::Float(0.25)), "<value><double>0.25</double></value>");
        assert_eq!(enc(Value::Float(f64::NAN)), "<value><double>NaN</double></value>");
        assert_eq!(enc(Value::Float(f64::INFINITY)), "<value><double>Infinity</double></value>");
        assert_eq!(enc(Value::Float(f64::NEG_INFINITY)), "<value><double>-Infinity</double></value>");
        assert_eq!(
            enc(Value::DateTime("20240101T00:00:00Z".into())),
            "<value><dateTime.iso8601>20240101T00:00:00Z</dateTime.iso8601></value>"
        );
        assert_eq!(enc(Value::Array(vec![])), "<value><array><data></data></array></value>");
        assert_eq!(
            enc(Value::Struct(vec![("a&b".into(), Value::Array(vec![s("1")]))])),
            "<value><struct><member><name>a&amp;b</name><value><array><data><value>1</value>\
             </data></array></value></member></struct></value>"
        );
    }

    #[test]
    fn round_trips_every_variant() {
        let v = Value::Struct(vec![
            ("nil".into(), Value::Nil),
            ("s".into(), s("  spaced <&> \"quoted\" 'x'\n")),
            ("empty".into(), s("")),
            ("int".into(), Value::Int(i64::MIN)),
            ("f".into(), Value::Float(-2.5e-300)),
            ("inf".into(), Value::Float(f64::INFINITY)),
            ("t".into(), Value::Bool(true)),
            ("d".into(), Value::DateTime("20240420T12:00:00Z".into())),
            ("a".into(), Value::Array(vec![Value::Array(vec![]), Value::Struct(vec![])])),
            ("ünï".into(), s("ç∂")),
        ]);
        let doc = encode_response(&Response::Success(v.clone()));
        let Response::Success(back) = decode_response(doc.as_bytes()).unwrap() else { panic!("failure") };
        // Ints travel as untyped strings, as xapi sends them.
        let mut want = v.as_struct().unwrap().to_vec();
        want[3].1 = s(&i64::MIN.to_string());
        assert_eq!(back, Value::Struct(want));

        let (m, params) = decode_call(encode_call("VM.foo", &[v.clone(), Value::Nil]).as_bytes()).unwrap();
        assert_eq!(m, "VM.foo");
        assert_eq!(params.len(), 2);
        assert_eq!(params[1], Value::Nil);

        let nan = decode_response(encode_response(&Response::Success(Value::Float(f64::NAN))).as_bytes());
        assert!(matches!(nan, Ok(Response::Success(Value::Float(f))) if f.is_nan()));
    }

    #[test]
    fn failure_round_trips() {
        let r = Response::Failure(vec!["MAP_DUPLICATE_KEY".into(), "Customer".into(), "eSpiel & Co <x>".into()]);
        assert_eq!(decode_response(encode_response(&r).as_bytes()), Ok(r));
    }

    #[test]
    fn decodes_typed_values() {
        let p = call(
            "<param><value><string>a b </string></value></param>\
             <param><value><int> 42 </int></value></param>\
             <param><value><i4>-7</i4></value></param>\
             <param><value><i8>9000000000</i8></value></param>\
             <param><value><boolean>1</boolean></value></param>\
             <param><value><boolean>0</boolean></value></param>\
             <param><value><double>2.5</double></value></param>\
             <param><value><double>-Infinity</double></value></param>\
             <param><value><nil/></value></param>\
             <param><value><base64>aGVsbG8g\n d29ybGQ=</base64></value></param>\
             <param><value><string/></value></param>",
        );
        assert_eq!(
            p,
            vec![
                s("a b "),
                Value::Int(42),
                Value::Int(-7),
                Value::Int(9_000_000_000),
                Value::Bool(true),
                Value::Bool(false),
                Value::Float(2.5),
                Value::Float(f64::NEG_INFINITY),
                Value::Nil,
                s("hello world"),
                s(""),
            ]
        );
    }

    #[test]
    fn decodes_datetimes() {
        let p = call(
            "<param><value><dateTime.iso8601>20240420T12:00:00Z</dateTime.iso8601></value></param>\
             <param><value><dateTime.iso8601>20240420T12:00:00</dateTime.iso8601></value></param>\
             <param><value><dateTime.iso8601>2024-04-20T12:00:00Z</dateTime.iso8601></value></param>\
             <param><value><dateTime.iso8601>someday</dateTime.iso8601></value></param>",
        );
        let d = Value::DateTime("20240420T12:00:00Z".into());
        assert_eq!(p, vec![d.clone(), d.clone(), d, Value::DateTime("someday".into())]);
    }

    #[test]
    fn decodes_untyped_values_and_whitespace() {
        let doc = "<?xml version=\"1.0\"?>\n<methodCall>\n  <methodName> VM.get_all </methodName>\n  <params>\n\
                   <param>\n <value>  untyped  text </value>\n</param>\n\
                   <param><value></value></param>\n\
                   <param><value/></param>\n\
                   <param>\n  <value>\n    <array>\n      <data>\n        <value>x</value>\n\
                   <value> <string>y</string> </value>\n      </data>\n    </array>\n  </value>\n</param>\n\
                   <param><value><struct>\n <member>\n <name>k</name>\n <value>v</value>\n </member>\n</struct></value></param>\n\
                   </params>\n</methodCall>\n";
        let (m, p) = decode_call(doc.as_bytes()).unwrap();
        assert_eq!(m, "VM.get_all");
        assert_eq!(
            p,
            vec![
                s("  untyped  text "),
                s(""),
                s(""),
                Value::Array(vec![s("x"), s("y")]),
                Value::Struct(vec![("k".into(), s("v"))]),
            ]
        );
    }

    #[test]
    fn decodes_entities() {
        let p = param("<value>&amp;&lt;&gt;&quot;&apos;&#65;&#x42;&#x1F600; ok</value>").unwrap();
        assert_eq!(p, s("&<>\"'AB\u{1F600} ok"));
        let p = param("<value><string>a&amp;b<![CDATA[<c>]]></string></value>").unwrap();
        assert_eq!(p, s("a&b<c>"));
        assert!(param("<value>&nbsp;</value>").is_err());
        assert!(param("<value>&#0;</value>").is_err());
    }

    #[test]
    fn missing_or_empty_params() {
        assert_eq!(
            decode_call(b"<methodCall><methodName>a.b</methodName></methodCall>").unwrap(),
            ("a.b".to_string(), vec![])
        );
        assert_eq!(
            decode_call(b"<methodCall><methodName>a.b</methodName><params/></methodCall>").unwrap(),
            ("a.b".to_string(), vec![])
        );
    }

    #[test]
    fn rejects_malformed_calls() {
        let bad: &[&[u8]] = &[
            b"",
            b"garbage",
            b"<methodCall>",
            b"<methodCall><methodName>m</methodName>",
            b"<methodCall><methodName>m</methodName><params><param><value>x</value></param>",
            b"<methodCall><params></params></methodCall>",
            b"<methodCall><methodName></methodName></methodCall>",
            b"<methodCall><methodName>m</methodName><params><param><value><int>x</int></value></param></params></methodCall>",
            b"<methodCall><methodName>m</methodName><params><param><value><int>99999999999999999999</int></value></param></params></methodCall>",
            b"<methodCall><methodName>m</methodName><params><param><value><boolean>2</boolean></value></param></params></methodCall>",
            b"<methodCall><methodName>m</methodName><params><param><value><double>x</double></value></param></params></methodCall>",
            b"<methodCall><methodName>m</methodName><params><param><value><float>1</float></value></param></params></methodCall>",
            b"<methodCall><methodName>m</methodName><params><param><value><string>a</value></string></param></params></methodCall>",
            b"<methodCall><methodName>m</methodName><params><param><value>a<string>b</string></value></param></params></methodCall>",
            b"<methodCall><methodName>m</methodName><params><param><value><string><b/></string></value></param></params></methodCall>",
            b"<methodCall><methodName>m</methodName><params><param><value><struct><member><value>1</value></member></struct></value></param></params></methodCall>",
            b"<methodCall><methodName>m</methodName><params><param><value><array><value>1</value></array></value></param></params></methodCall>",
            b"<methodCall><methodName>m</methodName><params><param><value><base64>!!</base64></value></param></params></methodCall>",
            b"<methodCall><methodName>m</methodName><params>junk</params></methodCall>",
            b"<methodCall><methodName>m</methodName></methodCall><extra/>",
            b"<methodResponse></methodResponse>",
            b"<methodCall><methodName>m</methodName><params><param><value>\xff</value></param></params></methodCall>",
        ];
        for doc in bad {
            let r = decode_call(doc);
            assert!(r.is_err(), "accepted {:?}: {r:?}", String::from_utf8_lossy(doc));
        }
    }

    #[test]
    fn never_panics_on_truncations() {
        let v = Value::Struct(vec![
            ("a".into(), Value::Array(vec![s("x&y"), Value::Int(1), Value::Float(0.5)])),
            ("b".into(), Value::DateTime("20240101T00:00:00Z".into())),
            ("c".into(), Value::Nil),
            ("d".into(), Value::Bool(true)),
        ]);
        let call = encode_call("m", std::slice::from_ref(&v));
        let resp = encode_response(&Response::Success(v));
        for doc in [&call, &resp] {
            for i in 0..doc.len() {
                let _ = decode_call(&doc.as_bytes()[..i]);
                let _ = decode_response(&doc.as_bytes()[..i]);
            }
        }
        assert!(decode_call(&call.as_bytes()[..call.len() - 1]).is_err());
        assert!(decode_response(&resp.as_bytes()[..resp.len() - 1]).is_err());
    }

    #[test]
    fn bounds_nesting_depth() {
        let nest = |n: usize| {
            let open = "<value><array><data>".repeat(n);
            let close = "</data></array></value>".repeat(n);
            param(&format!("{open}<value>x</value>{close}"))
        };
        assert!(nest(MAX_DEPTH - 1).is_ok());
        let e = nest(MAX_DEPTH).unwrap_err();
        assert!(e.0.contains("nested"), "{e}");
        assert!(nest(100_000).is_err());
    }

    #[test]
    fn decodes_xapi_style_responses() {
        let doc = "<?xml version=\"1.0\"?>\n<methodResponse><params><param><value><struct>\n\
                   <member><name>Status</name><value>Success</value></member>\n\
                   <member><name>Value</name><value><array><data>\n\
                   <value>81547a35-205c-a551-c577-00b982c5fe00</value>\n\
                   <value>61c85a22-05da-b8a2-2e55-06b0847da503</value>\n\
                   </data></array></value></member></struct></value></param></params></methodResponse>";
        assert_eq!(
            decode_response(doc.as_bytes()),
            Ok(Response::Success(Value::Array(vec![
                s("81547a35-205c-a551-c577-00b982c5fe00"),
                s("61c85a22-05da-b8a2-2e55-06b0847da503"),
            ])))
        );
        let doc = "<methodResponse><params><param><value><struct>\
                   <member><name>Status</name><value><string>Failure</string></value></member>\
                   <member><name>ErrorDescription</name><value><array><data>\
                   <value><string>VM_IS_TEMPLATE</string></value><value>OpaqueRef:X</value><value><int>3</int></value>\
                   </data></array></value></member></struct></value></param></params></methodResponse>";
        assert_eq!(
            decode_response(doc.as_bytes()),
            Ok(Response::Failure(vec!["VM_IS_TEMPLATE".into(), "OpaqueRef:X".into(), "3".into()]))
        );
    }

    #[test]
    fn decodes_faults() {
        let doc = "<?xml version=\"1.0\"?><methodResponse><fault><value><struct>\
                   <member><name>faultCode</name><value><int>4</int></value></member>\
                   <member><name>faultString</name><value><string>Too many parameters.</string></value></member>\
                   </struct></value></fault></methodResponse>";
        assert_eq!(
            decode_response(doc.as_bytes()),
            Ok(Response::Failure(vec!["Too many parameters.".into(), "4".into()]))
        );
    }

    #[test]
    fn rejects_malformed_responses() {
        let bad: &[&str] = &[
            "<methodResponse><params></params></methodResponse>",
            "<methodResponse><params><param><value>x</value></param></params></methodResponse>",
            "<methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member></struct></value></param></params></methodResponse>",
            "<methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member></struct></value></param></params></methodResponse>",
            "<methodResponse><params><param><value><struct><member><name>Status</name><value>Maybe</value></member></struct></value></param></params></methodResponse>",
            "<methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value>x</value></member></struct></value></param></params></methodResponse>",
            "<methodCall><methodName>m</methodName></methodCall>",
        ];
        for doc in bad {
            assert!(decode_response(doc.as_bytes()).is_err(), "accepted {doc}");
        }
    }

    #[test]
    fn base64_edge_cases() {
        assert_eq!(base64_decode(""), Some(vec![]));
        assert_eq!(base64_decode("YQ=="), Some(b"a".to_vec()));
        assert_eq!(base64_decode("YWI="), Some(b"ab".to_vec()));
        assert_eq!(base64_decode("YWJj"), Some(b"abc".to_vec()));
        assert_eq!(base64_decode("YQ"), Some(b"a".to_vec()));
        assert_eq!(base64_decode("Y"), None);
        assert_eq!(base64_decode("YQ==YQ=="), None);
    }
}
