//! Builds xe records from API records: finds each field's source (the
//! object's own field, a metrics object it refers to, or an expensive call),
//! renders it, and evaluates `-list` filters against the rendered text.

use crate::context::Context;
use crate::error::{CliError, CmdResult};
use crate::facts::{self, Access, ClassFact, FieldFact};
use crate::output::{Field, Record};
use crate::render::{self, Rendered};
use xenapi::model::{Schema, Type};
use xenapi::Value;

/// A generic class with its record fields and datamodel class.
pub struct ClassView {
    pub fact: &'static ClassFact,
    pub fields: Vec<&'static FieldFact>,
    pub schema: Option<&'static xenapi::model::Class>,
}

impl ClassView {
    pub fn new(cli: &str) -> Option<ClassView> {
        let fact = facts::class(cli)?;
        let fields = facts::fields(fact.record_class).collect();
        let schema = Schema::get().class(fact.api).filter(|c| c.name() == fact.api);
        Some(ClassView { fact, fields, schema })
    }

    pub fn api(&self) -> &'static str {
        self.fact.api
    }

    pub fn field(&self, name: &str) -> Option<&'static FieldFact> {
        self.fields.iter().copied().find(|f| f.name == name)
    }

    /// The non-hidden fields, in record order.
    pub fn visible(&self) -> impl Iterator<Item = &'static FieldFact> + '_ {
        self.fields.iter().copied().filter(|f| !f.hidden)
    }

    /// The datamodel class a ref field of this class points to.
    pub fn ref_target(&self, field: &str) -> Option<String> {
        let f = self.schema?.field(field)?;
        target_of(&f.ty)
    }

    /// The field of this class that refers to an object of `class`.
    pub fn link_to(&self, class: &str) -> Option<&'static str> {
        let schema = self.schema?;
        schema.fields.iter().find(|f| f.ty == Type::Ref(class.to_string())).map(|f| f.name())
    }
}

/// The class a ref-bearing type points to (ref, ref set, map of refs).
pub fn target_of(ty: &Type) -> Option<String> {
    match ty {
        Type::Ref(c) => Some(c.clone()),
        Type::Set(t) | Type::Option(t) => target_of(t),
        Type::Map(_, v) => target_of(v),
        _ => None,
    }
}

/// One object being rendered.
pub struct Obj<'a> {
    pub r: &'a str,
    pub rec: &'a Value,
}

fn source_parts(api: &str) -> Vec<&str> {
    api.split(';').map(str::trim).filter(|p| !p.is_empty()).collect()
}

/// Renders one field of one object. In lists, expensive fields are
/// `<expensive field>`; `param-list` and `param-get` compute them.
pub fn field_value(
    ctx: &mut Context,
    view: &ClassView,
    obj: &Obj,
    field: &FieldFact,
    compute_expensive: bool,
) -> CmdResult<Rendered> {
    // xe never computes expensive fields in lists, whatever their source.
    if field.expensive && !compute_expensive {
        return Ok(Rendered::text("<expensive field>"));
    }
    let parts = source_parts(field.api);
    let first = parts.first().copied().unwrap_or("");
    let api = view.api();
    if field.render.contains("<EMPTY> if VBD empty") {
        if obj.rec.get("empty").and_then(Value::as_bool) == Some(true) {
            return Ok(Rendered::text("<EMPTY>"));
        }
        let vdi = obj.rec.get("VDI").cloned();
        return Ok(render::render(vdi.as_ref(), "name-label of ref", Some("VDI"), ctx));
    }
    if field.render.starts_with("<shared> if >1 PBD") {
        return Ok(sr_host(ctx, obj));
    }
    if field.render.contains("same on all hosts") {
        return Ok(same_on_all_hosts(ctx, first, field.render));
    }
    if let Some(call) = first.strip_suffix("()") {
        return Ok(expensive(ctx, view, obj, call, field));
    }
    let (class, name) = first.split_once('.').unwrap_or((api, first));
    if class == api {
        let target = view.ref_target(name);
        return Ok(render::render(obj.rec.get(name), field.render, target.as_deref(), ctx));
    }
    // A field of a related object (metrics, PCI, ...), reached through our ref to it.
    let link = view
        .link_to(class)
        .or_else(|| parts.iter().find_map(|p| p.split_once('.').filter(|(c, _)| *c == api).map(|(_, f)| f)));
    let related = link.and_then(|l| obj.rec.get(l)).and_then(Value::as_str).map(str::to_string);
    let rec = related.and_then(|r| ctx.record(class, &r));
    let related_class = Schema::get().class(class);
    let target = related_class.and_then(|c| c.field(name)).and_then(|f| target_of(&f.ty));
    Ok(render::render(rec.as_ref().and_then(|r| r.get(name)), field.render, target.as_deref(), ctx))
}

/// `X.method()`: called with the object's ref where the method belongs to its class.
fn expensive(ctx: &mut Context, view: &ClassView, obj: &Obj, call: &str, field: &FieldFact) -> Rendered {
    let (class, method) = call.split_once('.').unwrap_or((view.api(), call));
    if class != view.api() {
        return Rendered::text("<unknown>");
    }
    let result = ctx.call(&format!("{class}.{method}"), vec![Value::str(obj.r)]);
    match result {
        Ok(v) => {
            let target = view
                .schema
                .and_then(|c| c.message(method))
                .and_then(|m| xenapi::model::parse_type(m.result))
                .and_then(|t| target_of(&t));
            render::render(Some(&v), field.render, target.as_deref(), ctx)
        }
        Err(_) => Rendered::text("<unknown>"),
    }
}

/// An SR's `host`: `<shared>` for several PBDs, else the name of the one host.
fn sr_host(ctx: &mut Context, obj: &Obj) -> Rendered {
    let pbds: Vec<String> = obj
        .rec
        .get("PBDs")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    if pbds.len() > 1 {
        return Rendered::text("<shared>");
    }
    let host = pbds.first().and_then(|p| ctx.record("PBD", p)).and_then(|r| r.get("host").cloned());
    render::render(host.as_ref(), "name-label of ref", Some("host"), ctx)
}

/// A pool field that reads the same host field everywhere.
fn same_on_all_hosts(ctx: &mut Context, source: &str, render_rule: &str) -> Rendered {
    let field = source.trim_end_matches("()").split_once(".get_").map(|(_, f)| f.to_string()).unwrap_or_default();
    let Ok(hosts) = ctx.all_records("host") else { return Rendered::text("<unknown>") };
    let values: Vec<Value> = hosts.values().filter_map(|h| h.get(&field).cloned()).collect();
    match values.first() {
        Some(v) if values.iter().all(|x| x == v) => {
            let v = v.clone();
            render::render(Some(&v), render_rule, None, ctx)
        }
        Some(_) => Rendered::text("<inconsistent>"),
        None => Rendered::text("<unknown>"),
    }
}

/// Builds a printable record of the chosen fields.
pub fn build_record(
    ctx: &mut Context,
    view: &ClassView,
    obj: &Obj,
    fields: &[&'static FieldFact],
    compute_expensive: bool,
) -> CmdResult<Record> {
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        let v = field_value(ctx, view, obj, f, compute_expensive)?;
        out.push(Field::new(f.name, f.access, f.deprecated, v.text, v.json));
    }
    Ok(Record { fields: out })
}

/// One `-list` / selector filter.
#[derive(Debug, Clone)]
pub enum Filter {
    /// `field=value`.
    Eq(&'static FieldFact, String),
    /// `map:key=value`.
    MapEq(&'static FieldFact, String, String),
    /// `set:contains=value`.
    Contains(&'static FieldFact, String),
}

/// Parses a filter key against a class; `Err` is xe's unknown-field error.
pub fn parse_filter(view: &ClassView, key: &str, value: &str) -> CmdResult<Filter> {
    if let Some(f) = view.field(key) {
        return Ok(Filter::Eq(f, value.to_string()));
    }
    if let Some((name, sub)) = key.split_once(':') {
        if let Some(f) = view.field(name) {
            if matches!(f.access, Access::Sro | Access::Srw) {
                if sub == "contains" {
                    return Ok(Filter::Contains(f, value.to_string()));
                }
                return Err(CliError::failure(format!(
                    "Unknown filter '{key}': sets can only be filtered with '{name}:contains=<value>'"
                )));
            }
            return Ok(Filter::MapEq(f, sub.to_string(), value.to_string()));
        }
    }
    // Legacy `mapfield-key=value`: the longest map field name that prefixes the key.
    let legacy = view
        .fields
        .iter()
        .filter(|f| matches!(f.access, Access::Mro | Access::Mrw))
        .filter(|f| key.len() > f.name.len() + 1 && key.starts_with(f.name) && key.as_bytes()[f.name.len()] == b'-')
        .max_by_key(|f| f.name.len());
    if let Some(f) = legacy {
        return Ok(Filter::MapEq(f, key[f.name.len() + 1..].to_string(), value.to_string()));
    }
    Err(CliError::failure(format!("Unknown field '{key}'")))
}

impl Filter {
    pub fn field(&self) -> &'static FieldFact {
        match self {
            Filter::Eq(f, _) | Filter::MapEq(f, _, _) | Filter::Contains(f, _) => f,
        }
    }

    /// Tests a rendered value.
    pub fn matches(&self, v: &Rendered) -> bool {
        match self {
            Filter::Eq(f, want) => {
                if f.case_insensitive {
                    v.text.eq_ignore_ascii_case(want)
                } else {
                    v.text == *want
                }
            }
            Filter::MapEq(_, key, want) => {
                v.map.as_ref().is_some_and(|m| m.iter().any(|(k, val)| k == key && val == want))
            }
            Filter::Contains(_, want) => v.items.as_ref().is_some_and(|i| i.iter().any(|x| x == want)),
        }
    }
}

/// The record members (and related classes) that rendering `fields` reads.
pub fn needs(view: &ClassView, fields: &[&FieldFact]) -> (Vec<String>, Vec<String>) {
    let mut members: Vec<String> = vec!["uuid".into()];
    let mut classes = Vec::new();
    let api = view.api();
    for f in fields {
        if f.render.contains("<EMPTY> if VBD empty") {
            members.extend(["empty".to_string(), "VDI".to_string()]);
            classes.push("VDI".to_string());
            continue;
        }
        if f.render.starts_with("<shared> if >1 PBD") {
            members.push("PBDs".into());
            classes.extend(["PBD".to_string(), "host".to_string()]);
            continue;
        }
        for p in source_parts(f.api) {
            if p.ends_with("()") {
                continue;
            }
            let (class, name) = p.split_once('.').unwrap_or((api, p));
            if class == api {
                members.push(name.to_string());
                if let Some(t) = view.ref_target(name) {
                    classes.push(t);
                }
            } else if let Some(link) = view.link_to(class) {
                members.push(link.to_string());
                classes.push(class.to_string());
            }
        }
    }
    (members, classes)
}

/// Fetches only the members `keep` names.
pub fn fetch_projected(ctx: &mut Context, view: &ClassView, keep: &[String]) -> CmdResult<Vec<(String, Value)>> {
    let f = |k: &str| keep.iter().any(|m| m == k);
    let v = ctx.call_projected(
        &format!("{}.get_all_records_where", view.api()),
        vec![Value::str(view.fact.server_expr)],
        &f,
    )?;
    match v {
        Value::Struct(m) => Ok(m),
        _ => Ok(Vec::new()),
    }
}

/// Fetches the objects of a class that the class's server expression lists.
pub fn fetch(ctx: &mut Context, view: &ClassView) -> CmdResult<Vec<(String, Value)>> {
    let v = ctx.call(&format!("{}.get_all_records_where", view.api()), vec![Value::str(view.fact.server_expr)])?;
    match v {
        Value::Struct(m) => Ok(m),
        _ => Ok(Vec::new()),
    }
}

/// Objects of a class that pass every filter, in server order.
pub fn select(
    ctx: &mut Context,
    view: &ClassView,
    filters: &[Filter],
    objects: Vec<(String, Value)>,
) -> CmdResult<Vec<(String, Value)>> {
    let mut out = Vec::new();
    'next: for (r, rec) in objects {
        for f in filters {
            let v = field_value(ctx, view, &Obj { r: &r, rec: &rec }, f.field(), true)?;
            if !f.matches(&v) {
                continue 'next;
            }
        }
        out.push((r, rec));
    }
    Ok(out)
}
