//! The wire codecs against recorded shapes: the self-made fixtures under
//! `tests/fixtures/` (always), and xapi's SDK wire samples when they are
//! available (`$XAPI_WIRE_SAMPLES`, or `../shared/reference/xapi-wire-samples`
//! next to the workspace; skipped otherwise since they are not in the repo).

// Tests and benchmarks own the terminal and read their switches (XE_BLESS...).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use serde_json::json;
use std::path::{Path, PathBuf};
use xenapi::wire::{jsonrpc, xmlrpc, Response};
use xenapi::Value;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn s(x: &str) -> Value {
    Value::str(x)
}

fn fields(v: &Value) -> Vec<(&str, &Value)> {
    v.as_struct().unwrap().iter().map(|(k, v)| (k.as_str(), v)).collect()
}

/// What a value looks like after an XML-RPC round trip: ints become strings.
fn xml_view(v: &Value) -> Value {
    match v {
        Value::Int(i) => Value::String(i.to_string()),
        Value::Array(a) => Value::Array(a.iter().map(xml_view).collect()),
        Value::Struct(m) => Value::Struct(m.iter().map(|(k, v)| (k.clone(), xml_view(v))).collect()),
        other => other.clone(),
    }
}

/// What a value looks like after a JSON-RPC round trip: datetimes and
/// non-finite floats become strings.
fn json_view(v: &Value) -> Value {
    match v {
        Value::DateTime(d) => Value::String(d.clone()),
        Value::Float(f) if f.is_nan() => s("NaN"),
        Value::Float(f) if f.is_infinite() => s(if *f > 0.0 { "+Infinity" } else { "-Infinity" }),
        Value::Array(a) => Value::Array(a.iter().map(json_view).collect()),
        Value::Struct(m) => Value::Struct(m.iter().map(|(k, v)| (k.clone(), json_view(v))).collect()),
        other => other.clone(),
    }
}

#[test]
fn fixture_jsonrpc_special_values() {
    let Ok(Response::Success(v)) = jsonrpc::decode_response(&fixture("jsonrpc_v1_special_values.json")) else {
        panic!("not a success")
    };
    let vm = |r: &str| v.get(r).unwrap().clone();
    assert_eq!(vm("OpaqueRef:vm-a").get("HVM_shadow_multiplier"), Some(&Value::Float(f64::INFINITY)));
    assert_eq!(vm("OpaqueRef:vm-a").get("name_label"), Some(&s("Infinity and NaN stay text here")));
    assert_eq!(vm("OpaqueRef:vm-b").get("HVM_shadow_multiplier"), Some(&s("+Infinity")));
    assert_eq!(vm("OpaqueRef:vm-c").get("HVM_shadow_multiplier"), Some(&Value::Float(f64::NEG_INFINITY)));
    assert_eq!(vm("OpaqueRef:vm-d").get("HVM_shadow_multiplier"), Some(&s("-Infinity")));
    assert!(matches!(vm("OpaqueRef:vm-d").get("value"), Some(Value::Float(f)) if f.is_nan()));

    // Every datetime spelling in the samples coerces to the wire form.
    let dt = xenapi::model::parse_type("datetime").unwrap();
    let float = xenapi::model::parse_type("float").unwrap();
    for (r, want) in [
        ("OpaqueRef:vm-a", "20210728T13:20:00Z"),
        ("OpaqueRef:vm-b", "20240420T12:00:00Z"),
        ("OpaqueRef:vm-c", "20240420T12:00:00Z"),
        ("OpaqueRef:vm-d", "20240420T12:00:00Z"),
    ] {
        let t = vm(r).get("snapshot_time").unwrap().clone().coerce(&dt).unwrap();
        assert_eq!(t, Value::DateTime(want.into()), "{r}");
        let m = vm(r).get("HVM_shadow_multiplier").unwrap().clone().coerce(&float).unwrap();
        assert!(m.as_float().unwrap().is_infinite(), "{r}");
    }
}

#[test]
fn fixture_jsonrpc_errors() {
    assert_eq!(
        jsonrpc::decode_response(&fixture("jsonrpc_v1_error.json")),
        Ok(Response::Failure(vec![
            "MAP_DUPLICATE_KEY".into(),
            "Customer".into(),
            "eSpiel Inc.".into(),
            "eSpiel Incorporated".into()
        ]))
    );
    assert_eq!(
        jsonrpc::decode_response(&fixture("jsonrpc_v2_error_data_string.json")),
        Ok(Response::Failure(vec!["HANDLE_INVALID".into(), "OpaqueRef:6ef08bce-0bf0-30ff-804f-5f0ee4bbdd13".into()]))
    );
    assert_eq!(
        jsonrpc::decode_response(&fixture("jsonrpc_v2_error_malformed.json")),
        Ok(Response::Failure(vec!["123456".into(), "2.0".into()]))
    );
}

#[test]
fn fixture_jsonrpc_record_through_both_codecs() {
    let Ok(Response::Success(v)) = jsonrpc::decode_response(&fixture("jsonrpc_v2_record.json")) else {
        panic!("not a success")
    };
    let f = fields(&v);
    assert_eq!(f[0], ("name_label", &s("host0")));
    assert_eq!(f[2], ("API_version_minor", &Value::Int(21)));
    assert_eq!(f[4], ("memory_overhead", &Value::Int(i64::MAX)));
    assert_eq!(f[5], ("HVM_shadow_multiplier", &Value::Float(1.0)));
    assert_eq!(f[6], ("enabled", &Value::Bool(true)));
    assert_eq!(f[7], ("VGPUs", &Value::Array(vec![])));
    assert_eq!(f[8], ("other_config", &Value::Struct(vec![])));

    for version in [jsonrpc::Version::V1, jsonrpc::Version::V2] {
        let body = jsonrpc::encode_response(&Response::Success(v.clone()), &json!(6), version);
        assert_eq!(jsonrpc::decode_response(body.as_bytes()), Ok(Response::Success(v.clone())));
    }
    let body = xmlrpc::encode_response(&Response::Success(v.clone()));
    assert!(body.contains("<member><name>memory_overhead</name><value>9223372036854775807</value></member>"));
    assert_eq!(xmlrpc::decode_response(body.as_bytes()), Ok(Response::Success(xml_view(&v))));
}

#[test]
fn fixture_jsonrpc_call() {
    let call = jsonrpc::decode_call(&fixture("jsonrpc_v2_call_migrate_send.json")).unwrap();
    assert_eq!(call.method, "VM.migrate_send");
    assert_eq!(call.id, json!("call-7"));
    assert_eq!(call.version, jsonrpc::Version::V2);
    assert_eq!(call.params.len(), 7);
    assert_eq!(call.params[2], Value::Struct(vec![("name_label".into(), s("host1"))]));
    assert_eq!(call.params[3], Value::Bool(true));
    assert_eq!(call.params[6], Value::Float(600.0));
    let reply = jsonrpc::encode_response(&Response::Success(s("OpaqueRef:task")), &call.id, call.version);
    assert_eq!(reply, r#"{"jsonrpc":"2.0","result":"OpaqueRef:task","id":"call-7"}"#);

    // The same call over XML-RPC.
    let xml = xmlrpc::encode_call(&call.method, &call.params);
    assert_eq!(
        xmlrpc::decode_call(xml.as_bytes()),
        Ok((call.method.clone(), xml_view(&Value::Array(call.params)).as_array().unwrap().to_vec()))
    );
}

#[test]
fn fixture_xmlrpc_call() {
    let (method, params) = xmlrpc::decode_call(&fixture("xmlrpc_call_login.xml")).unwrap();
    assert_eq!(method, "session.login_with_password");
    assert_eq!(params, vec![s("user"), s("p&ss <word>"), s("1.0"), s("")]);
}

#[test]
fn fixture_xmlrpc_responses() {
    let Ok(Response::Success(v)) = xmlrpc::decode_response(&fixture("xmlrpc_response_success.xml")) else {
        panic!("not a success")
    };
    assert_eq!(
        fields(&v),
        vec![
            ("uuid", &s("81547a35-205c-a551-c577-00b982c5fe00")),
            ("memory_static_max", &s("4294967296")),
            ("VCPUs_max", &Value::Int(2)),
            ("HVM_shadow_multiplier", &Value::Float(1.0)),
            ("is_a_template", &Value::Bool(false)),
            ("snapshot_time", &Value::DateTime("20240420T12:00:00Z".into())),
            ("tags", &Value::Array(vec![])),
            ("other_config", &Value::Struct(vec![])),
            ("name_description", &s("")),
        ]
    );
    let int = xenapi::model::parse_type("int").unwrap();
    assert_eq!(v.get("memory_static_max").unwrap().clone().coerce(&int), Ok(Value::Int(4294967296)));

    assert_eq!(
        xmlrpc::decode_response(&fixture("xmlrpc_response_failure.xml")),
        Ok(Response::Failure(vec![
            "MAP_DUPLICATE_KEY".into(),
            "Customer".into(),
            "eSpiel Inc.".into(),
            "eSpiel Incorporated".into()
        ]))
    );
    assert_eq!(
        xmlrpc::decode_response(&fixture("xmlrpc_fault.xml")),
        Ok(Response::Failure(vec!["method not found".into(), "-32601".into()]))
    );
}

fn samples_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("XAPI_WIRE_SAMPLES") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/xapi-wire-samples"),
    };
    dir.is_dir().then_some(dir)
}

/// Every xapi SDK wire sample: the file parses (bare `Infinity` included);
/// each call's params survive both codecs; each expected result decodes as
/// the right outcome through JSON-RPC 1.0 and 2.0, and through XML-RPC.
#[test]
fn xapi_wire_samples() {
    let Some(dir) = samples_dir() else {
        eprintln!("xapi wire samples not found; skipping (set XAPI_WIRE_SAMPLES to run)");
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no samples in {}", dir.display());
    let mut checked = 0;
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let doc = jsonrpc::decode_value(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (test, body) in doc.as_struct().unwrap() {
            let ctx = format!("{name}/{test}");
            let params = body.get("params").and_then(Value::as_struct).unwrap_or(&[]);
            for (method, args) in params {
                let args = args.as_array().unwrap();
                for (i, version) in [jsonrpc::Version::V1, jsonrpc::Version::V2].into_iter().enumerate() {
                    let call = jsonrpc::decode_call(jsonrpc::encode_call(method, args, i as u64, version).as_bytes())
                        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    assert_eq!(
                        (&call.method, &call.params, &call.id),
                        (method, &json_view(&Value::Array(args.to_vec())).as_array().unwrap().to_vec(), &json!(i)),
                        "{ctx}"
                    );
                }
                let (m, p) = xmlrpc::decode_call(xmlrpc::encode_call(method, args).as_bytes())
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert_eq!((&m, Value::Array(p)), (method, xml_view(&Value::Array(args.to_vec()))), "{ctx}");
            }
            let expected = body.get("expected_result").and_then(Value::as_struct).unwrap_or(&[]);
            for (method, outcome) in expected {
                let ctx = format!("{ctx}/{method}");
                let mut envelope = outcome.as_struct().unwrap().to_vec();
                envelope.push(("id".into(), Value::Int(1)));
                let mut text = String::new();
                jsonrpc::encode_value(&mut text, &Value::Struct(envelope));
                let got = jsonrpc::decode_response(text.as_bytes()).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                match outcome.get("error") {
                    None | Some(Value::Nil) => {
                        let result = outcome.get("result").unwrap();
                        assert_eq!(got, Response::Success(json_view(result)), "{ctx}");
                        let xml = xmlrpc::encode_response(&Response::Success(result.clone()));
                        assert_eq!(
                            xmlrpc::decode_response(xml.as_bytes()),
                            Ok(Response::Success(xml_view(result))),
                            "{ctx}"
                        );
                    }
                    Some(_) => {
                        let Response::Failure(desc) = &got else { panic!("{ctx}: not a failure: {got:?}") };
                        assert!(!desc.is_empty(), "{ctx}");
                        let xml = xmlrpc::encode_response(&got);
                        assert_eq!(xmlrpc::decode_response(xml.as_bytes()).as_ref(), Ok(&got), "{ctx}");
                        for version in [jsonrpc::Version::V1, jsonrpc::Version::V2] {
                            let body = jsonrpc::encode_response(&got, &json!("x"), version);
                            assert_eq!(jsonrpc::decode_response(body.as_bytes()).as_ref(), Ok(&got), "{ctx}");
                        }
                    }
                }
                checked += 1;
            }
        }
        match name.as_str() {
            "vm_special_value.json" => {
                let r = doc.get("xapi-24/vm_special_value_13").unwrap().get("expected_result").unwrap();
                let vms = r.get("VM.get_all_records").unwrap().get("result").unwrap();
                let vm = vms.get("OpaqueRef:vmref009-7e0e-411f-1b6c-4308fd33b164").unwrap();
                assert_eq!(vm.get("HVM_shadow_multiplier"), Some(&Value::Float(f64::INFINITY)));
            }
            "xapi_error.json" | "rpc_error.json" => {
                let (test, body) = &doc.as_struct().unwrap()[0];
                let outcome = body.get("expected_result").unwrap().get("VM.get_record").unwrap();
                let mut text = String::new();
                jsonrpc::encode_value(&mut text, outcome);
                let want = if name == "xapi_error.json" {
                    vec!["HANDLE_INVALID".to_string(), "OpaqueRef:6ef08bce-0bf0-30ff-804f-5f0ee4bbdd13".to_string()]
                } else {
                    vec!["123456".to_string(), "2.0".to_string()]
                };
                assert_eq!(jsonrpc::decode_response(text.as_bytes()), Ok(Response::Failure(want)), "{test}");
            }
            _ => {}
        }
    }
    assert!(checked > 10, "only {checked} outcomes checked");
}
