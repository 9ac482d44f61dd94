//! xapi's XML database format (`ocaml/database/db_xml.ml` in xen-api): what
//! `GET /pool/xmldbdump` sends and `xe pool-dump-database` saves, read back
//! by `xapi-sim --load` and `PUT /pool/xmldbdump`.
//!
//! ```text
//! <database><manifest><pair key="schema_major_vsn" value="5"/>...</manifest>
//! <table name="VM"><row ref="OpaqueRef:.." __ctime="12" __mtime="40" _ref="OpaqueRef:.."
//!   name__label="Debian%.12" VBDs="(&apos;OpaqueRef:..&apos;)" .../></table>...</database>
//! ```
//!
//! A table per class, named as the datamodel names the class; a row per
//! object, its columns the datamodel's field names with the namespace of a
//! nested field set off by `__` (`name__label`, `memory__static_max`). Every
//! value is a string: ints and floats (`%.18g`) in decimal, bools
//! `true`/`false`, datetimes `YYYYMMDDThh:mm:ssZ`, and sets and maps as
//! S-expressions of quoted strings (`('a' 'b')`, `(('k' 'v'))`), whose
//! members are themselves encoded by their type. Spaces, tabs, newlines and
//! `%` are protected as `%.`, `%t`, `%n`, `%r` and `%%` before XML escaping.
//!
//! Tables and fields this datamodel lacks (a newer xapi's) are kept in
//! [`crate::db::Foreign`] and written back; sessions, tasks and events are not
//! persisted and are dropped on reading, as xapi never writes them.

use crate::db::{Db, RawRow};
use quick_xml::events::{BytesStart, Event};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use xenapi::model::Type;
use xenapi::Value;

/// The schema version the simulator writes and accepts for a restore: that
/// of the xapi it plays (24.19.2 of XCP-ng 8.3, the `db_schema` its hosts report).
pub const SCHEMA_VERSION: (i64, i64) = (5, 780);

/// The datamodel's namespaces (`namespace ~name:..` in `ocaml/idl`), per
/// class: the API flattens `memory` + `static_max` into `memory_static_max`,
/// the database into `memory__static_max`. Fields of other classes, like
/// `pool.name_label`, are plain.
const NAMESPACES: &[(&str, &[&str])] = &[
    ("VM", &["name", "memory", "VCPUs", "actions", "PV", "HVM"]),
    ("host", &["name", "memory", "API_version"]),
    ("VM_metrics", &["memory", "VCPUs"]),
    ("host_metrics", &["memory"]),
    ("VIF", &["qos"]),
    ("VBD", &["qos"]),
    ("VIF_metrics", &["io"]),
    ("PIF_metrics", &["io"]),
    ("VBD_metrics", &["io"]),
    ("task", &["name"]),
    ("role", &["name"]),
    ("pool_patch", &["name"]),
    ("pool_update", &["name"]),
    ("host_patch", &["name"]),
    ("network", &["name"]),
    ("SR", &["name"]),
    ("SM", &["name"]),
    ("VDI", &["name"]),
    ("VMPP", &["name"]),
    ("VMSS", &["name"]),
    ("VM_appliance", &["name"]),
    ("data_source", &["name"]),
    ("blob", &["name"]),
    ("GPU_group", &["name"]),
    ("PVS_site", &["name"]),
    ("Feature", &["name"]),
    ("USB_group", &["name"]),
    ("Repository", &["name"]),
    ("Observer", &["name"]),
];

/// The database column of an API field of `class`.
pub fn column_name(class: &str, field: &str) -> String {
    let namespaces = NAMESPACES.iter().find(|(c, _)| *c == class).map_or(&[][..], |(_, ns)| ns);
    for ns in namespaces {
        if let Some(rest) = field.strip_prefix(ns).and_then(|r| r.strip_prefix('_')) {
            return format!("{ns}__{rest}");
        }
    }
    field.to_string()
}

// --- string encodings ----------------------------------------------------------

/// `Xml_spaces.protect`: XML normalises whitespace in attributes, so xapi
/// writes it as `%` escapes.
fn protect(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' ' => out.push_str("%."),
            '\t' => out.push_str("%t"),
            '\n' => out.push_str("%n"),
            '\r' => out.push_str("%r"),
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out
}

/// `Xml_spaces.unprotect`; `%_` is an old spelling of two spaces.
fn unprotect(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('.') => out.push(' '),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('%') => out.push('%'),
            Some('_') => out.push_str("  "),
            _ => {
                out.push('%');
                continue;
            }
        }
        chars.next();
    }
    out
}

/// XML escaping of an attribute value, as xapi's writer (Xmlm) does it.
fn escape_attr(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// One S-expression string: quoted, with `\` and `'` escaped by a backslash.
fn sexpr_string(out: &mut String, s: &str) {
    out.push('\'');
    for c in s.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
}

/// A parsed S-expression.
#[derive(Debug, PartialEq)]
enum Sexpr {
    Node(Vec<Sexpr>),
    String(String),
}

/// Parses xapi's S-expressions: `(`, `)`, strings quoted with `'` or `"`
/// whose backslash escapes the next character.
fn parse_sexpr(text: &str) -> Result<Sexpr, String> {
    fn skip_ws(cs: &[char], i: &mut usize) {
        while *i < cs.len() && cs[*i].is_whitespace() {
            *i += 1;
        }
    }
    fn expr(cs: &[char], i: &mut usize) -> Result<Sexpr, String> {
        skip_ws(cs, i);
        match cs.get(*i) {
            Some('(') => {
                *i += 1;
                let mut items = Vec::new();
                loop {
                    skip_ws(cs, i);
                    match cs.get(*i) {
                        Some(')') => {
                            *i += 1;
                            return Ok(Sexpr::Node(items));
                        }
                        None => return Err("unbalanced parentheses".into()),
                        _ => items.push(expr(cs, i)?),
                    }
                }
            }
            Some(&q) if q == '\'' || q == '"' => {
                *i += 1;
                let mut s = String::new();
                loop {
                    match cs.get(*i) {
                        None => return Err("unterminated string".into()),
                        Some('\\') => {
                            *i += 1;
                            match cs.get(*i) {
                                Some(&c) => s.push(c),
                                None => return Err("unterminated string".into()),
                            }
                        }
                        Some(&c) if c == q => {
                            *i += 1;
                            return Ok(Sexpr::String(s));
                        }
                        Some(&c) => s.push(c),
                    }
                    *i += 1;
                }
            }
            Some(c) => Err(format!("unexpected {c:?}")),
            None => Err("empty value".into()),
        }
    }
    let cs: Vec<char> = text.chars().collect();
    let mut i = 0;
    let e = expr(&cs, &mut i)?;
    skip_ws(&cs, &mut i);
    if i < cs.len() {
        return Err("text after the value".into());
    }
    Ok(e)
}

/// OCaml's `Printf.sprintf "%0.18g"`: 18 significant digits, trailing
/// zeros dropped, exponent form below 1e-4 and from 1e18.
pub fn format_float(x: f64) -> String {
    crate::values::c_g(x, 18)
}

/// A field value as the database string of its type.
pub fn encode(v: &Value, ty: &Type) -> String {
    let mut out = String::new();
    encode_into(&mut out, v, ty);
    out
}

fn encode_into(out: &mut String, v: &Value, ty: &Type) {
    match ty {
        Type::Set(inner) | Type::Option(inner) => {
            out.push('(');
            for (i, item) in v.as_array().unwrap_or(&[]).iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                sexpr_string(out, &encode(item, inner));
            }
            out.push(')');
        }
        Type::Map(_, vty) => {
            out.push('(');
            for (i, (k, item)) in v.as_struct().unwrap_or(&[]).iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push('(');
                sexpr_string(out, k);
                out.push(' ');
                sexpr_string(out, &encode(item, vty));
                out.push(')');
            }
            out.push(')');
        }
        // Records are never stored (only `event.snapshot` has one, and events are not persisted).
        Type::Record(_) => {}
        _ => match v {
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&format_float(*f)),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::String(s) | Value::DateTime(s) => out.push_str(s),
            _ => {}
        },
    }
}

/// Reads a database string as a value of `ty`.
pub fn decode(text: &str, ty: &Type) -> Result<Value, String> {
    let bad = || format!("{text:?} is not a {}", xenapi::value::type_label(ty));
    Ok(match ty {
        Type::String | Type::Ref(_) | Type::Enum(_) | Type::Void => Value::String(text.to_string()),
        Type::Int => Value::Int(text.trim().strip_prefix('+').unwrap_or(text.trim()).parse().map_err(|_| bad())?),
        Type::Float => Value::Float(xenapi::value::parse_float(text).ok_or_else(bad)?),
        Type::Bool => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad()),
        },
        Type::DateTime => Value::DateTime(xenapi::datetime::normalise(text).ok_or_else(bad)?),
        Type::Record(_) => Value::Struct(Vec::new()),
        Type::Set(inner) | Type::Option(inner) => {
            let items = sexpr_items(text).map_err(|e| format!("{}: {e}", bad()))?;
            if matches!(ty, Type::Option(_)) && items.len() > 1 {
                return Err(bad());
            }
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Sexpr::String(s) => out.push(decode(&s, inner)?),
                    Sexpr::Node(_) => return Err(bad()),
                }
            }
            Value::Array(out)
        }
        Type::Map(_, vty) => {
            let items = sexpr_items(text).map_err(|e| format!("{}: {e}", bad()))?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Sexpr::Node(kv) => match <[Sexpr; 2]>::try_from(kv) {
                        Ok([Sexpr::String(k), Sexpr::String(v)]) => out.push((k, decode(&v, vty)?)),
                        _ => return Err(bad()),
                    },
                    Sexpr::String(_) => return Err(bad()),
                }
            }
            Value::Struct(out)
        }
    })
}

/// The members of a set or map; an empty string counts as empty.
fn sexpr_items(text: &str) -> Result<Vec<Sexpr>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    match parse_sexpr(text)? {
        Sexpr::Node(items) => Ok(items),
        Sexpr::String(_) => Err("not a list".into()),
    }
}

// --- writing -------------------------------------------------------------------------

/// The whole database as xapi writes it: every table of the datamodel (and
/// of the loaded file's unknown ones) in name order, each object's row in
/// ref order, its columns in name order after `ref`, `__ctime` and `__mtime`.
/// Sessions, tasks and events have empty tables, as in xapi.
pub fn dump(db: &Db) -> String {
    let mut out = String::with_capacity(1 << 16);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<database><manifest>");
    let (major, minor) = SCHEMA_VERSION;
    for (k, v) in [
        ("schema_major_vsn", major.to_string()),
        ("schema_minor_vsn", minor.to_string()),
        ("generation_count", db.event_id().to_string()),
    ] {
        let _ = write!(out, "<pair key=\"{k}\" value=\"{v}\"/>");
    }
    out.push_str("</manifest>");
    let mut tables: Vec<(&str, Option<usize>)> =
        (0..db.schema.classes.len()).map(|c| (db.class(c).name(), Some(c))).collect();
    tables.extend(db.foreign.tables.iter().map(|(name, _)| (name.as_str(), None)));
    tables.sort_by(|a, b| a.0.cmp(b.0));
    for (name, class) in tables {
        out.push_str("<table name=\"");
        escape_attr(&mut out, name);
        out.push('"');
        let start = out.len();
        match class {
            Some(c) if !db.is_transient(c) => write_rows(&mut out, db, c),
            Some(_) => {}
            None => {
                let rows = db.foreign.tables.iter().filter(|(n, _)| n == name).flat_map(|(_, rows)| rows);
                for row in rows {
                    write_row(&mut out, row.iter().map(|(k, v)| (k.as_str(), v.clone())));
                }
            }
        }
        if out.len() == start {
            out.push_str("/>");
        } else {
            out.insert(start, '>');
            out.push_str("</table>");
        }
    }
    out.push_str("</database>");
    out
}

fn write_rows(out: &mut String, db: &Db, c: usize) {
    let class = db.class(c);
    let columns: Vec<String> = class.fields.iter().map(|f| column_name(class.name(), f.name())).collect();
    let mut refs: Vec<&String> = db.iter(c).map(|(r, _)| r).collect();
    refs.sort();
    for r in refs {
        let Some((_, o)) = db.get(r) else { continue };
        let mut cols: Vec<(&str, String)> = Vec::with_capacity(columns.len() + 1);
        cols.push(("_ref", r.clone()));
        for (i, f) in class.fields.iter().enumerate() {
            cols.push((&columns[i], encode(&o.fields[i], &f.ty)));
        }
        if let Some(extra) = db.foreign.fields.get(r.as_str()) {
            cols.extend(extra.iter().map(|(k, v)| (k.as_str(), v.clone())));
        }
        cols.sort_by(|a, b| a.0.cmp(b.0));
        let head = [("ref", r.clone()), ("__ctime", o.created.to_string()), ("__mtime", o.modified.to_string())];
        write_row(out, head.into_iter().chain(cols));
    }
}

fn write_row<'a>(out: &mut String, attrs: impl Iterator<Item = (&'a str, String)>) {
    out.push_str("<row");
    for (k, v) in attrs {
        out.push(' ');
        out.push_str(k);
        out.push_str("=\"");
        escape_attr(out, &protect(&v));
        out.push('"');
    }
    out.push_str("/>");
}

// --- reading --------------------------------------------------------------------------

/// A database file as read, before it becomes a [`Db`].
#[derive(Debug, Default)]
pub struct Parsed {
    /// `schema_major_vsn`, `schema_minor_vsn`.
    pub version: (i64, i64),
    pub generation: i64,
    /// Tables in file order, each row's attributes (values unprotected) in file order.
    pub tables: Vec<(String, Vec<RawRow>)>,
    /// A hash of the text, to seed new uuids apart from the file's.
    pub digest: u64,
}

fn line_of(text: &str, pos: u64) -> usize {
    let pos = usize::try_from(pos).unwrap_or(usize::MAX).min(text.len());
    text.as_bytes()[..pos].iter().filter(|&&b| b == b'\n').count() + 1
}

fn attrs(e: &BytesStart<'_>, text: &str, pos: u64) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| format!("line {}: {err}", line_of(text, pos)))?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a.unescape_value().map_err(|err| format!("line {}: {err}", line_of(text, pos)))?;
        out.push((key, unprotect(&value)));
    }
    Ok(out)
}

/// Reads a database file: checks its structure and manifest, decodes nothing yet.
pub fn parse(text: &str) -> Result<Parsed, String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<String> = Vec::new();
    let mut manifest: HashMap<String, String> = HashMap::new();
    let mut parsed = Parsed::default();
    let mut seen_database = false;
    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| format!("line {}: {e}", line_of(text, reader.error_position())))?;
        let (e, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::Eof => break,
            Event::Text(t) if !stack.is_empty() && !t.iter().all(u8::is_ascii_whitespace) => {
                return Err(format!("line {}: unexpected text", line_of(text, pos)));
            }
            _ => continue,
        };
        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        let parent = stack.last().map(String::as_str);
        let at = |what: String| format!("line {}: {what}", line_of(text, pos));
        match (name.as_str(), parent) {
            ("database", None) if !seen_database => seen_database = true,
            ("manifest", Some("database")) => {}
            ("pair", Some("manifest")) => {
                let a = attrs(&e, text, pos)?;
                let get = |k: &str| a.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                match (get("key"), get("value")) {
                    (Some(k), Some(v)) => {
                        manifest.insert(k, v);
                    }
                    _ => return Err(at("a manifest <pair> needs key and value".into())),
                }
            }
            ("table", Some("database")) => {
                let a = attrs(&e, text, pos)?;
                let Some((_, table)) = a.into_iter().find(|(k, _)| k == "name") else {
                    return Err(at("a <table> needs a name".into()));
                };
                parsed.tables.push((table, Vec::new()));
            }
            ("row", Some("table")) => {
                let a = attrs(&e, text, pos)?;
                if !a.iter().any(|(k, _)| k == "ref") {
                    return Err(at("a <row> has no ref".into()));
                }
                if let Some((_, rows)) = parsed.tables.last_mut() {
                    rows.push(a);
                }
            }
            (other, Some(p)) => return Err(at(format!("unexpected <{other}> in <{p}>"))),
            (other, None) => return Err(at(format!("unexpected <{other}>: a database file starts with <database>"))),
        }
        if !empty {
            stack.push(name);
        }
    }
    if !stack.is_empty() {
        return Err(format!("the file ends inside <{}>", stack.join("><")));
    }
    if !seen_database {
        return Err("no <database> element: not an xapi database file".into());
    }
    let number = |key: &str| -> Result<i64, String> {
        let v = manifest.get(key).ok_or_else(|| format!("the manifest has no {key}"))?;
        v.trim().parse().map_err(|_| format!("the manifest's {key} is not a number: {v:?}"))
    };
    parsed.version = (number("schema_major_vsn")?, number("schema_minor_vsn")?);
    parsed.generation = number("generation_count")?;
    parsed.digest = fnv1a(text.as_bytes());
    Ok(parsed)
}

/// A database built from a file, with what the reader noticed on the way.
pub struct Loaded {
    pub db: Db,
    /// The file's schema version.
    pub version: (i64, i64),
    /// One line each: unknown tables and fields kept, rows dropped, values
    /// outside an enum, a schema version other than ours.
    pub notes: Vec<String>,
}

/// Builds a database from a file's text: every row of a known class
/// becomes an object (columns it lacks take their defaults), the two-way
/// sets are recomputed from the refs, and unknown tables and columns go to
/// [`Db::foreign`]. Fails, leaving nothing behind, on a malformed file, a
/// value its column's type cannot hold, a duplicated ref, or a pool that
/// is not one pool with a master among its hosts.
pub fn load(text: &str, seed: u64) -> Result<Loaded, String> {
    build(&parse(text)?, seed)
}

/// [`load`] after [`parse`].
pub fn build(parsed: &Parsed, seed: u64) -> Result<Loaded, String> {
    let mut db = Db::new(seed);
    // New uuids must not repeat the file's, which a simulator with this seed may have made.
    db.set_rng_state(db.rng_state() ^ parsed.digest);
    let mut notes = Vec::new();
    if parsed.version != SCHEMA_VERSION {
        notes.push(format!(
            "the file has database schema {}.{}, the simulator's is {}.{}: columns are matched by name",
            parsed.version.0, parsed.version.1, SCHEMA_VERSION.0, SCHEMA_VERSION.1
        ));
    }
    let mut dropped: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unknown_fields: BTreeMap<String, usize> = BTreeMap::new();
    let mut odd_enums: BTreeMap<String, usize> = BTreeMap::new();
    for (table, rows) in &parsed.tables {
        let Some(c) = (0..db.schema.classes.len()).find(|&c| db.class(c).name() == table) else {
            if !rows.is_empty() {
                notes.push(format!(
                    "table {table} ({}) is not in the simulator's datamodel: kept as is",
                    count(rows.len(), "row")
                ));
            }
            db.foreign.tables.push((table.clone(), rows.clone()));
            continue;
        };
        if db.is_transient(c) {
            if !rows.is_empty() {
                *dropped.entry(db.class(c).name()).or_default() += rows.len();
            }
            continue;
        }
        let class = db.class(c);
        let columns: HashMap<String, usize> =
            class.fields.iter().enumerate().map(|(i, f)| (column_name(class.name(), f.name()), i)).collect();
        for row in rows {
            let r = row.iter().find(|(k, _)| k == "ref").map(|(_, v)| v.clone()).unwrap_or_default();
            if db.get(&r).is_some() {
                return Err(format!("table {table}: the ref {r} is used twice"));
            }
            let mut fields = db.blank_record(c);
            let mut extra = Vec::new();
            for (k, v) in row {
                if matches!(k.as_str(), "ref" | "__ctime" | "__mtime" | "_ref") {
                    continue;
                }
                let Some(&pos) = columns.get(k) else {
                    *unknown_fields.entry(format!("{table}.{k}")).or_default() += 1;
                    extra.push((k.clone(), v.clone()));
                    continue;
                };
                let ty = &class.fields[pos].ty;
                fields[pos] = decode(v, ty).map_err(|e| format!("table {table}, row {r}, column {k}: {e}"))?;
                if let Type::Enum(name) = ty {
                    if db.schema.enum_def(name).is_some_and(|d| !d.values.contains(&v.as_str())) {
                        *odd_enums.entry(format!("{table}.{k} = {v:?} (not a value of {name})")).or_default() += 1;
                    }
                }
            }
            if !extra.is_empty() {
                db.foreign.fields.insert(r.clone(), extra);
            }
            db.put_raw(c, r, fields);
        }
    }
    check_pool(&db)?;
    db.rebuild_relations();
    for (field, n) in unknown_fields {
        notes.push(format!("column {field} ({}) is not in the simulator's datamodel: kept as is", count(n, "row")));
    }
    for (what, n) in odd_enums {
        notes.push(format!("{what} in {}: kept", count(n, "row")));
    }
    if !dropped.is_empty() {
        let list: Vec<String> = dropped.iter().map(|(c, n)| format!("{n} {c}")).collect();
        notes.push(format!("dropped the {} rows: they do not outlive xapi", list.join(" and ")));
    }
    Ok(Loaded { db, version: parsed.version, notes })
}

/// `1 row`, `3 rows`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// A pool needs its one pool object and, among its hosts, its master.
fn check_pool(db: &Db) -> Result<(), String> {
    let pools = db.all("pool");
    let [pool] = pools.as_slice() else {
        return Err(format!("the file has {} pool objects: a pool database has one", pools.len()));
    };
    let master = db.string(pool, "master");
    if !db.is(&master, "host") {
        return Err(format!("the pool's master {master} is not a host of the file"));
    }
    Ok(())
}

/// FNV-1a, to spread the file's contents into the uuid generator's state.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use xenapi::model::parse_type;

    fn ty(s: &str) -> Type {
        parse_type(s).unwrap()
    }

    #[test]
    fn columns_follow_the_datamodels_namespaces() {
        assert_eq!(column_name("VM", "name_label"), "name__label");
        assert_eq!(column_name("VM", "memory_static_max"), "memory__static_max");
        assert_eq!(column_name("VM", "VCPUs_at_startup"), "VCPUs__at_startup");
        assert_eq!(column_name("VM", "PV_bootloader_args"), "PV__bootloader_args");
        assert_eq!(column_name("VM", "HVM_boot_params"), "HVM__boot_params");
        assert_eq!(column_name("VM", "actions_after_crash"), "actions__after_crash");
        assert_eq!(column_name("VM", "other_config"), "other_config");
        assert_eq!(column_name("VM", "is_a_template"), "is_a_template");
        assert_eq!(column_name("host", "API_version_vendor_implementation"), "API_version__vendor_implementation");
        assert_eq!(column_name("VIF", "qos_algorithm_type"), "qos__algorithm_type");
        assert_eq!(column_name("pool", "name_label"), "name_label", "pool's names are plain fields");
        assert_eq!(column_name("VM_guest_metrics", "PV_drivers_version"), "PV_drivers_version");
        // Every namespace names fields the datamodel has.
        let schema = xenapi::model::Schema::get();
        for (class, namespaces) in NAMESPACES {
            let Some(c) = schema.class(class) else { continue };
            for ns in *namespaces {
                let prefix = format!("{ns}_");
                assert!(c.fields.iter().any(|f| f.name().starts_with(&prefix)), "{class} has no {ns} field");
            }
        }
    }

    #[test]
    fn floats_are_printed_as_ocamls_percent_point_18g() {
        for (x, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1, "0.100000000000000006"),
            (1e-5, "1.00000000000000008e-05"),
            (123456789.0, "123456789"),
            (1e18, "1e+18"),
            (1e17, "100000000000000000"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ] {
            assert_eq!(format_float(x), want, "{x}");
        }
    }

    #[test]
    fn every_type_has_its_database_string() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("string", Value::str("a b'c"), "a b'c"),
            ("int", Value::Int(-42), "-42"),
            ("float", Value::Float(1.5), "1.5"),
            ("bool", Value::Bool(true), "true"),
            ("datetime", Value::DateTime("20240420T12:00:00Z".into()), "20240420T12:00:00Z"),
            ("VM ref", Value::str("OpaqueRef:NULL"), "OpaqueRef:NULL"),
            ("enum vm_power_state", Value::str("Halted"), "Halted"),
            ("string set", Value::Array(vec![Value::str("a"), Value::str("it's")]), r"('a' 'it\'s')"),
            ("string set", Value::Array(vec![]), "()"),
            ("VDI ref set", Value::Array(vec![Value::str("OpaqueRef:1")]), "('OpaqueRef:1')"),
            ("int set", Value::Array(vec![Value::Int(0), Value::Int(2)]), "('0' '2')"),
            (
                "(string -> string) map",
                Value::Struct(vec![("k".into(), Value::str("v w")), ("back\\slash".into(), Value::str(""))]),
                r"(('k' 'v w') ('back\\slash' ''))",
            ),
            ("(int -> float) map", Value::Struct(vec![("0".into(), Value::Float(0.25))]), "(('0' '0.25'))"),
            (
                "(int -> string set) map",
                Value::Struct(vec![("1".into(), Value::Array(vec![Value::str("x"), Value::str("y")]))]),
                r"(('1' '(\'x\' \'y\')'))",
            ),
            (
                "(enum vm_operations -> string) map",
                Value::Struct(vec![("start".into(), Value::str("why"))]),
                "(('start' 'why'))",
            ),
            ("SR ref option", Value::Array(vec![Value::str("OpaqueRef:2")]), "('OpaqueRef:2')"),
            ("SR ref option", Value::Array(vec![]), "()"),
        ];
        for (t, v, text) in cases {
            let t = ty(t);
            assert_eq!(encode(&v, &t), text, "{t:?}");
            assert_eq!(decode(text, &t).unwrap(), v, "{t:?}");
        }
        // Spellings xapi and its older releases write that ours normalise.
        assert_eq!(decode("1.", &ty("float")).unwrap(), Value::Float(1.0));
        assert_eq!(decode("(\"a\")", &ty("string set")).unwrap(), Value::Array(vec![Value::str("a")]));
        assert_eq!(decode("", &ty("string set")).unwrap(), Value::Array(vec![]));
        assert_eq!(decode("20240420T12:00:00", &ty("datetime")).unwrap(), Value::DateTime("20240420T12:00:00Z".into()));
        for (t, bad) in [
            ("int", "12x"),
            ("bool", "yes"),
            ("float", "one"),
            ("datetime", "soon"),
            ("string set", "('a'"),
            ("string set", "(a)"),
            ("(string -> string) map", "(('k'))"),
            ("(string -> string) map", "('k' 'v')"),
            ("SR ref option", "('a' 'b')"),
        ] {
            assert!(decode(bad, &ty(t)).is_err(), "{t} {bad:?}");
        }
    }

    #[test]
    fn every_field_of_the_datamodel_round_trips_its_default() {
        let schema = xenapi::model::Schema::get();
        for class in &schema.classes {
            for f in &class.fields {
                if matches!(f.ty, Type::Record(_)) {
                    continue; // never stored
                }
                let v = f.default_value().unwrap_or_else(|| Value::zero(&f.ty));
                let v = v.coerce(&f.ty).unwrap();
                let text = encode(&v, &f.ty);
                assert_eq!(decode(&text, &f.ty).as_ref(), Ok(&v), "{}.{}: {text:?}", class.name(), f.name());
            }
        }
    }

    #[test]
    fn whitespace_and_percent_are_protected() {
        let s = "a b\tc\nd\re%f";
        assert_eq!(protect(s), "a%.b%tc%nd%re%%f");
        assert_eq!(unprotect(&protect(s)), s);
        assert_eq!(unprotect("x%_y"), "x  y");
        assert_eq!(unprotect("50%"), "50%");
        let mut out = String::new();
        escape_attr(&mut out, "<'&\">");
        assert_eq!(out, "&lt;&apos;&amp;&quot;&gt;");
    }

    #[test]
    fn malformed_files_are_refused_with_a_reason() {
        for (text, reason) in [
            ("", "no <database>"),
            ("not xml", "no <database>"),
            ("<database>text</database>", "unexpected text"),
            ("<database><manifest>", "ends inside"),
            ("<foo/>", "unexpected <foo>"),
            ("<database><table name=\"VM\"><row uuid=\"x\"/></table></database>", "no ref"),
            ("<database><manifest/></database>", "no schema_major_vsn"),
            ("<database><manifest><pair key=\"schema_major_vsn\"/></manifest></database>", "key and value"),
            ("<database><table><row ref=\"a\"/></table></database>", "needs a name"),
            ("<database><row ref=\"a\"/></database>", "unexpected <row> in <database>"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(reason), "{text}: {err}");
        }
    }
}
