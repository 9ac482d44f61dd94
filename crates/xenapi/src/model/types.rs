//! Parsing of datamodel type strings such as `(string -> VM ref) map`.

/// A XenAPI type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    String,
    Int,
    Float,
    Bool,
    DateTime,
    Void,
    /// A reference to an object of the named class.
    Ref(String),
    /// An enum, by its name.
    Enum(String),
    Set(Box<Type>),
    Map(Box<Type>, Box<Type>),
    /// A record of the named class (`<class>` for event snapshots).
    Record(String),
    Option(Box<Type>),
}

impl Type {
    /// Whether values of this type are maps.
    pub fn is_map(&self) -> bool {
        matches!(self, Type::Map(..))
    }

    /// Whether values of this type are sets.
    pub fn is_set(&self) -> bool {
        matches!(self, Type::Set(_))
    }
}

/// Parses a datamodel type string; returns `None` when it is not well formed.
pub fn parse_type(s: &str) -> Option<Type> {
    let s = s.trim();
    if let Some(inner) = s.strip_suffix(" set") {
        return Some(Type::Set(Box::new(parse_type(inner)?)));
    }
    if let Some(inner) = s.strip_suffix(" option") {
        return Some(Type::Option(Box::new(parse_type(inner)?)));
    }
    if let Some(inner) = s.strip_suffix(" map") {
        let inner = inner.trim().strip_prefix('(')?.strip_suffix(')')?;
        let (k, v) = split_arrow(inner)?;
        return Some(Type::Map(Box::new(parse_type(k)?), Box::new(parse_type(v)?)));
    }
    if let Some(class) = s.strip_suffix(" ref") {
        return Some(Type::Ref(class.trim().to_string()));
    }
    if let Some(class) = s.strip_suffix(" record") {
        return Some(Type::Record(class.trim().to_string()));
    }
    if let Some(name) = s.strip_prefix("enum ") {
        return Some(Type::Enum(name.trim().to_string()));
    }
    Some(match s {
        "string" => Type::String,
        "int" => Type::Int,
        "float" => Type::Float,
        "bool" => Type::Bool,
        "datetime" => Type::DateTime,
        "void" => Type::Void,
        // event.from's result is described in prose, not as a type.
        "an event batch" => Type::Record("event_batch".to_string()),
        _ => return None,
    })
}

/// Splits `k -> v` at the top-level arrow (keys may themselves be parenthesised).
fn split_arrow(s: &str) -> Option<(&str, &str)> {
    let mut depth = 0i32;
    let bytes = s.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b'-' if depth == 0 && bytes.get(i + 1) == Some(&b'>') => {
                return Some((&s[..i], &s[i + 2..]));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_types() {
        assert_eq!(
            parse_type("(string -> enum vm_operations) map"),
            Some(Type::Map(Box::new(Type::String), Box::new(Type::Enum("vm_operations".into()))))
        );
        assert_eq!(
            parse_type("(int -> string set) map"),
            Some(Type::Map(Box::new(Type::Int), Box::new(Type::Set(Box::new(Type::String)))))
        );
        assert_eq!(parse_type("VM ref set"), Some(Type::Set(Box::new(Type::Ref("VM".into())))));
        assert_eq!(parse_type("sr_stat record option"), Some(Type::Option(Box::new(Type::Record("sr_stat".into())))));
        assert_eq!(parse_type("nonsense type"), None);
    }
}
