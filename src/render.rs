//! Turns API records into xe's field texts: refs as uuids or names, sets
//! joined with `; ` (or `, `), maps as `k: v; k2: v2`, floats `%.3f`,
//! xe's enum spellings, and the `<not in database>` family of placeholders.
//! Rules per field come from the `render` column of the reference tables.

use serde_json::Value as Json;
use xenapi::Value;

/// A rendered field: the text xe prints and what filters and `--json` need.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub text: String,
    /// Members of a set, as rendered (for `field:contains=`).
    pub items: Option<Vec<String>>,
    /// Entries of a map, as rendered (for `field:key=`).
    pub map: Option<Vec<(String, String)>>,
    pub json: Json,
}

impl Rendered {
    pub fn text(t: impl Into<String>) -> Rendered {
        let t = t.into();
        Rendered { json: Json::String(t.clone()), text: t, items: None, map: None }
    }

    fn typed(text: String, json: Json) -> Rendered {
        Rendered { text, items: None, map: None, json }
    }
}

/// Looks up other objects while rendering.
pub trait RefLookup {
    /// The uuid of `r` (an object of `class`), if it exists.
    fn uuid(&mut self, class: &str, r: &str) -> Option<String>;
    /// The name-label of `r`, if it exists.
    fn name_label(&mut self, class: &str, r: &str) -> Option<String>;
}

/// The separator a list render uses.
fn list_separator(render: &str) -> &'static str {
    if render.contains("(\", \")") {
        ", "
    } else {
        "; "
    }
}

/// xe's spelling of an enum value for a given converter.
pub fn enum_text(converter: &str, v: &str) -> String {
    match converter {
        "vm_power_state_to_lowercase_string" => v.to_ascii_lowercase(),
        "on_normal_exit_to_string" | "on_crash_behaviour_to_string" | "on_softreboot_behaviour_to_string" => {
            let words = v.replace('_', " ");
            let mut c = words.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        }
        "vdi_type_to_string" => match v {
            "ha_statefile" => "HA statefile".into(),
            "redo_log" => "Redo log".into(),
            "rrd" => "rrd".into(),
            "pvs_cache" => "PVS cache".into(),
            "cbt_metadata" => "CBT metadata".into(),
            other => {
                let mut c = other.chars();
                match c.next() {
                    Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                    None => String::new(),
                }
            }
        },
        "protocol_to_string" => v.to_ascii_uppercase(),
        "tristate_to_string" => match v {
            "yes" => "true".into(),
            "no" => "false".into(),
            other => other.into(),
        },
        "host_operation_to_string" => match v.strip_prefix("vm_") {
            Some(op) => format!("VM.{op}"),
            None => v.into(),
        },
        "sr_operation_to_string" => match v.strip_prefix("vdi_") {
            Some(op) => format!("VDI.{op}"),
            None => v.into(),
        },
        _ => v.into(),
    }
}

/// Converts xe's spelling back to the wire name, given the wire enum's values.
pub fn enum_from_text(converter: &str, values: &[&str], text: &str) -> Option<String> {
    values
        .iter()
        .find(|w| enum_text(converter, w).eq_ignore_ascii_case(text) || w.eq_ignore_ascii_case(text))
        .map(|w| w.to_string())
}

fn enum_converter(render: &str) -> Option<&str> {
    let i = render.find("enum:")?;
    let rest = &render[i + 5..];
    Some(rest.split(|c: char| c.is_whitespace()).next().unwrap_or(rest))
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => format!("{f:.3}"),
        Value::Nil => String::new(),
        other => other.to_string(),
    }
}

fn scalar_json(v: &Value) -> Json {
    match v {
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
        Value::Nil => Json::Null,
        other => Json::String(other.to_string()),
    }
}

/// Renders a value already fetched for a field.
///
/// `target` is the class a ref (or the members of a ref set or the values of
/// a ref map) point to, taken from the datamodel type of the source field.
pub fn render(value: Option<&Value>, render: &str, target: Option<&str>, lookup: &mut dyn RefLookup) -> Rendered {
    let Some(value) = value else {
        return Rendered::text("<not in database>");
    };
    let conv = enum_converter(render);
    let conv_item = |s: &str| match conv {
        Some(c) => enum_text(c, s),
        None => s.to_string(),
    };
    if render.starts_with("uuid of ref") || render.starts_with("name-label of ref") {
        let r = value.as_str().unwrap_or("");
        let by_name = render.starts_with("name-label");
        let found = target.and_then(|c| if by_name { lookup.name_label(c, r) } else { lookup.uuid(c, r) });
        return match found {
            Some(t) => Rendered::text(t),
            None => Rendered::typed("<not in database>".into(), Json::Null),
        };
    }
    match value {
        Value::Array(items) => {
            let texts: Vec<String> = items
                .iter()
                .map(|i| {
                    let s = scalar_text(i);
                    if render.starts_with("uuid list") {
                        target.and_then(|c| lookup.uuid(c, &s)).unwrap_or(s)
                    } else {
                        conv_item(&s)
                    }
                })
                .collect();
            let json = Json::Array(texts.iter().map(|t| Json::String(t.clone())).collect());
            Rendered { text: texts.join(list_separator(render)), items: Some(texts), map: None, json }
        }
        Value::Struct(members) => {
            let pairs: Vec<(String, String)> = members
                .iter()
                .map(|(k, v)| {
                    let s = scalar_text(v);
                    let s = if render.starts_with("map k: uuid") {
                        target.and_then(|c| lookup.uuid(c, &s)).unwrap_or(s)
                    } else {
                        s
                    };
                    (conv_item(k), s)
                })
                .collect();
            let text = pairs.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; ");
            let json = Json::Object(pairs.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect());
            Rendered { text, items: None, map: Some(pairs), json }
        }
        scalar => {
            let raw = scalar_text(scalar);
            let text = if render.starts_with("float") {
                match scalar.as_float() {
                    Some(f) => format!("{f:.3}"),
                    None => raw,
                }
            } else if let Some(c) = conv {
                enum_text(c, &raw)
            } else {
                raw
            };
            if render.contains("<not set> if empty") && text.is_empty() {
                return Rendered::text("<not set>");
            }
            let json = if conv.is_some() { Json::String(text.clone()) } else { scalar_json(scalar) };
            Rendered::typed(text, json)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;
    impl RefLookup for Fake {
        fn uuid(&mut self, _: &str, r: &str) -> Option<String> {
            r.strip_prefix("OpaqueRef:").map(|s| format!("uuid-{s}"))
        }
        fn name_label(&mut self, _: &str, r: &str) -> Option<String> {
            r.strip_prefix("OpaqueRef:").map(|s| format!("name-{s}"))
        }
    }

    #[test]
    fn renders_each_kind() {
        let f = &mut Fake;
        let set = Value::Array(vec![Value::str("OpaqueRef:a"), Value::str("OpaqueRef:b")]);
        assert_eq!(render(Some(&set), "uuid list (\"; \")", Some("VBD"), f).text, "uuid-a; uuid-b");
        let tags = Value::Array(vec![Value::str("prod"), Value::str("eu")]);
        assert_eq!(render(Some(&tags), "list (\", \")", None, f).text, "prod, eu");
        let map = Value::Struct(vec![("owner".into(), Value::str("ops")), ("env".into(), Value::str("test"))]);
        assert_eq!(render(Some(&map), "map k: v (\"; \")", None, f).text, "owner: ops; env: test");
        assert_eq!(render(Some(&Value::Float(0.42)), "float %.3f", None, f).text, "0.420");
        assert_eq!(
            render(Some(&Value::str("Running")), "enum:vm_power_state_to_lowercase_string", None, f).text,
            "running"
        );
        assert_eq!(render(Some(&Value::str("OpaqueRef:NULL")), "uuid of ref", Some("host"), f).text, "uuid-NULL");
        assert_eq!(render(None, "int + <not in database> if metrics object absent", None, f).text, "<not in database>");
        assert_eq!(
            render(Some(&Value::str("coredump_and_restart")), "enum:on_crash_behaviour_to_string", None, f).text,
            "Coredump and restart"
        );
        assert_eq!(render(Some(&Value::str("ha_statefile")), "enum:vdi_type_to_string", None, f).text, "HA statefile");
        assert_eq!(
            render(Some(&Value::str("vm_start")), "list (\"; \") + enum:host_operation_to_string", None, f).text,
            "VM.start"
        );
    }

    #[test]
    fn enum_text_round_trips() {
        let values = ["destroy", "coredump_and_destroy", "restart"];
        assert_eq!(
            enum_from_text("on_crash_behaviour_to_string", &values, "Coredump and destroy").as_deref(),
            Some("coredump_and_destroy")
        );
        assert_eq!(enum_from_text("on_crash_behaviour_to_string", &values, "restart").as_deref(), Some("restart"));
        assert_eq!(enum_from_text("on_crash_behaviour_to_string", &values, "bogus"), None);
    }
}
