//! The XenAPI object model: classes, fields, messages and enums as facts.
//!
//! The tables in `generated.rs` are produced from the upstream datamodel by
//! `tests/schema_generated.rs` and checked in. This module parses their type
//! strings once into [`Type`] trees and offers lookups; it does no I/O.

#[rustfmt::skip]
mod generated;
mod types;

pub use types::{parse_type, Type};

/// The VM BIOS strings a user may set (`VM.set_bios_strings`), in xapi's
/// order, which xe's error message lists.
pub const SETTABLE_BIOS_STRINGS: &[&str] = &[
    "bios-vendor",
    "bios-version",
    "system-manufacturer",
    "system-product-name",
    "system-version",
    "system-serial-number",
    "baseboard-manufacturer",
    "baseboard-product-name",
    "baseboard-version",
    "baseboard-serial-number",
    "baseboard-asset-tag",
    "baseboard-location-in-chassis",
    "enclosure-asset-tag",
];

use std::collections::HashMap;
use std::sync::OnceLock;

/// Who may write a field, as the datamodel qualifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    /// Writable after creation (`RW`).
    Rw,
    /// Set by the constructor, read-only afterwards (`RO/constructor`).
    RoConstructor,
    /// Maintained by the server (`RO/runtime`).
    RoRuntime,
}

/// Lifecycle state of a field or message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Published,
    Prototyped,
    Deprecated,
    Removed,
}

/// One field of a class, as generated.
#[derive(Debug)]
pub struct FieldDef {
    pub name: &'static str,
    pub ty: &'static str,
    pub qualifier: Qualifier,
    pub default: Option<&'static str>,
    pub lifecycle: Lifecycle,
}

/// One message (RPC) of a class, as generated.
#[derive(Debug)]
pub struct MessageDef {
    pub name: &'static str,
    /// `(type, name)` pairs in wire order, `session_id` included.
    pub params: &'static [(&'static str, &'static str)],
    /// Defaults of the trailing parameters that have one (parameters added
    /// after the message's first release), in wire order: the last
    /// `defaults.len()` entries of `params` may be left off by a caller.
    pub defaults: &'static [ParamDefault],
    pub result: &'static str,
    pub implicit: bool,
    pub lifecycle: Lifecycle,
    /// The roles that may call it, as bits of [`ROLES`] (none: no check,
    /// as for the login messages).
    pub roles: u8,
}

/// xapi's roles, most powerful first, in the order its static RBAC table
/// lists them; bit `i` of [`MessageDef::roles`] is `ROLES[i]`.
pub const ROLES: [&str; 7] =
    ["pool-admin", "pool-operator", "vm-power-admin", "vm-admin", "vm-operator", "client-cert", "read-only"];

impl MessageDef {
    /// Whether `role` (one of [`ROLES`]) may call this message.
    pub fn allows(&self, role: &str) -> bool {
        self.roles == 0 || ROLES.iter().position(|r| *r == role).is_some_and(|i| self.roles & (1 << i) != 0)
    }

    /// The roles that may call it, as xapi lists them in RBAC_PERMISSION_DENIED.
    pub fn role_names(&self) -> Vec<&'static str> {
        ROLES.iter().enumerate().filter(|(i, _)| self.roles & (1 << i) != 0).map(|(_, r)| *r).collect()
    }
}

impl MessageDef {
    /// Number of leading parameters a call must send (`session_id` included).
    pub fn required_params(&self) -> usize {
        self.params.len() - self.defaults.len()
    }

    /// The default of the parameter at wire position `pos`, if it has one.
    pub fn default_at(&self, pos: usize) -> Option<crate::Value> {
        let first = self.required_params();
        (pos >= first).then(|| self.defaults.get(pos - first)).flatten().map(ParamDefault::value)
    }
}

/// The value the server substitutes for a parameter a caller left off.
/// Refs, enums and strings are all [`ParamDefault::String`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamDefault {
    String(&'static str),
    Int(i64),
    Float(f64),
    Bool(bool),
    DateTime(&'static str),
    /// The empty set (`[]`).
    EmptySet,
    /// The empty map (`{}`).
    EmptyMap,
}

impl ParamDefault {
    /// The default as a decoded wire value.
    pub fn value(&self) -> crate::Value {
        use crate::Value;
        match *self {
            ParamDefault::String(s) => Value::str(s),
            ParamDefault::Int(i) => Value::Int(i),
            ParamDefault::Float(f) => Value::Float(f),
            ParamDefault::Bool(b) => Value::Bool(b),
            ParamDefault::DateTime(d) => Value::DateTime(d.to_string()),
            ParamDefault::EmptySet => Value::Array(Vec::new()),
            ParamDefault::EmptyMap => Value::Struct(Vec::new()),
        }
    }
}

/// One class, as generated.
#[derive(Debug)]
pub struct ClassDef {
    pub name: &'static str,
    pub fields: &'static [FieldDef],
    pub messages: &'static [MessageDef],
}

/// One enumeration, as generated.
#[derive(Debug)]
pub struct EnumDef {
    pub name: &'static str,
    pub values: &'static [&'static str],
}

/// A field with its type parsed.
#[derive(Debug)]
pub struct Field {
    pub def: &'static FieldDef,
    pub ty: Type,
}

impl Field {
    pub fn name(&self) -> &'static str {
        self.def.name
    }
}

/// A class with parsed field types and name indexes.
#[derive(Debug)]
pub struct Class {
    pub def: &'static ClassDef,
    pub fields: Vec<Field>,
    field_index: HashMap<&'static str, usize>,
    message_index: HashMap<&'static str, usize>,
}

impl Class {
    pub fn name(&self) -> &'static str {
        self.def.name
    }

    /// Returns the position of a field in record order.
    pub fn field_pos(&self, name: &str) -> Option<usize> {
        self.field_index.get(name).copied()
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.field_pos(name).map(|i| &self.fields[i])
    }

    pub fn message(&self, name: &str) -> Option<&'static MessageDef> {
        self.message_index.get(name).map(|&i| &self.def.messages[i])
    }

    /// Whether the class has a `uuid` field (a few pseudo-classes do not).
    pub fn has_uuid(&self) -> bool {
        self.field_index.contains_key("uuid")
    }
}

/// The whole API: every class and enum of the datamodel.
#[derive(Debug)]
pub struct Schema {
    pub classes: Vec<Class>,
    class_index: HashMap<String, usize>,
    enum_index: HashMap<&'static str, &'static EnumDef>,
}

impl Schema {
    /// Returns the schema, parsing the generated tables on first use.
    pub fn get() -> &'static Schema {
        static SCHEMA: OnceLock<Schema> = OnceLock::new();
        SCHEMA.get_or_init(Schema::build)
    }

    fn build() -> Schema {
        let mut classes = Vec::with_capacity(generated::CLASSES.len());
        let mut class_index = HashMap::new();
        for (i, def) in generated::CLASSES.iter().enumerate() {
            let fields: Vec<Field> = def
                .fields
                .iter()
                .map(|f| Field {
                    def: f,
                    // The generator test checks every type string parses.
                    ty: parse_type(f.ty).unwrap_or(Type::String),
                })
                .collect();
            let field_index = def.fields.iter().enumerate().map(|(i, f)| (f.name, i)).collect();
            let message_index = def.messages.iter().enumerate().map(|(i, m)| (m.name, i)).collect();
            class_index.insert(def.name.to_string(), i);
            class_index.entry(def.name.to_ascii_lowercase()).or_insert(i);
            classes.push(Class { def, fields, field_index, message_index });
        }
        let enum_index = generated::ENUMS.iter().map(|e| (e.name, e)).collect();
        Schema { classes, class_index, enum_index }
    }

    /// Finds a class by its exact wire name, or case-insensitively.
    pub fn class(&self, name: &str) -> Option<&Class> {
        if let Some(&i) = self.class_index.get(name) {
            return Some(&self.classes[i]);
        }
        self.class_index.get(&name.to_ascii_lowercase()).map(|&i| &self.classes[i])
    }

    pub fn enum_def(&self, name: &str) -> Option<&'static EnumDef> {
        self.enum_index.get(name).copied()
    }

    pub fn enums(&self) -> &'static [EnumDef] {
        generated::ENUMS
    }
}

impl Field {
    /// Returns the value a new object gets when the creator does not give one.
    pub fn default_value(&self) -> Option<crate::Value> {
        self.def.default.map(|d| parse_default(&self.ty, d))
    }

    /// Whether `create` must be given this field: writable or set by the
    /// constructor, and without a datamodel default.
    pub fn required_by_constructor(&self) -> bool {
        self.def.qualifier != Qualifier::RoRuntime && self.def.default.is_none()
    }
}

/// Interprets the datamodel's textual default for a field of type `ty`.
fn parse_default(ty: &Type, text: &str) -> crate::Value {
    use crate::Value;
    let unquoted = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
    match ty {
        Type::String | Type::Enum(_) => Value::String(unquoted.unwrap_or(text).to_string()),
        Type::Ref(_) => {
            if text.starts_with("OpaqueRef:") {
                Value::String(text.to_string())
            } else {
                Value::String(crate::NULL_REF.to_string())
            }
        }
        Type::Int => Value::Int(text.parse().unwrap_or(0)),
        Type::Float => Value::Float(text.trim_end_matches('.').parse().unwrap_or(0.0)),
        Type::Bool => Value::Bool(text == "true"),
        Type::DateTime => {
            Value::DateTime(crate::datetime::normalise(text).unwrap_or_else(|| crate::datetime::EPOCH.to_string()))
        }
        Type::Set(inner) => {
            let body = text.trim().trim_start_matches('{').trim_end_matches('}').trim();
            if body.is_empty() {
                Value::Array(Vec::new())
            } else {
                Value::Array(body.split(',').map(|item| parse_default(inner, item.trim())).collect())
            }
        }
        Type::Map(_, vty) => {
            let body = text.trim().trim_start_matches('{').trim_end_matches('}').trim();
            let mut members = Vec::new();
            for pair in body.split(',').filter(|p| !p.trim().is_empty()) {
                if let Some((k, v)) = pair.split_once("->") {
                    let k = k.trim().trim_matches('"').to_string();
                    members.push((k, parse_default(vty, v.trim())));
                }
            }
            Value::Struct(members)
        }
        Type::Option(_) => Value::Array(Vec::new()),
        Type::Void | Type::Record(_) => Value::zero(ty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    #[test]
    fn defaults_follow_field_types() {
        let s = Schema::get();
        let vm = s.class("VM").unwrap();
        assert_eq!(vm.field("power_state").unwrap().default_value(), Some(Value::str("Halted")));
        assert_eq!(vm.field("HVM_shadow_multiplier").unwrap().default_value(), Some(Value::Float(1.0)));
        assert_eq!(vm.field("generation_id").unwrap().default_value(), Some(Value::str("0:0")));
        assert_eq!(vm.field("snapshot_of").unwrap().default_value(), Some(Value::str(crate::NULL_REF)));
        assert_eq!(vm.field("tags").unwrap().default_value(), Some(Value::Array(vec![])));
        assert!(vm.field("name_label").unwrap().def.qualifier == Qualifier::Rw);
        assert!(s.class("vm").is_some());
    }

    #[test]
    fn versioned_parameters_carry_their_defaults() {
        let s = Schema::get();
        let snapshot = s.class("VM").unwrap().message("snapshot").unwrap();
        assert_eq!(snapshot.required_params(), 3);
        assert_eq!(snapshot.default_at(2), None);
        assert_eq!(snapshot.default_at(3), Some(Value::Array(vec![])));
        assert_eq!(snapshot.default_at(4), None);
        let login = s.class("session").unwrap().message("login_with_password").unwrap();
        assert_eq!(login.required_params(), 2);
        assert_eq!(login.default_at(2), Some(Value::str("1.1")));
        assert_eq!(login.default_at(3), Some(Value::str("")));
        // An empty ref default stays empty rather than becoming OpaqueRef:NULL.
        let introduce = s.class("VDI").unwrap().message("introduce").unwrap();
        let pos = introduce.params.iter().position(|(_, n)| *n == "metadata_of_pool").unwrap();
        assert_eq!(introduce.default_at(pos), Some(Value::str("")));
        let evacuate = s.class("host").unwrap().message("evacuate").unwrap();
        assert_eq!(evacuate.default_at(2), Some(Value::str(crate::NULL_REF)));
        assert_eq!(evacuate.default_at(3), Some(Value::Int(0)));
        assert!(s.class("VM").unwrap().message("get_record").unwrap().defaults.is_empty());
    }
}
