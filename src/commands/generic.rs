//! The seven generated commands of every generic class: `<class>-list`,
//! `-param-list`, `-param-get`, `-param-set`, `-param-add`, `-param-remove`
//! and `-param-clear`, with xe's rules on filters and read-only fields.

use crate::context::{is_standard_key, Context};
use crate::error::{CliError, CmdResult};
use crate::facts::{op, Access, FieldFact, Setter};
use crate::output::record::{end_block, field_key, key_width, push_padded};
use crate::output::Mode;
use crate::records::{self, ClassView, FieldPlan, Filter, Obj};
use crate::render;
use xenapi::model::{parse_type, Schema, Type};
use xenapi::wire::jsonrpc::RawRecords;
use xenapi::{Value, NULL_REF};

/// Generated operations and their op bits.
pub const OPS: &[(&str, u8)] = &[
    ("list", op::LIST),
    ("param-list", op::PARAM_LIST),
    ("param-get", op::PARAM_GET),
    ("param-set", op::PARAM_SET),
    ("param-add", op::PARAM_ADD),
    ("param-remove", op::PARAM_REMOVE),
    ("param-clear", op::PARAM_CLEAR),
];

/// Splits `vm-param-get` into (`vm`, `param-get`) when that generated command exists.
pub fn split(command: &str) -> Option<(&'static crate::facts::ClassFact, &'static str)> {
    for (name, bit) in OPS {
        if let Some(cli) = command.strip_suffix(name).and_then(|c| c.strip_suffix('-')) {
            if let Some(fact) = crate::facts::class(cli) {
                if fact.ops & bit != 0 {
                    return Some((fact, name));
                }
            }
        }
    }
    None
}

/// Required and optional parameters of a generated command, as `xe help` shows them.
pub fn params_of(cli: &str, operation: &str) -> (Vec<String>, Vec<String>) {
    let view = ClassView::new(cli);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match operation {
        "list" => {
            let mut optn = vec!["params".to_string(), "database:".to_string()];
            if let Some(view) = &view {
                for f in view.visible() {
                    optn.push(f.name.to_string());
                }
                for f in view.visible().filter(|f| matches!(f.access, Access::Sro | Access::Srw)) {
                    optn.push(format!("{}:contains", f.name));
                }
            }
            (vec![], optn)
        }
        "param-list" => (s(&["uuid"]), s(&["database:"])),
        "param-get" => (s(&["uuid", "param-name"]), s(&["param-key", "database:"])),
        "param-set" => {
            let mut optn = Vec::new();
            if let Some(view) = &view {
                for f in view.visible() {
                    if f.setters.iter().any(|(s, _)| *s == Setter::Set) {
                        optn.push(f.name.to_string());
                    } else if f
                        .setters
                        .iter()
                        .any(|(s, _)| matches!(s, Setter::AddToMap | Setter::SetInMap | Setter::SetMap))
                    {
                        optn.push(format!("{}:", f.name));
                    }
                }
            }
            (s(&["uuid"]), optn)
        }
        "param-add" => (s(&["uuid", "param-name"]), s(&["param-key"])),
        "param-remove" => (s(&["uuid", "param-name", "param-key"]), vec![]),
        "param-clear" => (s(&["uuid", "param-name"]), vec![]),
        _ => (vec![], vec![]),
    }
}

/// Runs a generated command.
pub fn run(ctx: &mut Context, cli: &str, operation: &str) -> CmdResult {
    let view = ClassView::new(cli).ok_or_else(|| CliError::Internal(format!("no record for class {cli}")))?;
    let (reqd, _) = params_of(cli, operation);
    for r in &reqd {
        ctx.params.required(r)?;
    }
    match operation {
        "list" => list(ctx, &view),
        "param-list" => param_list(ctx, &view),
        "param-get" => param_get(ctx, &view),
        "param-set" => param_set(ctx, &view),
        "param-add" => param_add(ctx, &view),
        "param-remove" => param_remove(ctx, &view),
        _ => param_clear(ctx, &view),
    }
}

/// The fields `params=` selects, in record order; hidden fields never show.
pub fn selected_fields(view: &ClassView, params: Option<&str>) -> Vec<&'static FieldFact> {
    match params {
        Some("all") => view.visible().collect(),
        Some(list) => {
            let wanted: Vec<&str> = list.split(',').map(str::trim).collect();
            view.visible().filter(|f| wanted.contains(&f.name)).collect()
        }
        None if view.fact.default_params.is_empty() => view.visible().collect(),
        None => view.visible().filter(|f| view.fact.default_params.contains(&f.name)).collect(),
    }
}

/// Filters from the command line, after the class's default filters.
pub fn user_filters(ctx: &Context, view: &ClassView, skip: &[&str]) -> Vec<(String, String)> {
    ctx.params
        .iter()
        .filter(|(k, _)| !is_standard_key(k) && !skip.contains(k))
        .filter(|_| !view.fields.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn list(ctx: &mut Context, view: &ClassView) -> CmdResult {
    // xe applies the filters (errors included) even with --all, and then prints every object.
    let all = ctx.params.flag("all");
    let pairs: Vec<(String, String)> = view
        .fact
        .default_filters
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(user_filters(ctx, view, &[]))
        .collect();
    let filters = records::Filters::parse(view, pairs);
    // Which members the filters and the printed fields read: only those are decoded.
    // (Expensive fields are never computed in lists: they read nothing. Filters on them compute them.)
    let mut wanted: Vec<&FieldFact> =
        selected_fields(view, ctx.params.get("params")).into_iter().filter(|f| !f.expensive).collect();
    wanted.extend(filters.fields());
    let (mut members, classes) = records::needs(view, &wanted);
    // When the fields refer to objects of the listed class itself (a VM's
    // parent, snapshots...) and the fetch lists all of them, it also gives
    // the uuids and names those refs are shown as: no second fetch of every record.
    let knows_own = view.fact.server_expr == "true" && classes.iter().any(|(c, _)| c == view.api());
    if knows_own {
        members.push("name_label".into());
    }
    // Printed as they come, the records are kept as text until then, each
    // decoded, filtered, printed and freed in turn: a large pool's records
    // never all exist as values at once. Other modes need them all anyway,
    // and so do filters that may fail the command (xe prints nothing then),
    // and --all when a bad filter may fail it.
    let streaming = ctx.printer.mode == Mode::Normal && !filters.may_fail();
    let text = if streaming { records::fetch_records(ctx, view, &members)? } else { None };
    let mut objects = match text {
        Some(raw) => Objects::Text(raw),
        None => Objects::Values(records::fetch_projected(ctx, view, &members)?),
    };
    if knows_own {
        match &mut objects {
            Objects::Text(raw) => ctx.know_all_records(view.api(), raw),
            Objects::Values(v) => ctx.know_all(view.api(), v),
        }
    }
    if objects.len() > 1 {
        for (c, members) in classes.iter().filter(|(c, _)| !(knows_own && c == view.api())) {
            let _ = ctx.prefetch(c, members);
        }
    }
    let fields = selected_fields(view, ctx.params.get("params"));
    let plans: Vec<FieldPlan> = fields.iter().map(|f| FieldPlan::new(view, f)).collect();
    let objects = match objects {
        Objects::Text(raw) => return print_blocks(ctx, view, &filters, all, raw.into_records(), &plans),
        Objects::Values(v) => v,
    };
    let chosen = if all {
        if !filters.is_empty() {
            records::select(ctx, view, &filters, objects.clone())?;
        }
        objects
    } else {
        records::select(ctx, view, &filters, objects)?
    };
    let mut out = Vec::with_capacity(chosen.len());
    for (r, rec) in &chosen {
        out.push(records::build_planned(ctx, view, &Obj { r, rec }, &plans, false)?);
    }
    ctx.printer.records(&out);
    Ok(())
}

/// A listing's objects: kept as text, or decoded.
enum Objects {
    Text(RawRecords),
    Values(Vec<(String, Value)>),
}

impl Objects {
    fn len(&self) -> usize {
        match self {
            Objects::Text(raw) => raw.len(),
            Objects::Values(v) => v.len(),
        }
    }
}

/// Prints the record blocks of the objects that pass the filters (every
/// object with `all`) as they are rendered, 64 KiB at a time, freeing each
/// object once printed: the text `Printer::records` prints for the same
/// records, without building them all first (a `params=all` listing of a
/// large pool is tens of megabytes of text). The filters must not be able
/// to fail ([`records::Filters::may_fail`]): the output is under way.
fn print_blocks(
    ctx: &mut Context,
    view: &ClassView,
    filters: &records::Filters,
    all: bool,
    objects: impl Iterator<Item = (String, Value)>,
    plans: &[FieldPlan],
) -> CmdResult {
    const BATCH: usize = 64 << 10;
    let keys: Vec<String> = plans.iter().map(|p| field_key(p.field.name, p.field.access, p.field.deprecated)).collect();
    let width = key_width(keys.iter().map(String::as_str));
    let pads: Vec<usize> = keys.iter().map(|k| width - k.chars().count()).collect();
    let mut out = String::with_capacity(2 * BATCH);
    for (r, rec) in objects {
        let obj = Obj { r: &r, rec: &rec };
        if !filters.passes(ctx, view, &obj)? && !all {
            continue;
        }
        for (i, ((plan, key), pad)) in plans.iter().zip(&keys).zip(&pads).enumerate() {
            let v = plan.text(ctx, view, &obj, false)?;
            push_padded(&mut out, i == 0, key, *pad, &v.text);
        }
        end_block(&mut out);
        if out.len() >= BATCH {
            ctx.printer.raw(&out);
            out.clear();
        }
    }
    ctx.printer.raw(&out);
    // What printing the records would have left behind (they are all out already).
    ctx.printer.records(&[]);
    Ok(())
}

/// Finds the object named by `uuid=`.
fn target(ctx: &mut Context, view: &ClassView) -> CmdResult<(String, Value)> {
    let uuid = ctx.params.required("uuid")?.to_string();
    let r = ctx.lookup_uuid(view.api(), &uuid)?;
    let rec = ctx.call(&format!("{}.get_record", view.api()), vec![Value::str(r.as_str())])?;
    Ok((r, rec))
}

fn param_list(ctx: &mut Context, view: &ClassView) -> CmdResult {
    let (r, rec) = target(ctx, view)?;
    let fields: Vec<&FieldFact> = view.visible().collect();
    let record = records::build_record(ctx, view, &Obj { r: &r, rec: &rec }, &fields, true)?;
    ctx.printer.records(&[record]);
    Ok(())
}

/// xe's raw error for a `param-name` that is not a field.
fn missing_parameter(name: &str) -> CliError {
    CliError::Raw(format!("Error code: Missing parameter\nError parameters: {name}"))
}

fn param_field(ctx: &Context, view: &ClassView) -> CmdResult<&'static FieldFact> {
    let name = ctx.params.required("param-name")?;
    view.field(name).ok_or_else(|| missing_parameter(name))
}

fn param_get(ctx: &mut Context, view: &ClassView) -> CmdResult {
    let field = param_field(ctx, view)?;
    let (r, rec) = target(ctx, view)?;
    let v = records::field_value(ctx, view, &Obj { r: &r, rec: &rec }, field, true)?;
    let text = match (ctx.params.get("param-key"), &v.map) {
        (Some(key), Some(map)) => match map.iter().find(|(k, _)| k == key) {
            Some((_, val)) => val.clone(),
            None => return Err(CliError::failure(format!("Key {key} not found in map"))),
        },
        _ => v.text,
    };
    ctx.printer.list(&[text]);
    Ok(())
}

fn setter(field: &FieldFact, kind: Setter) -> Option<&'static str> {
    field.setters.iter().find(|(s, _)| *s == kind).map(|(_, m)| *m)
}

fn is_map(f: &FieldFact) -> bool {
    matches!(f.access, Access::Mro | Access::Mrw)
}

fn is_set(f: &FieldFact) -> bool {
    matches!(f.access, Access::Sro | Access::Srw)
}

fn read_only(name: &str) -> CliError {
    CliError::failure(format!("Field '{name}' is read-only."))
}

/// The memory fields xe's VM records set from a size with units.
fn is_size_field(view: &ClassView, field: &FieldFact) -> bool {
    matches!(view.fact.cli, "vm" | "template" | "snapshot")
        && matches!(field.name, "memory-static-max" | "memory-dynamic-max" | "memory-dynamic-min" | "memory-static-min")
}

/// The datamodel type of the value argument of a setter call.
fn setter_value_type(method: &str, index: usize) -> Option<Type> {
    let (class, msg) = method.split_once('.')?;
    let m = Schema::get().class(class)?.message(msg)?;
    parse_type(m.params.get(index)?.0)
}

/// Converts a command-line text to the wire value a setter expects.
fn convert(ctx: &mut Context, field: &FieldFact, ty: &Type, text: &str) -> CmdResult<Value> {
    let bad =
        |what: &str| CliError::failure(format!("Invalid value '{text}' for field '{}': expected {what}", field.name));
    let name = field.name;
    Ok(match ty {
        Type::Int => {
            Value::Int(crate::commands::network::ocaml_int64(text).ok_or_else(|| {
                CliError::failure(format!("Failed to parse parameter '{name}': expecting an integer"))
            })?)
        }
        Type::Float => Value::Float(
            text.parse().map_err(|_| CliError::failure(format!("Parameter {name} must be a floating-point number")))?,
        ),
        Type::Bool => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => {
                return Err(CliError::failure(format!(
                    "Failed to parse parameter '{name}': expecting a boolean (true or false)"
                )))
            }
        },
        Type::Enum(name) => {
            let values = Schema::get().enum_def(name).map(|e| e.values).unwrap_or(&[]);
            let conv = field.render.split("enum:").nth(1).unwrap_or("").split_whitespace().next().unwrap_or("");
            let wire = render::enum_from_text(conv, values, text).ok_or_else(|| {
                let shown: Vec<String> = values.iter().map(|v| render::enum_text(conv, v)).collect();
                bad(&format!("one of: {}", shown.join(", ")))
            })?;
            Value::String(wire)
        }
        Type::Ref(class) => {
            if text.is_empty() || text == "<not in database>" {
                Value::str(NULL_REF)
            } else {
                Value::String(ctx.lookup_uuid(class, text)?)
            }
        }
        Type::Set(inner) => {
            let items: CmdResult<Vec<Value>> = text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| convert(ctx, field, inner, s))
                .collect();
            Value::Array(items?)
        }
        Type::DateTime => Value::DateTime(xenapi::datetime::normalise(text).ok_or_else(|| bad("a date"))?),
        _ => Value::str(text),
    })
}

fn param_set(ctx: &mut Context, view: &ClassView) -> CmdResult {
    let (r, _) = target(ctx, view)?;
    let params: Vec<(String, String)> = ctx
        .params
        .iter()
        .filter(|(k, _)| *k != "uuid" && !is_standard_key(k))
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    // Fields with only `set_map` take every pair in one call at the end.
    let mut whole_maps: Vec<(&'static str, Vec<(String, Value)>)> = Vec::new();
    for (key, value) in params {
        if let Some(field) = view.field(&key) {
            let Some(method) = setter(field, Setter::Set) else {
                if setter(field, Setter::AddToMap).is_some() {
                    return Err(CliError::failure(format!(
                        "Field '{key}' is a map or set. use the 'name:key=value' syntax."
                    )));
                }
                return Err(read_only(&key));
            };
            let ty = setter_value_type(method, 2).unwrap_or(Type::String);
            // xe's VM records read memory sizes with units (`2GiB`).
            let v = if is_size_field(view, field) {
                Value::Int(super::sizes::parse_size(field.name, &value)?)
            } else {
                convert(ctx, field, &ty, &value)?
            };
            ctx.call(method, vec![Value::str(r.as_str()), v])?;
            continue;
        }
        let Some((name, mkey)) = key.split_once(':').or_else(|| legacy_map_key(view, &key)) else {
            return Err(CliError::failure(format!("Unknown field '{key}'")));
        };
        let Some(field) = view.field(name) else { return Err(CliError::failure(format!("Unknown field '{key}'"))) };
        if is_set(field) {
            return Err(CliError::failure("Cannot param-set on set fields"));
        }
        if !is_map(field) {
            return Err(CliError::failure(format!("Field '{name}' is not a set or map")));
        }
        if let Some(method) = setter(field, Setter::SetInMap) {
            ctx.call(method, vec![Value::str(r.as_str()), Value::str(mkey), Value::str(value)])?;
        } else if let Some(method) = setter(field, Setter::SetMap) {
            match whole_maps.iter_mut().find(|(m, _)| *m == method) {
                Some((_, pairs)) => pairs.push((mkey.to_string(), Value::str(value))),
                None => whole_maps.push((method, vec![(mkey.to_string(), Value::str(value))])),
            }
        } else if let (Some(add), Some(remove)) =
            (setter(field, Setter::AddToMap), setter(field, Setter::RemoveFromMap))
        {
            let getter = add.replace(".add_to_", ".get_");
            let now = ctx.call(&getter, vec![Value::str(r.as_str())])?;
            if now.get(mkey).is_some() {
                ctx.call(remove, vec![Value::str(r.as_str()), Value::str(mkey)])?;
            }
            ctx.call(add, vec![Value::str(r.as_str()), Value::str(mkey), Value::str(value)])?;
        } else {
            return Err(CliError::failure(format!("Map field '{name}' is read-only.")));
        }
    }
    for (method, pairs) in whole_maps {
        ctx.call(method, vec![Value::str(r.as_str()), Value::Struct(pairs)])?;
    }
    Ok(())
}

/// `other-config-foo` → (`other-config`, `foo`) for the longest map field name.
fn legacy_map_key<'k>(view: &ClassView, key: &'k str) -> Option<(&'static str, &'k str)> {
    view.fields
        .iter()
        .filter(|f| is_map(f) && key.len() > f.name.len() + 1 && key.starts_with(f.name))
        .max_by_key(|f| f.name.len())
        .map(|f| (f.name, &key[f.name.len() + 1..]))
}

fn param_add(ctx: &mut Context, view: &ClassView) -> CmdResult {
    let field = param_field(ctx, view)?;
    let (r, _) = target(ctx, view)?;
    if is_set(field) {
        let Some(method) = setter(field, Setter::AddToSet) else { return Err(CliError::failure(RO_PARAMETER)) };
        let Some(member) = ctx.params.get("param-key").map(str::to_string) else {
            return Err(CliError::failure(
                "When adding a key to a set, use the syntax: *-param-add param-name=<name> param-key=<key>",
            ));
        };
        ctx.call(method, vec![Value::str(r.as_str()), Value::String(member)])?;
        return Ok(());
    }
    if is_map(field) {
        let Some(method) = setter(field, Setter::AddToMap) else { return Err(CliError::failure(RO_PARAMETER)) };
        let pairs: Vec<(String, String)> = ctx
            .params
            .iter()
            .filter(|(k, _)| !matches!(*k, "uuid" | "param-name" | "param-key") && !is_standard_key(k))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in pairs {
            ctx.call(method, vec![Value::str(r.as_str()), Value::String(k), Value::String(v)])?;
        }
        return Ok(());
    }
    Err(CliError::failure("Can only add to parameters of type Set or Map"))
}

fn param_remove(ctx: &mut Context, view: &ClassView) -> CmdResult {
    let field = param_field(ctx, view)?;
    let key = ctx.params.required("param-key")?.to_string();
    let (r, rec) = target(ctx, view)?;
    let current = records::field_value(ctx, view, &Obj { r: &r, rec: &rec }, field, true)?;
    if is_set(field) {
        let Some(method) = setter(field, Setter::RemoveFromSet) else { return Err(CliError::failure(RO_MAP)) };
        if !current.items.as_ref().is_some_and(|i| i.contains(&key)) {
            return Err(CliError::failure(format!("Key {key} is not in the set")));
        }
        ctx.call(method, vec![Value::str(r.as_str()), Value::String(key)])?;
        return Ok(());
    }
    if is_map(field) {
        let Some(method) = setter(field, Setter::RemoveFromMap) else { return Err(CliError::failure(RO_MAP)) };
        if !current.map.as_ref().is_some_and(|m| m.iter().any(|(k, _)| *k == key)) {
            return Err(CliError::failure(format!("Key {key} is not in map")));
        }
        ctx.call(method, vec![Value::str(r.as_str()), Value::String(key)])?;
        return Ok(());
    }
    Err(CliError::failure("Can only remove from parameters of type Set or Map"))
}

fn param_clear(ctx: &mut Context, view: &ClassView) -> CmdResult {
    let field = param_field(ctx, view)?;
    let (r, rec) = target(ctx, view)?;
    let this = Value::str(r.as_str());
    if is_set(field) {
        let Some(method) = setter(field, Setter::RemoveFromSet) else { return Err(only_rw(field)) };
        let getter = method.replace(".remove_", ".get_");
        let members = ctx.call(&getter, vec![this.clone()])?;
        for m in members.as_array().unwrap_or(&[]) {
            ctx.call(method, vec![this.clone(), m.clone()])?;
        }
        return Ok(());
    }
    if is_map(field) {
        if let Some(method) = setter(field, Setter::ClearMap).or_else(|| setter(field, Setter::SetMap)) {
            ctx.call(method, vec![this, Value::Struct(Vec::new())])?;
            return Ok(());
        }
        let Some(method) = setter(field, Setter::RemoveFromMap) else { return Err(only_rw(field)) };
        let current = records::field_value(ctx, view, &Obj { r: &r, rec: &rec }, field, true)?;
        for (k, _) in current.map.unwrap_or_default() {
            ctx.call(method, vec![this.clone(), Value::String(k)])?;
        }
        return Ok(());
    }
    let Some(method) = setter(field, Setter::Set) else { return Err(only_rw(field)) };
    let ty = setter_value_type(method, 2).unwrap_or(Type::String);
    let empty = match ty {
        Type::String => Value::str(""),
        Type::Ref(_) => Value::str(NULL_REF),
        _ => return Err(CliError::failure("Cannot clear this parameter")),
    };
    ctx.call(method, vec![this, empty]).map_err(|_| CliError::failure("Cannot clear this parameter"))?;
    Ok(())
}

fn only_rw(_field: &FieldFact) -> CliError {
    CliError::failure("Can only clear RW parameters")
}

/// xe's refusals for read-only sets and maps.
const RO_PARAMETER: &str = "Parameter is read-only";
const RO_MAP: &str = "Cannot remove parameters from read-only map";

/// Unused filter keys are an error only for list-like commands.
pub fn filters_for(ctx: &Context, view: &ClassView, own: &[&str]) -> CmdResult<Vec<Filter>> {
    let mut out = Vec::new();
    for (k, v) in user_filters(ctx, view, own) {
        out.push(records::parse_filter(view, &k, &v)?);
    }
    Ok(out)
}
