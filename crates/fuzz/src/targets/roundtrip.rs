//! `roundtrip`: the input chooses a value tree (and an error list, a method
//! name and a request id); each codec's encoder must write what its
//! decoders read back as the same thing, with the normalisations the
//! codecs document: XML-RPC sends ints as untyped strings and normalises
//! datetimes, JSON-RPC sends datetimes and non-finite floats as strings.
//! A value nested deeper than a decoder's documented limit must be refused.

use super::{tokens, Outcome, Target};
use crate::rng::{fnv, Rng};
use crate::values::{self, brief, container_depth, json_view, same, same_response, value_depth, xml_view, Choices};
use xenapi::wire::jsonrpc::{self, Version};
use xenapi::wire::{xmlrpc, Response};
use xenapi::Value;

pub struct RoundTrip;

/// serde_json's recursion limit, which the JSON-RPC decoders share: at most 127 open containers.
const JSON_CONTAINERS: usize = 127;

/// The checks on one generated case, in order; the first that fails is the finding.
fn check(input: &[u8]) -> Result<u64, String> {
    let mut c = Choices::new(input);
    let v = values::value(&mut c, 5);
    let v = values::deepen(&mut c, v);
    let params: Vec<Value> = (0..c.below(3)).map(|_| values::value(&mut c, 3)).collect();
    let method = values::string(&mut c);
    let desc: Vec<String> = (0..c.below(4)).map(|_| values::string(&mut c)).collect();
    let id = c.u64() >> 1;
    let all_params: Vec<Value> = std::iter::once(v.clone()).chain(params).collect();

    // XML-RPC: a response's value sits in the Status struct, one level down;
    // a call's parameters are at the top.
    let resp = xmlrpc::decode_response(xmlrpc::encode_response(&Response::Success(v.clone())).as_bytes());
    let fits = value_depth(&v) < xmlrpc::MAX_DEPTH;
    match (&resp, fits) {
        (Ok(r), true) if same_response(r, &Response::Success(xml_view(&v))) => {}
        (Err(_), false) => {}
        _ => {
            return Err(format!(
                "XML-RPC response of {} (depth {}) decodes as {}",
                brief(&v),
                value_depth(&v),
                brief(&resp)
            ))
        }
    }
    let failure = Response::Failure(desc.clone());
    let back = xmlrpc::decode_response(xmlrpc::encode_response(&failure).as_bytes());
    if back.as_ref() != Ok(&failure) {
        return Err(format!("XML-RPC failure {} decodes as {}", brief(&desc), brief(&back)));
    }
    let call = xmlrpc::decode_call(xmlrpc::encode_call(&method, &all_params).as_bytes());
    let name = method.trim();
    let fits = !name.is_empty() && all_params.iter().all(|p| value_depth(p) <= xmlrpc::MAX_DEPTH);
    let want: Vec<Value> = all_params.iter().map(xml_view).collect();
    match (&call, fits) {
        (Ok((m, p)), true) if m == name && p.len() == want.len() && p.iter().zip(&want).all(|(a, b)| same(a, b)) => {}
        (Err(_), false) => {}
        _ => return Err(format!("XML-RPC call {method:?} {} decodes as {}", brief(&all_params), brief(&call))),
    }

    // JSON-RPC: the envelope is one container, a call's params list another
    // (hence `depth + 1 <= 127` and `depth + 2 <= 127`).
    let fits = container_depth(&v) < JSON_CONTAINERS;
    for version in [Version::V1, Version::V2] {
        let json_id = serde_json::json!(id);
        let text = jsonrpc::encode_response(&Response::Success(v.clone()), &json_id, version);
        if fits && serde_json::from_str::<serde_json::Value>(&text).is_err() {
            return Err(format!("JSON-RPC response of {} is not JSON: {}", brief(&v), brief(&text)));
        }
        let want = Response::Success(json_view(&v));
        // (The streaming reader must agree with this decoder: `jsonrpc-stream` checks that.)
        let decoded = jsonrpc::decode_response(text.as_bytes());
        match (&decoded, fits) {
            (Ok(r), true) if same_response(r, &want) => {}
            (Err(_), false) => {}
            _ => return Err(format!("JSON-RPC {version:?} response of {} decodes as {}", brief(&v), brief(&decoded))),
        }
        let back = jsonrpc::decode_response(jsonrpc::encode_response(&failure, &json_id, version).as_bytes());
        // A 2.0 error object always has a message, empty when there was none.
        let want = if version == Version::V2 && desc.is_empty() {
            Response::Failure(vec![String::new()])
        } else {
            failure.clone()
        };
        if back.as_ref() != Ok(&want) {
            return Err(format!("JSON-RPC {version:?} failure {} decodes as {}", brief(&desc), brief(&back)));
        }
        let call = jsonrpc::decode_call(jsonrpc::encode_call(&method, &all_params, id, version).as_bytes());
        let fits = !method.is_empty() && all_params.iter().all(|p| container_depth(p) + 1 < JSON_CONTAINERS);
        let want: Vec<Value> = all_params.iter().map(json_view).collect();
        match (&call, fits) {
            (Ok(c), true)
                if c.method == method
                    && c.version == version
                    && c.id == json_id
                    && c.params.len() == want.len()
                    && c.params.iter().zip(&want).all(|(a, b)| same(a, b)) => {}
            (Err(_), false) => {}
            _ => {
                return Err(format!(
                    "JSON-RPC {version:?} call {method:?} {} decodes as {}",
                    brief(&all_params),
                    brief(&call)
                ))
            }
        }
    }
    Ok(fnv(super::shape(&v).as_bytes()) ^ (value_depth(&v).min(300) as u64) << 32)
}

impl Target for RoundTrip {
    fn name(&self) -> &'static str {
        "roundtrip"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        let mut rng = Rng::new(31);
        (0..64)
            .map(|_| {
                let mut bytes = vec![0u8; rng.between(1, 300)];
                rng.fill(&mut bytes);
                bytes
            })
            .collect()
    }

    fn dictionary(&self) -> Vec<Vec<u8>> {
        tokens(values::STRINGS)
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        check(input)
    }
}
