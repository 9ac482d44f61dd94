//! Regenerates `src/model/generated.rs` from the upstream datamodel and fails
//! when the checked-in file is stale. Runs only where `../shared/reference`
//! exists beside the workspace; `XE_BLESS=1` rewrites the file.

use serde_json::Value;
use std::fmt::Write as _;
use std::path::PathBuf;

fn datamodel_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/xenapi-datamodel.json")
}

fn lifecycle(v: &Value) -> &'static str {
    match v["lifecycle"]["state"].as_str().unwrap_or("") {
        "Removed_s" => "Removed",
        "Deprecated_s" => "Deprecated",
        "Prototyped_s" => "Prototyped",
        _ => "Published",
    }
}

fn render(model: &Value) -> String {
    let mut out = String::new();
    out.push_str("// @generated from xenapi-datamodel.json by crates/xenapi/tests/schema_generated.rs.\n");
    out.push_str("// Facts only (names, types, qualifiers, defaults, signatures). Do not edit by hand:\n");
    out.push_str("// run `XE_BLESS=1 cargo test -p xenapi --test schema_generated`.\n\n");
    out.push_str("use super::{ClassDef, EnumDef, FieldDef, Lifecycle, MessageDef, Qualifier};\n\n");
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
                "            MessageDef {{ name: {:?}, params: &[{}], result: {:?}, implicit: {}, lifecycle: Lifecycle::{} }},",
                m["name"].as_str().unwrap(),
                params.join(", "),
                m["result"][0].as_str().unwrap(),
                m["implicit"].as_bool().unwrap_or(false),
                lifecycle(m)
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

#[test]
fn generated_schema_is_fresh() {
    let path = datamodel_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipping: {} not found", path.display());
        return;
    };
    let model: Value = serde_json::from_str(&text).expect("datamodel parses");
    let want = render(&model);
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
