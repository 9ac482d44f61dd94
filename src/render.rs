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
            // xe spells `coredump` as two words.
            let words = v.replace("coredump", "core dump").replace('_', " ");
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
        // What `to_string` gives, without the formatting machinery.
        Value::String(s) | Value::DateTime(s) => s.clone(),
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

/// A float as OCaml's `string_of_float` writes it (what xe prints for
/// data-source values): `%.12g`, with a `.` added when the result would read
/// as an integer (`0.`, `12.`, `12.5`, `1e-05`, `nan`, `inf`).
pub fn ocaml_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    const PRECISION: i32 = 12;
    // `%e` with PRECISION significant digits gives the exponent `%g` decides by.
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, f);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let text = if (-4..PRECISION).contains(&exp) {
        let fixed = format!("{:.*}", (PRECISION - 1 - exp) as usize, f);
        trim_fraction(&fixed).to_string()
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_fraction(mantissa), exp.abs())
    };
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        text + "."
    } else {
        text
    }
}

/// `%g` drops trailing zeros of the fraction, and the point if nothing is left.
fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// OCaml's `Int64.of_float` on x86-64: truncation, and the smallest
/// integer for NaN and values out of range (what the processor answers).
pub fn ocaml_int64_of_float(f: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || !(-LIMIT..LIMIT).contains(&f) {
        i64::MIN
    } else {
        f.trunc() as i64
    }
}

/// A field's render rule as `render` reads it: the rule's text is searched once, not per value.
#[derive(Debug, Clone, Copy)]
pub struct Rule<'r> {
    conv: Option<&'r str>,
    uuid_of_ref: bool,
    name_of_ref: bool,
    uuid_list: bool,
    map_uuid: bool,
    float: bool,
    not_set_if_empty: bool,
    separator: &'static str,
}

impl<'r> Rule<'r> {
    /// The same rule showing refs as uuids: a field whose source reads
    /// `<class>.get_uuid()` of each ref (`host.updates`, `update.hosts`).
    pub fn with_uuids(mut self) -> Rule<'r> {
        self.uuid_list = true;
        self
    }

    pub fn new(render: &'r str) -> Rule<'r> {
        Rule {
            conv: enum_converter(render),
            uuid_of_ref: render.starts_with("uuid of ref"),
            name_of_ref: render.starts_with("name-label of ref"),
            uuid_list: render.starts_with("uuid list"),
            map_uuid: render.starts_with("map k: uuid"),
            float: render.starts_with("float"),
            not_set_if_empty: render.contains("<not set> if empty"),
            separator: list_separator(render),
        }
    }
}

/// Renders a value already fetched for a field.
///
/// `target` is the class a ref (or the members of a ref set or the values of
/// a ref map) point to, taken from the datamodel type of the source field.
pub fn render(value: Option<&Value>, render: &str, target: Option<&str>, lookup: &mut dyn RefLookup) -> Rendered {
    render_with(value, &Rule::new(render), target, lookup, true)
}

/// Like [`render`] with the rule read already; without the JSON value (left
/// `null`) unless `json`, for output that prints only the text: the text,
/// items and map are the same.
pub fn render_rule(
    value: Option<&Value>,
    rule: &Rule,
    target: Option<&str>,
    lookup: &mut dyn RefLookup,
    json: bool,
) -> Rendered {
    render_with(value, rule, target, lookup, json)
}

/// A text-only result, with the JSON value when `json`.
fn text_of(t: String, json: bool) -> Rendered {
    if json {
        Rendered::text(t)
    } else {
        Rendered::typed(t, Json::Null)
    }
}

fn render_with(
    value: Option<&Value>,
    rule: &Rule,
    target: Option<&str>,
    lookup: &mut dyn RefLookup,
    json: bool,
) -> Rendered {
    let Some(value) = value else {
        return text_of("<not in database>".into(), json);
    };
    let conv = rule.conv;
    let conv_item = |s: String| match conv {
        Some(c) => enum_text(c, &s),
        None => s,
    };
    if rule.uuid_of_ref || rule.name_of_ref {
        let r = value.as_str().unwrap_or("");
        let by_name = rule.name_of_ref;
        let found = target.and_then(|c| if by_name { lookup.name_label(c, r) } else { lookup.uuid(c, r) });
        return match found {
            Some(t) => text_of(t, json),
            None => Rendered::typed("<not in database>".into(), Json::Null),
        };
    }
    match value {
        Value::Array(items) => {
            let uuids = rule.uuid_list;
            let texts: Vec<String> = items
                .iter()
                .map(|i| {
                    let s = scalar_text(i);
                    if uuids {
                        match target.and_then(|c| lookup.uuid(c, &s)) {
                            Some(u) => u,
                            None => s,
                        }
                    } else {
                        conv_item(s)
                    }
                })
                .collect();
            let json =
                if json { Json::Array(texts.iter().map(|t| Json::String(t.clone())).collect()) } else { Json::Null };
            Rendered { text: texts.join(rule.separator), items: Some(texts), map: None, json }
        }
        Value::Struct(members) => {
            let uuids = rule.map_uuid;
            let pairs: Vec<(String, String)> = members
                .iter()
                .map(|(k, v)| {
                    let s = scalar_text(v);
                    let s = if uuids {
                        match target.and_then(|c| lookup.uuid(c, &s)) {
                            Some(u) => u,
                            None => s,
                        }
                    } else {
                        s
                    };
                    (conv_item(k.clone()), s)
                })
                .collect();
            let mut text = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len() + 4).sum());
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    text.push_str("; ");
                }
                text.push_str(k);
                text.push_str(": ");
                text.push_str(v);
            }
            let json = if json {
                Json::Object(pairs.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect())
            } else {
                Json::Null
            };
            Rendered { text, items: None, map: Some(pairs), json }
        }
        scalar => {
            let raw = scalar_text(scalar);
            let text = if rule.float {
                match scalar.as_float() {
                    Some(f) => format!("{f:.3}"),
                    None => raw,
                }
            } else if let Some(c) = conv {
                enum_text(c, &raw)
            } else {
                raw
            };
            if rule.not_set_if_empty && text.is_empty() {
                return text_of("<not set>".into(), json);
            }
            let json = match (json, conv) {
                (false, _) => Json::Null,
                (true, Some(_)) => Json::String(text.clone()),
                (true, None) => scalar_json(scalar),
            };
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
            "Core dump and restart"
        );
        assert_eq!(render(Some(&Value::str("ha_statefile")), "enum:vdi_type_to_string", None, f).text, "HA statefile");
        assert_eq!(
            render(Some(&Value::str("vm_start")), "list (\"; \") + enum:host_operation_to_string", None, f).text,
            "VM.start"
        );
    }

    #[test]
    fn floats_read_like_ocaml_string_of_float() {
        assert_eq!(ocaml_float(0.0), "0.");
        assert_eq!(ocaml_float(-0.0), "-0.");
        assert_eq!(ocaml_float(12.5), "12.5");
        assert_eq!(ocaml_float(12.0), "12.");
        assert_eq!(ocaml_float(0.03), "0.03");
        assert_eq!(ocaml_float(1.0 / 3.0), "0.333333333333");
        assert_eq!(ocaml_float(0.00001), "1e-05");
        assert_eq!(ocaml_float(0.0001), "0.0001");
        assert_eq!(ocaml_float(123456789012.0), "123456789012.");
        assert_eq!(ocaml_float(1234567890123.0), "1.23456789012e+12");
        assert_eq!(ocaml_float(1e100), "1e+100");
        assert_eq!(ocaml_float(-2.5e-7), "-2.5e-07");
        assert_eq!(ocaml_float(f64::NAN), "nan");
        assert_eq!(ocaml_float(f64::NEG_INFINITY), "-inf");
        assert_eq!(ocaml_float(999999999999.5), "1e+12");
        assert_eq!(ocaml_int64_of_float(1073741824.0), 1073741824);
        assert_eq!(ocaml_int64_of_float(-2.7), -2);
        assert_eq!(ocaml_int64_of_float(f64::NAN), i64::MIN);
        assert_eq!(ocaml_int64_of_float(1e19), i64::MIN);
    }

    #[test]
    fn enum_text_round_trips() {
        let values = ["destroy", "coredump_and_destroy", "restart"];
        assert_eq!(
            enum_from_text("on_crash_behaviour_to_string", &values, "Core dump and destroy").as_deref(),
            Some("coredump_and_destroy")
        );
        assert_eq!(enum_from_text("on_crash_behaviour_to_string", &values, "restart").as_deref(), Some("restart"));
        assert_eq!(enum_from_text("on_crash_behaviour_to_string", &values, "bogus"), None);
    }
}
