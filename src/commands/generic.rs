//! The seven generated commands of every generic class: `<class>-list`,
//! `-param-list`, `-param-get`, `-param-set`, `-param-add`, `-param-remove`
//! and `-param-clear`, with xe's rules on filters and read-only fields.

use crate::context::{is_standard_key, Context};
use crate::error::{CliError, CmdResult};
use crate::facts::{op, Access, FieldFact, Setter};
use crate::output::record::{field_key, Blocks};
use crate::output::Mode;
use crate::records::{self, ClassView, FieldPlan, Obj};
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
    if matches!(operation, "list" | "param-list" | "param-get") {
        // xe runs these against another database (a metadata VDI or a file)
        // when asked; rather than show the live pool instead, refuse.
        if let Some((k, _)) = ctx.params.iter().find(|(k, _)| k.starts_with("database:")) {
            return Err(CliError::failure(format!(
                "{k}= (reading another xapi database) is not supported by this version of xe yet"
            )));
        }
    }
    if operation == "list" {
        // `--all` is read as a boolean, strictly.
        ctx.params.bool("all", false)?;
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
            // Names are taken as written: xe does not trim them.
            let wanted: Vec<&str> = list.split(',').collect();
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
    let mut blocks = Blocks::new(keys);
    for (r, rec) in objects {
        let obj = Obj { r: &r, rec: &rec };
        if !filters.passes(ctx, view, &obj)? && !all {
            continue;
        }
        for plan in plans {
            let v = plan.text(ctx, view, &obj, false)?;
            blocks.field(&v.text);
        }
        blocks.end();
        if blocks.len() >= BATCH {
            ctx.printer.raw(&blocks.take());
        }
    }
    ctx.printer.raw(&blocks.take());
    // What printing the records would have left behind (they are all out already).
    ctx.printer.records(&[]);
    Ok(())
}

/// Finds the object named by `uuid=`.
fn target(ctx: &mut Context, view: &ClassView) -> CmdResult<(String, Value)> {
    let uuid = ctx.params.required("uuid")?.to_string();
    let r = ctx.lookup_uuid(view.api(), &uuid)?;
    let rec = ctx.call_record(&format!("{}.get_record", view.api()), vec![Value::str(r.as_str())])?;
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
    // xe finds the object before the field.
    let (r, rec) = target(ctx, view)?;
    let field = param_field(ctx, view)?;
    let v = records::field_value(ctx, view, &Obj { r: &r, rec: &rec }, field, true)?;
    let text = match ctx.params.get("param-key") {
        // A map field without a value reads as an empty map.
        Some(key) if is_map(field) => match v.map.as_deref().unwrap_or(&[]).iter().find(|(k, _)| k == key) {
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
            Value::Int(crate::commands::int64::ocaml_int64(text).ok_or_else(|| {
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
        Type::Enum(name) => Value::String(enum_of_text(name, text)?),
        // Only some of xe's setters read "" as "none"; the others look "" up
        // as a uuid and fail, so nothing changes.
        Type::Ref(_) if text.is_empty() && EMPTY_IS_NULL.contains(&(field.class, field.name)) => Value::str(NULL_REF),
        Type::Ref(class) => Value::String(ctx.lookup_uuid(class, text)?),
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

/// An enum value as xe's setters read it: the wire name in any case, with
/// xe's texts for what it does not know. A few enums have xe's own spellings.
fn enum_of_text(name: &str, text: &str) -> CmdResult<String> {
    let lower = text.to_ascii_lowercase();
    let custom: Option<(&[(&str, &str)], &str)> = match name {
        "domain_type" => Some((
            &[("hvm", "hvm"), ("pv", "pv"), ("pv-in-pvh", "pv_in_pvh"), ("pvh", "pvh")],
            "Invalid domain type. Got",
        )),
        "allocation_algorithm" => Some((
            &[("depth-first", "depth_first"), ("breadth-first", "breadth_first")],
            "Invalid allocation algorithm. Got",
        )),
        _ => None,
    };
    if let Some((table, why)) = custom {
        return table
            .iter()
            .find(|(t, _)| *t == lower)
            .map(|(_, wire)| wire.to_string())
            .ok_or_else(|| CliError::failure(format!("{why} {lower}")));
    }
    let values = Schema::get().enum_def(name).map(|e| e.values).unwrap_or(&[]);
    values.iter().find(|v| v.to_ascii_lowercase() == lower).map(|v| v.to_string()).ok_or_else(|| {
        let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
        CliError::failure(format!("Expected one of {}, got {lower}", quoted.join(", ")))
    })
}

/// The reference fields whose xe setter takes "" as the null reference.
const EMPTY_IS_NULL: &[(&str, &str)] = &[
    ("pool", "default-SR"),
    ("pool", "crash-dump-SR"),
    ("pool", "suspend-image-SR"),
    ("vm", "affinity"),
    ("vm", "appliance"),
    ("vm", "snapshot-schedule"),
    ("host", "suspend-image-sr-uuid"),
    ("host", "crash-dump-sr-uuid"),
];

// The keys xe's VM `bios-strings` setter accepts, in the order its error lists them.
use xenapi::model::SETTABLE_BIOS_STRINGS;

/// xe's own checks on map keys before any call (VM `VCPUs-params`, `bios-strings`).
fn check_map_key(field: &FieldFact, key: &str) -> CmdResult {
    match (field.class, field.name) {
        ("vm", "VCPUs-params") if !matches!(key, "weight" | "cap" | "mask") => {
            Err(CliError::failure(format!("Failed to add parameter '{key}': expecting 'weight','cap' or 'mask'")))
        }
        ("vm", "bios-strings") if !SETTABLE_BIOS_STRINGS.contains(&key) => {
            Err(CliError::failure(format!("Unknown key '{key}': expecting {}", SETTABLE_BIOS_STRINGS.join(", "))))
        }
        _ => Ok(()),
    }
}

/// One change to a set or map field.
enum Change<'a> {
    AddMember(&'a str),
    RemoveMember(&'a str),
    AddKey(&'a str, &'a str),
    RemoveKey(&'a str),
}

/// Applies a set or map change through the field's writer `method`: the
/// member is converted to the type the API takes (a uuid to a ref, a number
/// to an int); a composite `get|set` writer reads the whole value, changes
/// it and writes it back, as xe's records do for such fields.
fn change(ctx: &mut Context, field: &FieldFact, method: &str, this: &Value, what: Change) -> CmdResult {
    if let Some((get, set)) = method.split_once('|') {
        let ty = setter_value_type(set, 2).unwrap_or(Type::String);
        let now = ctx.call(get, vec![this.clone()])?;
        let value = match (what, now) {
            (Change::AddMember(m), Value::Array(mut items)) => {
                let inner = match &ty {
                    Type::Set(inner) => (**inner).clone(),
                    _ => Type::String,
                };
                let v = convert(ctx, field, &inner, m)?;
                if !items.contains(&v) {
                    items.push(v);
                }
                Value::Array(items)
            }
            (Change::RemoveMember(m), Value::Array(items)) => {
                let inner = match &ty {
                    Type::Set(inner) => (**inner).clone(),
                    _ => Type::String,
                };
                let v = convert(ctx, field, &inner, m)?;
                Value::Array(items.into_iter().filter(|i| *i != v).collect())
            }
            (Change::AddKey(k, v), Value::Struct(mut pairs)) => {
                pairs.retain(|(key, _)| key != k);
                pairs.push((k.to_string(), Value::str(v)));
                Value::Struct(pairs)
            }
            (Change::RemoveKey(k), Value::Struct(pairs)) => {
                Value::Struct(pairs.into_iter().filter(|(key, _)| key != k).collect())
            }
            (_, other) => {
                return Err(CliError::Internal(format!("{get} answered a {} for {}", other.kind(), field.name)))
            }
        };
        ctx.call(set, vec![this.clone(), value])?;
        return Ok(());
    }
    let args = match what {
        Change::AddMember(m) | Change::RemoveMember(m) => {
            let ty = setter_value_type(method, 2).unwrap_or(Type::String);
            vec![this.clone(), convert(ctx, field, &ty, m)?]
        }
        Change::AddKey(k, v) => {
            check_map_key(field, k)?;
            vec![this.clone(), Value::str(k), Value::str(v)]
        }
        Change::RemoveKey(k) => vec![this.clone(), Value::str(k)],
    };
    ctx.call(method, args)?;
    Ok(())
}

/// The record member behind a field (`other-config` -> `other_config`).
fn records_member(field: &FieldFact) -> &str {
    field.api.split_once('.').map_or("", |(_, m)| m)
}

fn param_set(ctx: &mut Context, view: &ClassView) -> CmdResult {
    let (r, current) = target(ctx, view)?;
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
            check_map_key(field, mkey)?;
            match whole_maps.iter_mut().find(|(m, _)| *m == method) {
                Some((_, pairs)) => pairs.push((mkey.to_string(), Value::str(value))),
                None => whole_maps.push((method, vec![(mkey.to_string(), Value::str(value))])),
            }
        } else if let (Some(add), Some(remove)) =
            (setter(field, Setter::AddToMap), setter(field, Setter::RemoveFromMap))
        {
            // xe replaces a key by removing it first, reading the map from the record.
            let this = Value::str(r.as_str());
            let present = current.get(records_member(field)).and_then(|m| m.get(mkey)).is_some();
            if present {
                change(ctx, field, remove, &this, Change::RemoveKey(mkey))?;
            }
            change(ctx, field, add, &this, Change::AddKey(mkey, &value))?;
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
        .filter(|f| {
            is_map(f) && key.len() > f.name.len() + 1 && key.starts_with(f.name) && key.as_bytes()[f.name.len()] == b'-'
        })
        .max_by_key(|f| f.name.len())
        .map(|f| (f.name, &key[f.name.len() + 1..]))
}

fn param_add(ctx: &mut Context, view: &ClassView) -> CmdResult {
    let (r, _) = target(ctx, view)?;
    let field = param_field(ctx, view)?;
    let this = Value::str(r.as_str());
    if is_set(field) {
        let Some(method) = setter(field, Setter::AddToSet) else { return Err(CliError::failure(RO_PARAMETER)) };
        let Some(member) = ctx.params.get("param-key").map(str::to_string) else {
            return Err(CliError::failure(
                "When adding a key to a set, use the syntax: *-param-add param-name=<name> param-key=<key>",
            ));
        };
        return change(ctx, field, method, &this, Change::AddMember(&member));
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
            change(ctx, field, method, &this, Change::AddKey(&k, &v))?;
        }
        return Ok(());
    }
    Err(CliError::failure("Can only add to parameters of type Set or Map"))
}

fn param_remove(ctx: &mut Context, view: &ClassView) -> CmdResult {
    let key = ctx.params.required("param-key")?.to_string();
    let (r, rec) = target(ctx, view)?;
    let field = param_field(ctx, view)?;
    let this = Value::str(r.as_str());
    let current = records::field_value(ctx, view, &Obj { r: &r, rec: &rec }, field, true)?;
    if is_set(field) {
        let Some(method) = setter(field, Setter::RemoveFromSet) else { return Err(CliError::failure(RO_MAP)) };
        if !current.items.as_ref().is_some_and(|i| i.contains(&key)) {
            return Err(CliError::failure(format!("Key {key} is not in the set")));
        }
        return change(ctx, field, method, &this, Change::RemoveMember(&key));
    }
    if is_map(field) {
        let Some(method) = setter(field, Setter::RemoveFromMap) else { return Err(CliError::failure(RO_MAP)) };
        if !current.map.as_ref().is_some_and(|m| m.iter().any(|(k, _)| *k == key)) {
            return Err(CliError::failure(format!("Key {key} is not in map")));
        }
        return change(ctx, field, method, &this, Change::RemoveKey(&key));
    }
    Err(CliError::failure("Can only remove from parameters of type Set or Map"))
}

/// xe's order: remove every member of a writable set, clear a map (with its
/// clear call, or by writing an empty map, or key by key), else write "" as
/// `param-set` would.
fn param_clear(ctx: &mut Context, view: &ClassView) -> CmdResult {
    let (r, rec) = target(ctx, view)?;
    let field = param_field(ctx, view)?;
    let this = Value::str(r.as_str());
    if let (true, Some(method)) = (is_set(field), setter(field, Setter::RemoveFromSet)) {
        let now = records::field_value(ctx, view, &Obj { r: &r, rec: &rec }, field, true)?;
        for m in now.items.unwrap_or_default() {
            change(ctx, field, method, &this, Change::RemoveMember(&m))?;
        }
        return Ok(());
    }
    // A clearing call here is the map's whole-value setter, given an empty map.
    if let Some(method) = setter(field, Setter::ClearMap).or_else(|| setter(field, Setter::SetMap)) {
        ctx.call(method, vec![this, Value::Struct(Vec::new())])?;
        return Ok(());
    }
    if let (true, Some(method)) = (is_map(field), setter(field, Setter::RemoveFromMap)) {
        let now = records::field_value(ctx, view, &Obj { r: &r, rec: &rec }, field, true)?;
        for (k, _) in now.map.unwrap_or_default() {
            change(ctx, field, method, &this, Change::RemoveKey(&k))?;
        }
        return Ok(());
    }
    let Some(method) = setter(field, Setter::Set) else { return Err(only_rw(field)) };
    let ty = setter_value_type(method, 2).unwrap_or(Type::String);
    let cleared = convert(ctx, field, &ty, "").and_then(|empty| ctx.call(method, vec![this, empty]));
    cleared.map(|_| ()).map_err(|_| CliError::failure("Cannot clear this parameter"))
}

fn only_rw(_field: &FieldFact) -> CliError {
    CliError::failure("Can only clear RW parameters")
}

/// xe's refusals for read-only sets and maps.
const RO_PARAMETER: &str = "Parameter is read-only";
const RO_MAP: &str = "Cannot remove parameters from read-only map";

/// One record of `cli` with the fields `params=` names, or `default` ones.
pub fn record_of(
    ctx: &mut Context,
    cli: &str,
    r: &str,
    rec: &Value,
    params: Option<&str>,
    default: &str,
) -> CmdResult<crate::output::Record> {
    let view = crate::records::ClassView::new(cli)
        .ok_or_else(|| crate::error::CliError::Internal(format!("no record for {cli}")))?;
    let fields = selected_fields(&view, Some(params.unwrap_or(default)));
    crate::records::build_record(ctx, &view, &crate::records::Obj { r, rec }, &fields, false)
}
