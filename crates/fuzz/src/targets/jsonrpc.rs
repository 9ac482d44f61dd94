//! `jsonrpc-value` and `jsonrpc-stream`: the JSON-RPC decoders.
//!
//! The value decoders must agree with each other (a projected decode is
//! the whole decode with the unwanted record members dropped; a call is the
//! object it was read from) and survive a round trip. The streaming
//! readers, fed in random small chunks, must agree with the value decoders
//! exactly, as `wire/jsonrpc/stream.rs` promises: both succeed with the
//! same value or both fail.

use super::{encoded_values, feature, shape, tokens, Outcome, Target};
use crate::rng::{fnv, Rng};
use crate::values::{brief, json_view, same, same_response};
use std::io::{self, Read};
use xenapi::wire::jsonrpc::{self, RawAnswer, ReadError, Version};
use xenapi::wire::{DecodeError, Response};
use xenapi::Value;

pub struct ValueDecoders;
#[derive(Default)]
pub struct Streaming {
    thorough: bool,
}

/// The record members projected decodes keep.
fn keep(k: &str) -> bool {
    matches!(k, "uuid" | "name_label" | "" | "a\"b" | "é" | "power_state")
}

const DICTIONARY: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    " ",
    "\n",
    "\"\\ud800\"",
    "\"\\udc00\"",
    "\\ud83d\\ude00",
    "\\ud800\\u0041",
    "\\u0000",
    "\\u00e9",
    "\\\"",
    "\\\\",
    "\\q",
    "\\u12",
    "\"\\u0000xenapi:NaN\"",
    "\"\\u0000xenapi:+Infinity\"",
    "1e999",
    "-1e999",
    "-0",
    "1.5e300",
    "9223372036854775808",
    "-9223372036854775809",
    "NaN",
    "Infinity",
    "-Infinity",
    "+Infinity",
    "null",
    "true",
    "false",
    "\"result\":",
    "\"error\":",
    "\"error\":null",
    "\"jsonrpc\":\"2.0\",",
    "\"id\":1",
    "\"method\":\"VM.get_record\"",
    "\"params\":[",
    "\"data\":",
    "\"message\":",
    "{\"uuid\":",
    "\"name_label\":",
    "\"other_config\":{",
    "\"OpaqueRef:a\":{",
    "[[[[",
    "{\"a\":",
    "\u{1}",
    "\u{7f}",
];

/// Documents of every shape the readers treat differently.
fn seeds() -> Vec<Vec<u8>> {
    let id = serde_json::json!(1);
    let mut s = encoded_values(24, 21, |v| jsonrpc::encode_response(&Response::Success(v.clone()), &id, Version::V2));
    s.extend(encoded_values(16, 22, |v| jsonrpc::encode_response(&Response::Success(v.clone()), &id, Version::V1)));
    s.extend(encoded_values(16, 23, |v| {
        jsonrpc::encode_call("VM.set_other_config", std::slice::from_ref(v), 7, Version::V2)
    }));
    // Ref-to-record results, the projected and record-keeping paths.
    s.extend(encoded_values(24, 24, |v| {
        let rec = |i: usize| {
            Value::Struct(vec![
                ("uuid".into(), Value::String(format!("u{i}"))),
                ("other".into(), v.clone()),
                ("name_label".into(), Value::String(format!("vm {i}"))),
                ("a\"b".into(), Value::Int(i as i64)),
            ])
        };
        let records = Value::Struct((0..3).map(|i| (format!("OpaqueRef:{i}"), rec(i))).collect());
        jsonrpc::encode_response(&Response::Success(records), &id, Version::V2)
    }));
    for version in [Version::V1, Version::V2] {
        let failure = Response::Failure(vec!["HANDLE_INVALID".into(), "VM".into(), "OpaqueRef:x".into()]);
        s.push(jsonrpc::encode_response(&failure, &serde_json::json!("xyz"), version).into_bytes());
    }
    for fixture in [
        &include_bytes!("../../../xenapi/tests/fixtures/jsonrpc_v1_error.json")[..],
        include_bytes!("../../../xenapi/tests/fixtures/jsonrpc_v1_special_values.json"),
        include_bytes!("../../../xenapi/tests/fixtures/jsonrpc_v2_call_migrate_send.json"),
        include_bytes!("../../../xenapi/tests/fixtures/jsonrpc_v2_error_data_string.json"),
        include_bytes!("../../../xenapi/tests/fixtures/jsonrpc_v2_error_malformed.json"),
        include_bytes!("../../../xenapi/tests/fixtures/jsonrpc_v2_record.json"),
    ] {
        s.push(fixture.to_vec());
    }
    s.push(
        br#"{"jsonrpc":"2.0","result":{"r":{"uuid":Infinity,"x":-Infinity,"name_label":[NaN,+Infinity]}},"id":1}"#
            .to_vec(),
    );
    s.push(
        br#"{"result":{"r":{"uuid":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00","skip":"\ud800"}},"error":null,"id":"x"}"#
            .to_vec(),
    );
    s.push(br#"{"error":{"code":1,"message":123,"data":[1,null,{"a":true}]},"id":1}"#.to_vec());
    s
}

impl Target for ValueDecoders {
    fn name(&self) -> &'static str {
        "jsonrpc-value"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        seeds()
    }

    fn dictionary(&self) -> Vec<Vec<u8>> {
        tokens(DICTIONARY)
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        let value = jsonrpc::decode_value(input);
        let whole = jsonrpc::decode_response(input);
        let projected = jsonrpc::decode_response_projected(input, &keep);
        let call = jsonrpc::decode_call(input);
        if value.is_err() && (whole.is_ok() || call.is_ok()) {
            return Err(format!("a response or call decodes from text that is no value: {}", brief(&value)));
        }
        // Skipping checks less than building: the projected decode accepts more, never less.
        if let Ok(w) = &whole {
            let mut want = w.clone();
            if let Response::Success(v) = &mut want {
                jsonrpc::project_records(v, &keep);
            }
            if !projected.as_ref().is_ok_and(|p| same_response(p, &want)) {
                return Err(format!(
                    "projected decode {} is not the whole one projected {}",
                    brief(&projected),
                    brief(&want)
                ));
            }
        }
        if let (Ok(c), Ok(Value::Struct(members))) = (&call, &value) {
            let member = |k: &str| members.iter().find(|(n, _)| n == k).map(|(_, v)| v);
            let params = Value::Array(c.params.clone());
            let same_params = member("params").map_or(c.params.is_empty(), |p| same(p, &params));
            if member("method").and_then(Value::as_str) != Some(c.method.as_str()) || !same_params {
                return Err(format!("call {} differs from its object {}", brief(c), brief(&members)));
            }
        }
        if let Ok(v) = &value {
            let mut text = String::new();
            jsonrpc::encode_value(&mut text, v);
            let again = jsonrpc::decode_value(text.as_bytes());
            if !again.as_ref().is_ok_and(|a| same(a, &json_view(v))) {
                return Err(format!("value does not survive a round trip: {} became {}", brief(v), brief(&again)));
            }
        }
        Ok(feature("value", &value, shape)
            ^ feature("response", &whole, |_| String::new()).rotate_left(1)
            ^ feature("call", &call, |c| c.method.clone()).rotate_left(2))
    }
}

/// A reader that hands the input out in small chunks of random sizes, now
/// and then failing with `Interrupted` (which the readers must retry).
struct Chunks<'a> {
    data: &'a [u8],
    rng: Rng,
    max: usize,
}

impl<'a> Chunks<'a> {
    fn new(data: &'a [u8], seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let max = *rng.pick(&[1, 2, 3, 7, 16, 64, 4096, 1 << 20]);
        Chunks { data, rng, max }
    }
}

impl Read for Chunks<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.rng.one_in(16) {
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
        let n = self.rng.between(1, self.max).min(out.len()).min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn decode_error<T>(r: Result<T, ReadError>) -> Result<Result<T, DecodeError>, String> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(ReadError::Decode(e)) => Ok(Err(e)),
        Err(ReadError::Io(e)) => Err(format!("a reader that never fails gave an I/O error: {e}")),
        Err(ReadError::TooLarge) => Err(format!("an input far below the {LIMIT}-byte limit was refused as too large")),
    }
}

/// The streaming readers' memory limit: xe's default, far above any input here.
const LIMIT: usize = 64 << 20;

/// Both succeed with the same response, or both fail.
fn agree(
    what: &str,
    streamed: &Result<Response, DecodeError>,
    slice: &Result<Response, DecodeError>,
) -> Result<(), String> {
    let fine = match (streamed, slice) {
        (Ok(a), Ok(b)) => same_response(a, b),
        (Err(_), Err(_)) => true,
        _ => false,
    };
    if fine {
        Ok(())
    } else {
        Err(format!("{what}: streamed {} but the value decoder gives {}", brief(streamed), brief(slice)))
    }
}

impl Target for Streaming {
    fn name(&self) -> &'static str {
        "jsonrpc-stream"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        seeds()
    }

    fn dictionary(&self) -> Vec<Vec<u8>> {
        tokens(DICTIONARY)
    }

    fn thorough(&mut self) {
        self.thorough = true;
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        let seed = fnv(input);
        let whole = jsonrpc::decode_response(input);
        let projected = jsonrpc::decode_response_projected(input, &keep);
        // A reader zero-fills its 256 KiB buffer, some 1 ms in a debug build:
        // a run of one goes through one of the three readers per input, in turn.
        let all = self.thorough || !cfg!(debug_assertions);
        if all || seed % 3 == 0 {
            let streamed = decode_error(jsonrpc::read_response(Chunks::new(input, seed), None, LIMIT))?;
            agree("read_response", &streamed, &whole)?;
        }
        if all || seed % 3 == 1 {
            let streamed_projected =
                decode_error(jsonrpc::read_response(Chunks::new(input, seed ^ 1), Some(&keep), LIMIT))?;
            agree("read_response with keep", &streamed_projected, &projected)?;
        }
        if !all && seed % 3 != 2 {
            return Ok(feature("stream", &whole, |_| String::new()));
        }
        let records = decode_error(jsonrpc::read_records(Chunks::new(input, seed ^ 2), &keep, LIMIT))?;
        let kind = match (records, &projected) {
            (Ok(RawAnswer::Records(mut raw)), Ok(Response::Success(Value::Struct(want)))) => {
                // The records kept as text decode to the projected ones, every way they can be read.
                let uuid_only = |k: &str| k == "uuid";
                let only_uuid = |v: &Value| match v {
                    Value::Struct(m) => Value::Struct(m.iter().filter(|(k, _)| k == "uuid").cloned().collect()),
                    other => other.clone(),
                };
                if raw.len() != want.len() {
                    return Err(format!("read_records kept {} records of {}", raw.len(), want.len()));
                }
                let mut each = Vec::new();
                raw.each_record(Some(&uuid_only), |r, v| each.push((r.to_string(), v)));
                for (i, (r, rec)) in want.iter().enumerate() {
                    let whole_record = raw.record(i, None);
                    let record = raw.record(i, Some(&uuid_only));
                    if raw.reference(i) != r
                        || !same(&whole_record, rec)
                        || !same(&record, &only_uuid(rec))
                        || each[i].0 != *r
                        || !same(&each[i].1, &only_uuid(rec))
                    {
                        return Err(format!("read_records record {i} ({r}) differs: {}", brief(&whole_record)));
                    }
                }
                let all: Vec<(String, Value)> = raw.into_records().collect();
                if !same(&Value::Struct(all.clone()), &Value::Struct(want.clone())) {
                    return Err(format!("read_records gives {} for {}", brief(&all), brief(want)));
                }
                "records"
            }
            (Ok(RawAnswer::Records(raw)), other) => {
                return Err(format!(
                    "read_records kept {} records where the value decoder gives {}",
                    raw.len(),
                    brief(other)
                ));
            }
            (Ok(RawAnswer::Other(a)), Ok(b)) if same_response(&a, b) => "other",
            (Err(_), Err(_)) => "error",
            (a, b) => return Err(format!("read_records gives {} but the value decoder {}", brief(&a), brief(b))),
        };
        Ok(feature("stream", &whole, |r| match r {
            Response::Success(v) => shape(v),
            Response::Failure(d) => format!("failure {}", d.len()),
        }) ^ fnv(kind.as_bytes()))
    }
}
