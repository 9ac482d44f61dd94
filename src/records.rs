//! Builds xe records from API records: finds each field's source (the
//! object's own field, a metrics object it refers to, or an expensive call),
//! renders it, and evaluates `-list` filters against the rendered text.

use crate::connect::{Api, CallError};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use crate::facts::{self, Access, ClassFact, FieldFact};
use crate::output::{Field, Record};
use crate::render::{self, Rendered};
use std::cell::Cell;
use xenapi::model::{Schema, Type};
use xenapi::wire::jsonrpc::RawRecords;
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
    field: &'static FieldFact,
    compute_expensive: bool,
) -> CmdResult<Rendered> {
    FieldPlan::new(view, field).value(ctx, view, obj, compute_expensive)
}

/// What a field computed by a call shows when the call fails.
#[derive(Debug, Clone, Copy)]
enum OnError {
    /// `<unknown>`.
    Unknown,
    /// A fixed value (a VM's `cooperative` is `true`).
    Text(&'static str),
    /// An empty list (a VM's free device numbers).
    Empty,
    /// The command fails, as xe's `safe_get_field` lets the error through
    /// (except HANDLE_INVALID, shown as `<invalid reference>`).
    Fail,
}

/// Where a field's value comes from.
enum Source {
    /// A VBD's VDI, or `<EMPTY>`.
    VbdEmpty,
    /// An SR's host, or `<shared>`.
    SrHost,
    /// A pool field read from every host.
    SameOnAllHosts(&'static str),
    /// `Class.method(self)`, rendered by the field's rule.
    Call { method: String, on_error: OnError },
    /// `Class.method()` without an object (a pool's `supported-sr-types`).
    ClassCall { method: &'static str, on_error: OnError },
    /// `<class>.query_data_source(<owner>, <prefix><name><suffix>)`, where
    /// `owner` and `name` are members of the object's record (a VBD's `VM`
    /// and `device`); `<unknown>` on any error. I/O rates are in KiB/s.
    Rrd {
        class: &'static str,
        owner: &'static str,
        prefix: &'static str,
        name: &'static str,
        suffix: &'static str,
        per_kib: bool,
    },
    /// A VM's `memory-target`: its `memory_target` data source as an
    /// integer, `0` for a VM that is not running, else `<unknown>`.
    MemoryTarget,
    /// A VM's `VCPUs-utilisation`: `n: <cpu<n> data source>` for each of
    /// the VM_metrics' `VCPUs_number` vCPUs; empty on any error.
    VcpusUtilisation,
    /// A VBD's `attachable`: `true`, or `false (error: <exception>)`.
    Attachable,
    /// A legacy patch's `hosts`: the uuid of the host of each of its `host_patches`.
    PatchHosts,
    /// A subject's `roles`: the name of each role it holds.
    RoleNames,
    /// A member of the object's own record between single quotes (a VM's `last-boot-record`).
    Quoted(&'static str),
    /// A member of the object's own record.
    Own { name: &'static str, target: Option<String> },
    /// A member of a related object's record (metrics, PCI, ...), reached through our ref to it.
    Related { class: &'static str, name: &'static str, link: Option<&'static str>, target: Option<String> },
}

/// The fields xe computes in its own way, whatever the reference tables'
/// source column says: data sources, calls with their own error rules.
fn computed(field: &FieldFact) -> Option<Source> {
    let ds = |class, owner, prefix, name, suffix, per_kib| Source::Rrd { class, owner, prefix, name, suffix, per_kib };
    let call = |method: &str, on_error| Source::Call { method: method.to_string(), on_error };
    Some(match (field.class, field.name) {
        ("vbd", "io_read_kbs") => ds("VM", "VM", "vbd_", "device", "_read", true),
        ("vbd", "io_write_kbs") => ds("VM", "VM", "vbd_", "device", "_write", true),
        ("vif", "io_read_kbs") => ds("VM", "VM", "vif_", "device", "_rx", true),
        ("vif", "io_write_kbs") => ds("VM", "VM", "vif_", "device", "_tx", true),
        ("pif", "io_read_kbs") => ds("host", "host", "pif_", "device", "_rx", true),
        ("pif", "io_write_kbs") => ds("host", "host", "pif_", "device", "_tx", true),
        ("host-cpu", "utilisation") => ds("host", "host", "cpu", "number", "", false),
        ("vm", "memory-target") => Source::MemoryTarget,
        ("vm", "VCPUs-utilisation") => Source::VcpusUtilisation,
        ("vm", "cooperative") => call("VM.get_cooperative", OnError::Text("true")),
        ("vm", "allowed-VBD-devices") => call("VM.get_allowed_VBD_devices", OnError::Empty),
        ("vm", "allowed-VIF-devices") => call("VM.get_allowed_VIF_devices", OnError::Empty),
        ("vm", "possible-hosts") => call("VM.get_possible_hosts", OnError::Fail),
        ("vm", "last-boot-record") => Source::Quoted("last_booted_record"),
        ("host", "memory-free-computed") => call("host.compute_free_memory", OnError::Fail),
        ("pool", "supported-sr-types") => {
            Source::ClassCall { method: "SR.get_supported_types", on_error: OnError::Fail }
        }
        ("vbd", "attachable") => Source::Attachable,
        ("subject", "roles") => Source::RoleNames,
        ("patch", "hosts") => Source::PatchHosts,
        _ => return None,
    })
}

/// Where a record member was last found: the records of one answer list
/// their members in the same order, so the next record has it there too
/// and the lookup costs one comparison instead of a scan. (A miss scans
/// for the first member of that name, as [`Value::get`] does.)
#[derive(Default)]
struct Hint(Cell<usize>);

impl Hint {
    fn get<'a>(&self, rec: &'a Value, name: &str) -> Option<&'a Value> {
        let members = rec.as_struct()?;
        if let Some((k, v)) = members.get(self.0.get()) {
            if k == name {
                return Some(v);
            }
        }
        let i = members.iter().position(|(k, _)| k == name)?;
        self.0.set(i);
        Some(&members[i].1)
    }
}

/// How one field of a class is rendered: worked out once (sources, ref
/// targets and links from the datamodel), then applied to every object.
pub struct FieldPlan {
    pub field: &'static FieldFact,
    source: Source,
    rule: render::Rule<'static>,
    hint: Hint,
}

impl FieldPlan {
    pub fn new(view: &ClassView, field: &'static FieldFact) -> FieldPlan {
        let parts = source_parts(field.api);
        let first = parts.first().copied().unwrap_or("");
        let api = view.api();
        let source = if let Some(source) = computed(field) {
            source
        } else if field.render.contains("<EMPTY> if VBD empty") {
            Source::VbdEmpty
        } else if field.render.starts_with("<shared> if >1 PBD") {
            Source::SrHost
        } else if field.render.contains("same on all hosts") {
            Source::SameOnAllHosts(first)
        } else if let Some(call) = first.strip_suffix("()") {
            Source::Call { method: call.to_string(), on_error: OnError::Unknown }
        } else {
            let (class, name) = first.split_once('.').unwrap_or((api, first));
            if class == api {
                Source::Own { name, target: view.ref_target(name) }
            } else {
                let link = view.link_to(class).or_else(|| {
                    parts.iter().find_map(|p| p.split_once('.').filter(|(c, _)| *c == api).map(|(_, f)| f))
                });
                let related_class = Schema::get().class(class);
                let target = related_class.and_then(|c| c.field(name)).and_then(|f| target_of(&f.ty));
                Source::Related { class, name, link, target }
            }
        };
        let mut rule = render::Rule::new(field.render);
        if matches!(source, Source::Own { .. }) && parts.len() == 2 && parts[1].ends_with(".get_uuid()") {
            rule = rule.with_uuids();
        }
        FieldPlan { field, source, rule, hint: Hint::default() }
    }

    /// Renders the field of one object; `Err` when xe's own rendering fails the command.
    pub fn value(
        &self,
        ctx: &mut Context,
        view: &ClassView,
        obj: &Obj,
        compute_expensive: bool,
    ) -> CmdResult<Rendered> {
        self.render(ctx, view, obj, compute_expensive, true)
    }

    /// Like [`FieldPlan::value`] without the JSON value: for printing and filtering.
    pub fn text(&self, ctx: &mut Context, view: &ClassView, obj: &Obj, compute_expensive: bool) -> CmdResult<Rendered> {
        self.render(ctx, view, obj, compute_expensive, false)
    }

    /// Whether computing the field can fail the command (a call whose
    /// error xe lets through).
    pub fn may_fail(&self) -> bool {
        matches!(
            self.source,
            Source::Call { on_error: OnError::Fail, .. } | Source::ClassCall { on_error: OnError::Fail, .. }
        )
    }

    fn render(
        &self,
        ctx: &mut Context,
        view: &ClassView,
        obj: &Obj,
        compute_expensive: bool,
        json: bool,
    ) -> CmdResult<Rendered> {
        let field = self.field;
        // xe never computes expensive fields in lists, whatever their source.
        if field.expensive && !compute_expensive {
            return Ok(Rendered::text("<expensive field>"));
        }
        let show = |v: Option<&Value>, target: Option<&str>, ctx: &mut Context| {
            render::render_rule(v, &self.rule, target, ctx, json)
        };
        Ok(match &self.source {
            Source::VbdEmpty => {
                if obj.rec.get("empty").and_then(Value::as_bool) == Some(true) {
                    return Ok(Rendered::text("<EMPTY>"));
                }
                let vdi = obj.rec.get("VDI").cloned();
                render::render(vdi.as_ref(), "name-label of ref", Some("VDI"), ctx)
            }
            Source::SrHost => sr_host(ctx, obj),
            Source::SameOnAllHosts(first) => same_on_all_hosts(ctx, first, field.render),
            Source::Call { method, on_error } => call(ctx, view, Some(obj.r), method, field, *on_error)?,
            Source::ClassCall { method, on_error } => call(ctx, view, None, method, field, *on_error)?,
            Source::Rrd { class, owner, prefix, name, suffix, per_kib } => {
                let owner = self.hint.get(obj.rec, owner).and_then(Value::as_str).unwrap_or("").to_string();
                let name = obj.rec.get(name).map(member_text).unwrap_or_default();
                let source = format!("{prefix}{name}{suffix}");
                match data_source(ctx, class, &owner, &source) {
                    Ok(v) => Rendered::text(render::ocaml_float(if *per_kib { v / 1024.0 } else { v })),
                    Err(_) => Rendered::text("<unknown>"),
                }
            }
            Source::MemoryTarget => match data_source(ctx, "VM", obj.r, "memory_target") {
                Ok(v) => Rendered::text(render::ocaml_int64_of_float(v).to_string()),
                Err(CallError::Api(code, _)) if code == "VM_BAD_POWER_STATE" => Rendered::text("0"),
                Err(_) => Rendered::text("<unknown>"),
            },
            Source::VcpusUtilisation => vcpus_utilisation(ctx, obj, &self.hint),
            Source::RoleNames => {
                let refs: Vec<String> = obj
                    .rec
                    .get("roles")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default();
                let mut names = Vec::new();
                for r in refs {
                    if let Ok(Value::String(name)) = Api::call(ctx, "role.get_name_label", vec![Value::String(r)]) {
                        names.push(Value::String(name));
                    }
                }
                render::render(Some(&Value::Array(names)), field.render, None, ctx)
            }
            Source::PatchHosts => {
                let refs: Vec<String> = obj
                    .rec
                    .get("host_patches")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default();
                let mut uuids = Vec::new();
                for r in refs {
                    let host = ctx.record_member("host_patch", &r, "host");
                    let host = host.as_ref().and_then(Value::as_str).unwrap_or("").to_string();
                    if let Some(uuid) = ctx.record_member("host", &host, "uuid") {
                        uuids.push(uuid);
                    }
                }
                render::render(Some(&Value::Array(uuids)), field.render, None, ctx)
            }
            Source::Attachable => match Api::call(ctx, "VBD.assert_attachable", vec![Value::str(obj.r)]) {
                Ok(_) => Rendered::text("true"),
                Err(e) => Rendered::text(format!("false (error: {})", exception_text(e))),
            },
            Source::Quoted(name) => match self.hint.get(obj.rec, name) {
                Some(v) => Rendered::text(format!("'{}'", member_text(v))),
                None => Rendered::text("<not in database>"),
            },
            Source::Own { name, target } => show(self.hint.get(obj.rec, name), target.as_deref(), ctx),
            Source::Related { class, name, link, target } => {
                let related = link.and_then(|l| self.hint.get(obj.rec, l)).and_then(Value::as_str);
                // Only the member is copied out of the related record, not the whole record.
                let v = related.and_then(|r| ctx.record_member(class, r, name));
                show(v.as_ref(), target.as_deref(), ctx)
            }
        })
    }
}

/// A scalar record member as text (a device name, a CPU number).
fn member_text(v: &Value) -> String {
    match v {
        Value::String(s) | Value::DateTime(s) => s.clone(),
        other => other.to_string(),
    }
}

/// How OCaml's `Printexc.to_string` shows a failed call: xapi's printer for
/// API errors, `Server_error(CODE, [ p1; p2 ])`, with the raw parameters.
fn exception_text(e: CallError) -> String {
    match e {
        CallError::Api(code, params) => format!("Server_error({code}, [ {} ])", params.join("; ")),
        CallError::Cli(e) => e.message(),
    }
}

/// The latest value of one data source of a VM or host (`<class>.query_data_source`).
fn data_source(ctx: &mut Context, class: &str, owner: &str, name: &str) -> Result<f64, CallError> {
    let v = Api::call(ctx, &format!("{class}.query_data_source"), vec![Value::str(owner), Value::str(name)])?;
    v.as_float()
        .ok_or_else(|| CallError::Cli(CliError::Internal(format!("{class}.query_data_source answered {}", v.kind()))))
}

/// A VM's `VCPUs-utilisation`: the `cpu<n>` data source of each vCPU its
/// metrics count, as a map; empty when any query fails.
fn vcpus_utilisation(ctx: &mut Context, obj: &Obj, hint: &Hint) -> Rendered {
    let metrics = hint.get(obj.rec, "metrics").and_then(Value::as_str).map(str::to_string);
    let count = metrics.and_then(|m| ctx.record_member("VM_metrics", &m, "VCPUs_number")).and_then(|v| v.as_int());
    let mut pairs = Vec::new();
    for n in 0..count.unwrap_or(0).max(0) {
        match data_source(ctx, "VM", obj.r, &format!("cpu{n}")) {
            Ok(v) => pairs.push((n.to_string(), render::ocaml_float(v))),
            Err(_) => {
                pairs.clear();
                break;
            }
        }
    }
    let text = pairs.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; ");
    let json = serde_json::Value::Object(
        pairs.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect(),
    );
    Rendered { text, items: None, map: Some(pairs), json }
}

/// `Class.method(self)` (or `Class.method()` without an object), rendered
/// by the field's rule, with the field's rule for failures.
fn call(
    ctx: &mut Context,
    view: &ClassView,
    this: Option<&str>,
    method: &str,
    field: &FieldFact,
    on_error: OnError,
) -> CmdResult<Rendered> {
    let (class, name) = method.split_once('.').unwrap_or((view.api(), method));
    // A call of another class on our object makes no sense: the reference tables name it for information only.
    if this.is_some() && class != view.api() {
        return Ok(Rendered::text("<unknown>"));
    }
    let args = this.map(|r| vec![Value::str(r)]).unwrap_or_default();
    match Api::call(ctx, &format!("{class}.{name}"), args) {
        Ok(v) => {
            let target = Schema::get()
                .class(class)
                .and_then(|c| c.message(name))
                .and_then(|m| xenapi::model::parse_type(m.result))
                .and_then(|t| target_of(&t));
            Ok(render::render(Some(&v), field.render, target.as_deref(), ctx))
        }
        Err(e) => match on_error {
            OnError::Unknown => Ok(Rendered::text("<unknown>")),
            OnError::Text(t) => Ok(Rendered::text(t)),
            OnError::Empty => Ok(render::render(Some(&Value::Array(Vec::new())), field.render, None, ctx)),
            OnError::Fail => match e {
                CallError::Api(code, _) if code == "HANDLE_INVALID" => Ok(Rendered::text("<invalid reference>")),
                e => Err(ctx.describe(e)),
            },
        },
    }
}

/// Whether xe shows a field as a set (`SRO`/`SRW`).
pub fn is_set(field: &FieldFact) -> bool {
    matches!(field.access, Access::Sro | Access::Srw)
}

/// Whether xe shows a field as a map (`MRO`/`MRW`).
pub fn is_map(field: &FieldFact) -> bool {
    matches!(field.access, Access::Mro | Access::Mrw)
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
    let host = pbds.first().and_then(|p| ctx.record_member("PBD", p, "host"));
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
    let plans: Vec<FieldPlan> = fields.iter().map(|f| FieldPlan::new(view, f)).collect();
    build_planned(ctx, view, obj, &plans, compute_expensive)
}

/// Builds a printable record of the planned fields.
pub fn build_planned(
    ctx: &mut Context,
    view: &ClassView,
    obj: &Obj,
    plans: &[FieldPlan],
    compute_expensive: bool,
) -> CmdResult<Record> {
    let mut out = Vec::with_capacity(plans.len());
    for p in plans {
        let f = p.field;
        let v = p.value(ctx, view, obj, compute_expensive)?;
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

/// Parses a filter key against a class the way xe reads it: a field name;
/// `set:contains` or `map:key`; or the legacy `map-key` and `set-contains`
/// (the longest map name first, then the longest set name). `Err` is xe's
/// error for the key.
pub fn parse_filter(view: &ClassView, key: &str, value: &str) -> CmdResult<Filter> {
    if let Some(f) = view.field(key) {
        return Ok(Filter::Eq(f, value.to_string()));
    }
    let unknown = || CliError::failure(format!("Unknown field '{key}'"));
    if let Some((name, _)) = key.split_once(':') {
        let f = view.field(name).ok_or_else(unknown)?;
        if !is_set(f) && !is_map(f) {
            return Err(CliError::failure(format!("Field '{name}' is not a set or map")));
        }
        return set_or_map_filter(f, key, value);
    }
    let legacy = |pick: fn(&FieldFact) -> bool| {
        view.fields
            .iter()
            .copied()
            .filter(|f| pick(f))
            .filter(|f| key.len() > f.name.len() && key.starts_with(f.name) && key.as_bytes()[f.name.len()] == b'-')
            .max_by_key(|f| f.name.len())
    };
    match legacy(is_map).or_else(|| legacy(is_set)) {
        Some(f) => set_or_map_filter(f, key, value),
        None => Err(unknown()),
    }
}

/// A filter on a set or map field, `key` being the field's name, one
/// separator, and the map key or `contains`.
fn set_or_map_filter(f: &'static FieldFact, key: &str, value: &str) -> CmdResult<Filter> {
    let sub = &key[f.name.len() + 1..];
    if is_set(f) {
        if sub != "contains" {
            return Err(CliError::failure("Invalid syntax for set filtering (should be set-param:contains=key)"));
        }
        return Ok(Filter::Contains(f, value.to_string()));
    }
    Ok(Filter::MapEq(f, sub.to_string(), value.to_string()))
}

impl Filter {
    pub fn field(&self) -> &'static FieldFact {
        match self {
            Filter::Eq(f, _) | Filter::MapEq(f, _, _) | Filter::Contains(f, _) => f,
        }
    }

    /// Tests a rendered value (both sides lowercased for a case-insensitive field).
    pub fn matches(&self, v: &Rendered) -> bool {
        let folded = self.field().case_insensitive;
        let same = |a: &str, b: &str| if folded { a.eq_ignore_ascii_case(b) } else { a == b };
        match self {
            Filter::Eq(_, want) => same(&v.text, want),
            // xe lowercases the keys and the wanted value, not the map's values.
            Filter::MapEq(_, key, want) => v.map.as_ref().is_some_and(|m| {
                let want = if folded { want.to_ascii_lowercase() } else { want.clone() };
                m.iter().find(|(k, _)| same(k, key)).is_some_and(|(_, val)| *val == want)
            }),
            Filter::Contains(_, want) => v.items.as_ref().is_some_and(|i| i.iter().any(|x| same(x, want))),
        }
    }
}

/// The record members (and related classes) that rendering `fields` reads.
/// Each related class comes with the members of its records that rendering
/// reads besides the uuid and name-label (which ref lookups read), in the
/// order the classes are first needed.
pub fn needs(view: &ClassView, fields: &[&FieldFact]) -> (Vec<String>, Vec<(String, Vec<String>)>) {
    let mut members: Vec<String> = vec!["uuid".into()];
    let mut classes: Vec<(String, Vec<String>)> = Vec::new();
    fn need(classes: &mut Vec<(String, Vec<String>)>, class: &str, member: Option<&str>) {
        let i = match classes.iter().position(|(c, _)| c == class) {
            Some(i) => i,
            None => {
                classes.push((class.to_string(), Vec::new()));
                classes.len() - 1
            }
        };
        if let Some(m) = member.filter(|m| !classes[i].1.iter().any(|x| x == m)) {
            classes[i].1.push(m.to_string());
        }
    }
    let api = view.api();
    // Members of other classes that fields read through a ref to them.
    let mut related: Vec<(&str, &str)> = Vec::new();
    for f in fields {
        if let Some(source) = computed(f) {
            match source {
                Source::Rrd { owner, name, .. } => members.extend([owner.to_string(), name.to_string()]),
                Source::VcpusUtilisation => {
                    members.push("metrics".into());
                    need(&mut classes, "VM_metrics", Some("VCPUs_number"));
                }
                Source::Quoted(name) => members.push(name.into()),
                Source::RoleNames => members.push("roles".into()),
                Source::PatchHosts => members.push("host_patches".into()),
                _ => {}
            }
            continue;
        }
        if f.render.contains("<EMPTY> if VBD empty") {
            members.extend(["empty".to_string(), "VDI".to_string()]);
            need(&mut classes, "VDI", None);
            continue;
        }
        if f.render.starts_with("<shared> if >1 PBD") {
            members.push("PBDs".into());
            need(&mut classes, "PBD", Some("host"));
            need(&mut classes, "host", None);
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
                    need(&mut classes, &t, None);
                }
            } else {
                related.push((class, name));
                if let Some(link) = view.link_to(class) {
                    members.push(link.to_string());
                    need(&mut classes, class, Some(name));
                }
            }
        }
    }
    for (class, name) in related {
        if classes.iter().any(|(c, _)| c == class) {
            need(&mut classes, class, Some(name));
        }
    }
    (members, classes)
}

/// Whether a call failed because the server does not have the method.
pub fn method_unknown(e: &CliError) -> bool {
    matches!(e, CliError::Api { code, .. } if code == "MESSAGE_METHOD_UNKNOWN")
}

/// The error for an answer that should have been a map of records.
pub fn not_records(ctx: &Context, method: &str, got: &Value) -> CliError {
    ctx.wrong_answer(method, "a map of records", got)
}

/// Every record of an API class (`<Class>.get_all_records`).
pub fn fetch_all(ctx: &mut Context, class: &str) -> CmdResult<Vec<(String, Value)>> {
    let method = format!("{class}.get_all_records");
    match ctx.call(&method, vec![])? {
        Value::Struct(m) => Ok(m),
        other => Err(not_records(ctx, &method, &other)),
    }
}

/// Which members a client-side stand-in for the class's server expression
/// reads, and the test itself: for servers without `get_all_records_where`.
/// (`role`, the only class listed with an expression, lists roles with subroles.)
fn server_filter(view: &ClassView) -> (&'static [&'static str], fn(&Value) -> bool) {
    fn has_subroles(rec: &Value) -> bool {
        rec.get("subroles").and_then(Value::as_array).is_some_and(|a| !a.is_empty())
    }
    match view.fact.server_expr {
        "subroles<>[]" => (&["subroles"], has_subroles),
        _ => (&[], |_| true),
    }
}

/// Whether the class lists every object (no server-side expression).
fn lists_all(view: &ClassView) -> bool {
    matches!(view.fact.server_expr, "" | "true")
}

/// Fetches only the members `keep` names.
pub fn fetch_projected(ctx: &mut Context, view: &ClassView, keep: &[String]) -> CmdResult<Vec<(String, Value)>> {
    // Called for every member of every record: a set, not a scan of a list
    // (`params=all` keeps a hundred members).
    let (extra, test) = server_filter(view);
    let keep: std::collections::HashSet<&str> = keep.iter().map(String::as_str).chain(extra.iter().copied()).collect();
    let f = |k: &str| keep.contains(k);
    let api = view.api();
    let all = format!("{api}.get_all_records");
    let (method, answer) = if lists_all(view) {
        (all.clone(), ctx.call_projected(&all, vec![], &f)?)
    } else {
        let method = format!("{api}.get_all_records_where");
        match ctx.call_projected(&method, vec![Value::str(view.fact.server_expr)], &f) {
            Ok(v) => (method, v),
            Err(e) if method_unknown(&e) => match ctx.call_projected(&all, vec![], &f)? {
                Value::Struct(m) => (all, Value::Struct(m.into_iter().filter(|(_, rec)| test(rec)).collect())),
                other => (all, other),
            },
            Err(e) => return Err(e),
        }
    };
    match answer {
        Value::Struct(m) => Ok(m),
        other => Err(not_records(ctx, &method, &other)),
    }
}

/// Like [`fetch_projected`], keeping the records as text, each decoded when
/// used: what a listing that prints records one at a time needs. `None`
/// when the server cannot list the class's objects that way (no
/// `get_all_records_where` for a class listed with an expression): then
/// [`fetch_projected`] filters them here.
pub fn fetch_records(ctx: &mut Context, view: &ClassView, keep: &[String]) -> CmdResult<Option<RawRecords>> {
    let keep: std::collections::HashSet<&str> = keep.iter().map(String::as_str).collect();
    let f = |k: &str| keep.contains(k);
    let api = view.api();
    if lists_all(view) {
        return ctx.call_records(&format!("{api}.get_all_records"), vec![], &f).map(Some);
    }
    match ctx.call_records(&format!("{api}.get_all_records_where"), vec![Value::str(view.fact.server_expr)], &f) {
        Ok(r) => Ok(Some(r)),
        Err(e) if method_unknown(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The filters of a listing or selection, in the order xe applies them:
/// the class's default ones, then the command line's. xe applies them one
/// at a time and reads each only while objects remain, so a bad one is an
/// error only if some object passes every filter before it: they are
/// parsed up front, up to the first bad one, whose error is kept for then.
pub struct Filters {
    list: Vec<(Filter, FieldPlan)>,
    error: Option<CliError>,
}

impl Filters {
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(view: &ClassView, pairs: impl IntoIterator<Item = (K, V)>) -> Filters {
        let mut list = Vec::new();
        for (k, v) in pairs {
            match parse_filter(view, k.as_ref(), v.as_ref()) {
                Ok(f) => {
                    let plan = FieldPlan::new(view, f.field());
                    list.push((f, plan));
                }
                Err(e) => return Filters { list, error: Some(e) },
            }
        }
        Filters { list, error: None }
    }

    /// The fields the filters read.
    pub fn fields(&self) -> impl Iterator<Item = &'static FieldFact> + '_ {
        self.list.iter().map(|(f, _)| f.field())
    }

    /// Whether there is nothing to apply (no filter, no error).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty() && self.error.is_none()
    }

    /// Whether applying the filters can fail the command: a bad filter, or
    /// a field whose computation can fail.
    pub fn may_fail(&self) -> bool {
        self.error.is_some() || self.list.iter().any(|(_, p)| p.may_fail())
    }

    /// Whether the object passes every filter (expensive fields computed);
    /// an object that reaches the bad filter is the bad filter's error.
    pub fn passes(&self, ctx: &mut Context, view: &ClassView, obj: &Obj) -> CmdResult<bool> {
        for (f, plan) in &self.list {
            if !f.matches(&plan.text(ctx, view, obj, true)?) {
                return Ok(false);
            }
        }
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(true),
        }
    }
}

/// Objects of a class that pass every filter, in server order: each filter
/// applied to the objects the previous ones left, as xe does.
pub fn select(
    ctx: &mut Context,
    view: &ClassView,
    filters: &Filters,
    mut objects: Vec<(String, Value)>,
) -> CmdResult<Vec<(String, Value)>> {
    for (f, plan) in &filters.list {
        if objects.is_empty() {
            return Ok(objects);
        }
        let mut kept = Vec::with_capacity(objects.len());
        for (r, rec) in objects {
            if f.matches(&plan.text(ctx, view, &Obj { r: &r, rec: &rec }, true)?) {
                kept.push((r, rec));
            }
        }
        objects = kept;
    }
    match &filters.error {
        Some(e) if !objects.is_empty() => Err(e.clone()),
        _ => Ok(objects),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(view: &ClassView, key: &str) -> Result<(&'static str, String), CliError> {
        parse_filter(view, key, "v").map(|f| match f {
            Filter::Eq(f, _) => (f.name, "=".to_string()),
            Filter::MapEq(f, k, _) => (f.name, format!("key {k}")),
            Filter::Contains(f, _) => (f.name, "contains".to_string()),
        })
    }

    #[test]
    fn filter_keys_read_like_xe() {
        let vm = ClassView::new("vm").unwrap();
        let fail = |m: &str| Err(CliError::failure(m));
        assert_eq!(parsed(&vm, "name-label"), Ok(("name-label", "=".into())));
        assert_eq!(parsed(&vm, "name-label:x"), fail("Field 'name-label' is not a set or map"));
        assert_eq!(parsed(&vm, "bogus:x"), fail("Unknown field 'bogus:x'"));
        // A colon key is never the legacy dash form.
        assert_eq!(parsed(&vm, "platform-acpi:x"), fail("Unknown field 'platform-acpi:x'"));
        assert_eq!(parsed(&vm, "platform-acpi"), Ok(("platform", "key acpi".into())));
        assert_eq!(parsed(&vm, "other-config:a:b"), Ok(("other-config", "key a:b".into())));
        assert_eq!(parsed(&vm, "tags:contains"), Ok(("tags", "contains".into())));
        assert_eq!(parsed(&vm, "tags-contains"), Ok(("tags", "contains".into())));
        let bad_set = "Invalid syntax for set filtering (should be set-param:contains=key)";
        assert_eq!(parsed(&vm, "tags:has"), fail(bad_set));
        assert_eq!(parsed(&vm, "tags-has"), fail(bad_set));
        assert_eq!(parsed(&vm, "bogus"), fail("Unknown field 'bogus'"));
    }

    #[test]
    fn filters_keep_the_first_bad_one_for_later() {
        let vm = ClassView::new("vm").unwrap();
        let f = Filters::parse(&vm, [("is-a-template", "false"), ("bogus", "1"), ("also-bogus:x", "1")]);
        assert_eq!(f.fields().map(|f| f.name).collect::<Vec<_>>(), ["is-a-template"]);
        assert_eq!(f.error, Some(CliError::failure("Unknown field 'bogus'")));
        assert!(f.may_fail() && !f.is_empty());
        let ok = Filters::parse(&vm, [("power-state", "running")]);
        assert!(!ok.may_fail());
        assert!(Filters::parse(&vm, [("possible-hosts", "x")]).may_fail());
        assert!(Filters::parse(&vm, std::iter::empty::<(&str, &str)>()).is_empty());
    }

    #[test]
    fn case_insensitive_fields_compare_lowercased() {
        let vif = ClassView::new("vif").unwrap();
        let mac = parse_filter(&vif, "MAC", "AA:BB").unwrap();
        assert!(mac.matches(&Rendered::text("aa:bb")));
        let name = parse_filter(&vif, "device", "A").unwrap();
        assert!(!name.matches(&Rendered::text("a")));
    }
}
