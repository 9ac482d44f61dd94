//! Regenerates `src/model/generated.rs` from the upstream datamodel and fails
//! when the checked-in file is stale. Runs only where `../shared/reference`
//! exists beside the workspace; `XE_BLESS=1` rewrites the file.

// Tests and benchmarks own the terminal and read their switches (XE_BLESS...).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

fn reference_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference").join(name)
}

/// Parameter defaults from `xenapi-param-defaults.tsv`, keyed by class and
/// message: `(wire position, parameter name, type, JSON default)` rows.
type Defaults = HashMap<(String, String), Vec<(usize, String, String, String)>>;

fn read_defaults(tsv: &str) -> Defaults {
    let mut out: Defaults = HashMap::new();
    // Split on tabs only: string defaults keep their JSON quotes.
    for line in tsv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 6, "bad defaults row: {line}");
        let pos = cols[3].parse().expect("position is a number");
        out.entry((cols[0].to_string(), cols[1].to_string())).or_default().push((
            pos,
            cols[2].to_string(),
            cols[4].to_string(),
            cols[5].to_string(),
        ));
    }
    out
}

/// The roles allowed to call a message, as bits of `model::ROLES` (xapi's
/// static RBAC table is generated from the same lists).
fn role_bits(m: &Value) -> u8 {
    let names =
        ["pool-admin", "pool-operator", "vm-power-admin", "vm-admin", "vm-operator", "client-cert", "read-only"];
    let mut bits = 0u8;
    for r in m["roles"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let r = r.as_str().unwrap();
        let i = names.iter().position(|n| *n == r).unwrap_or_else(|| panic!("unknown role {r}"));
        bits |= 1 << i;
    }
    bits
}

/// Renders one default as a `ParamDefault` constructor for a parameter of type `ty`.
fn render_default(ty: &str, json: &str) -> String {
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("default {json}: {e}"));
    let set = ty.ends_with(" set");
    let map = ty.ends_with(" map");
    match (&v, ty) {
        (Value::Array(a), _) if set && a.is_empty() => "ParamDefault::EmptySet".into(),
        (Value::Object(m), _) if map && m.is_empty() => "ParamDefault::EmptyMap".into(),
        (Value::Bool(b), "bool") => format!("ParamDefault::Bool({b})"),
        (Value::Number(n), "int") => format!("ParamDefault::Int({})", n.as_i64().expect("int default")),
        (Value::Number(n), "float") => format!("ParamDefault::Float({:?})", n.as_f64().expect("float default")),
        (Value::String(s), "datetime") => format!("ParamDefault::DateTime({s:?})"),
        (Value::String(s), _) if ty == "string" || ty.starts_with("enum ") || ty.ends_with(" ref") => {
            format!("ParamDefault::String({s:?})")
        }
        _ => panic!("cannot represent the default {json} of a {ty} parameter"),
    }
}

/// The `defaults` slice of one message; checks that the TSV agrees with the
/// datamodel and that defaulted parameters form a trailing run.
fn message_defaults(class: &str, m: &Value, defaults: &Defaults) -> String {
    let Some(rows) = defaults.get(&(class.to_string(), m["name"].as_str().unwrap().to_string())) else {
        return "&[]".into();
    };
    let params = m["params"].as_array().unwrap();
    let mut rows = rows.clone();
    rows.sort_by_key(|r| r.0);
    let first = params.len() - rows.len();
    let mut out = Vec::new();
    for (i, (pos, name, ty, json)) in rows.iter().enumerate() {
        let p = &params[*pos];
        assert_eq!(*pos, first + i, "{class}.{}: defaults must be a trailing run", m["name"]);
        assert_eq!(p["name"].as_str(), Some(name.as_str()), "{class}.{} position {pos}", m["name"]);
        assert_eq!(p["type"].as_str(), Some(ty.as_str()), "{class}.{} {name}", m["name"]);
        out.push(render_default(ty, json));
    }
    format!("&[{}]", out.join(", "))
}

fn lifecycle(v: &Value) -> &'static str {
    match v["lifecycle"]["state"].as_str().unwrap_or("") {
        "Removed_s" => "Removed",
        "Deprecated_s" => "Deprecated",
        "Prototyped_s" => "Prototyped",
        _ => "Published",
    }
}

fn render(model: &Value, defaults: &Defaults) -> String {
    let mut out = String::new();
    out.push_str("// @generated from xenapi-datamodel.json, xenapi-param-defaults.tsv and model/hidden-messages.json\n// by crates/xenapi/tests/schema_generated.rs.\n");
    out.push_str("// Facts only (names, types, qualifiers, defaults, signatures). Do not edit by hand:\n");
    out.push_str("// run `XE_BLESS=1 cargo test -p xenapi --test schema_generated`.\n\n");
    out.push_str("use super::{ClassDef, EnumDef, FieldDef, Lifecycle, MessageDef, ParamDefault, Qualifier};\n\n");
    out.push_str("pub(super) static CLASSES: &[ClassDef] = &[\n");
    let mut enums: Vec<(String, Vec<String>)> = Vec::new();
    for class in model.as_array().expect("datamodel is a list of classes") {
        let name = class["name"].as_str().unwrap();
        writeln!(out, "    ClassDef {{\n        name: {name:?},\n        fields: &[").unwrap();
        for f in class["fields"].as_array().unwrap() {
            let q = match f["qualifier"].as_str().unwrap() {
                "RW" => "Rw",
                "RO/constructor" => "RoConstructor",
                _ => "RoRuntime",
            };
            let default = match f.get("default").and_then(Value::as_str) {
                Some(d) => format!("Some({d:?})"),
                None => "None".to_string(),
            };
            writeln!(
                out,
                "            FieldDef {{ name: {:?}, ty: {:?}, qualifier: Qualifier::{q}, default: {default}, lifecycle: Lifecycle::{} }},",
                f["name"].as_str().unwrap(),
                f["type"].as_str().unwrap(),
                lifecycle(f)
            )
            .unwrap();
        }
        out.push_str("        ],\n        messages: &[\n");
        for m in class["messages"].as_array().unwrap() {
            let params: Vec<String> = m["params"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| format!("({:?}, {:?})", p["type"].as_str().unwrap(), p["name"].as_str().unwrap()))
                .collect();
            writeln!(
                out,
                "            MessageDef {{ name: {:?}, params: &[{}], defaults: {}, result: {:?}, implicit: {}, lifecycle: Lifecycle::{}, roles: {:#04x} }},",
                m["name"].as_str().unwrap(),
                params.join(", "),
                message_defaults(name, m, defaults),
                m["result"][0].as_str().unwrap(),
                m["implicit"].as_bool().unwrap_or(false),
                lifecycle(m),
                role_bits(m)
            )
            .unwrap();
        }
        out.push_str("        ],\n    },\n");
        for e in class["enums"].as_array().unwrap() {
            let ename = e["name"].as_str().unwrap().to_string();
            if enums.iter().any(|(n, _)| *n == ename) {
                continue;
            }
            let values = e["values"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_string());
            enums.push((ename, values.collect()));
        }
    }
    out.push_str("];\n\npub(super) static ENUMS: &[EnumDef] = &[\n");
    for (name, values) in &enums {
        let vals: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        writeln!(out, "    EnumDef {{ name: {name:?}, values: &[{}] }},", vals.join(", ")).unwrap();
    }
    out.push_str("];\n");
    out
}

/// Adds the messages of `model/hidden-messages.json`: calls xapi serves and
/// xe makes but xapi leaves out of its documentation, hence out of the export.
fn add_hidden_messages(model: &mut Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("model/hidden-messages.json");
    let text = std::fs::read_to_string(&path).expect("model/hidden-messages.json");
    let extra: Value = serde_json::from_str(&text).expect("hidden messages parse");
    for e in extra.as_array().expect("a list") {
        let name = e["class"].as_str().expect("class");
        let class = model
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no class {name}"));
        let messages = class["messages"].as_array_mut().unwrap();
        assert!(
            !messages.iter().any(|m| m["name"] == e["message"]["name"]),
            "{name}.{} is in the datamodel already",
            e["message"]["name"]
        );
        messages.push(e["message"].clone());
    }
}

#[test]
fn generated_schema_is_fresh() {
    let path = reference_path("xenapi-datamodel.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipping: {} not found", path.display());
        return;
    };
    let mut model: Value = serde_json::from_str(&text).expect("datamodel parses");
    add_hidden_messages(&mut model);
    let tsv = std::fs::read_to_string(reference_path("xenapi-param-defaults.tsv"))
        .expect("defaults table beside the datamodel");
    let defaults = read_defaults(&tsv);
    for (class, message) in defaults.keys() {
        let known = model.as_array().unwrap().iter().any(|c| {
            c["name"] == class.as_str()
                && c["messages"].as_array().unwrap().iter().any(|m| m["name"] == message.as_str())
        });
        assert!(known, "defaults table names {class}.{message}, which the datamodel lacks");
    }
    let want = render(&model, &defaults);
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/model/generated.rs");
    let have = std::fs::read_to_string(&target).unwrap_or_default();
    if have != want {
        if std::env::var_os("XE_BLESS").is_some() {
            std::fs::write(&target, want).unwrap();
            return;
        }
        panic!(
            "{} is stale; regenerate it with `XE_BLESS=1 cargo test -p xenapi --test schema_generated`",
            target.display()
        );
    }
}

#[test]
fn every_type_string_parses() {
    let schema = xenapi::model::Schema::get();
    for class in &schema.classes {
        for f in class.def.fields {
            assert!(xenapi::model::parse_type(f.ty).is_some(), "{}.{}: {}", class.name(), f.name, f.ty);
        }
        for m in class.def.messages {
            for (ty, name) in m.params {
                assert!(xenapi::model::parse_type(ty).is_some(), "{}.{} {name}: {ty}", class.name(), m.name);
            }
            assert!(xenapi::model::parse_type(m.result).is_some(), "{}.{} -> {}", class.name(), m.name, m.result);
        }
    }
}
