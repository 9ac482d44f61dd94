//! Helpers shared by the storage and network behaviours: field shorthands,
//! record parsing for explicit constructors, per-operation error tables and
//! the rules VBDs and VIFs share (VM power state, hotplug support).

use crate::db::{ApiResult, Db, Failure};
use xenapi::model::{Class, Qualifier, Type};
use xenapi::{Value, NULL_REF};

/// Index of a datamodel class that must exist.
pub(crate) fn cls(db: &Db, name: &str) -> usize {
    db.class_index(name).unwrap_or_else(|| panic!("datamodel has no class {name}"))
}

/// Checks that `r` is a live object of class `name` (HANDLE_INVALID otherwise).
pub(crate) fn handle(db: &Db, name: &str, r: &str) -> ApiResult<()> {
    db.expect(cls(db, name), r).map(|_| ())
}

/// Whether `r` is a live object of class `name`.
pub(crate) fn is(db: &Db, name: &str, r: &str) -> bool {
    db.is_a(r, cls(db, name))
}

pub(crate) fn is_null(r: &str) -> bool {
    r.is_empty() || r == NULL_REF
}

/// A string-like field as an owned string ("" when absent).
pub(crate) fn s(db: &Db, r: &str, f: &str) -> String {
    db.field_str(r, f).to_string()
}

pub(crate) fn flag(db: &Db, r: &str, f: &str) -> bool {
    db.field(r, f).and_then(Value::as_bool).unwrap_or(false)
}

pub(crate) fn int(db: &Db, r: &str, f: &str) -> i64 {
    db.field(r, f).and_then(Value::as_int).unwrap_or(0)
}

/// A ref-set (or string-set) field.
pub(crate) fn refs(db: &Db, r: &str, f: &str) -> Vec<String> {
    db.field(r, f)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Every object of a class, in creation order.
pub(crate) fn all(db: &Db, name: &str) -> Vec<String> {
    db.iter(cls(db, name)).map(|(r, _)| r.clone()).collect()
}

/// One key of a string map field.
pub(crate) fn map_get(db: &Db, r: &str, f: &str, key: &str) -> Option<String> {
    db.field(r, f)?.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Sets (`Some`) or removes (`None`) one key of a string map field.
pub(crate) fn map_put(db: &mut Db, r: &str, f: &str, key: &str, v: Option<&str>) {
    let mut m: Vec<(String, Value)> = db.field(r, f).and_then(Value::as_struct).map(<[_]>::to_vec).unwrap_or_default();
    let before = m.clone();
    m.retain(|(k, _)| k != key);
    if let Some(v) = v {
        m.push((key.to_string(), Value::str(v)));
    }
    if m != before {
        db.set_named(r, f, Value::Struct(m));
    }
}

/// A string set value.
pub(crate) fn strs<S: AsRef<str>>(items: &[S]) -> Value {
    Value::Array(items.iter().map(|x| Value::str(x.as_ref())).collect())
}

/// A string map value.
pub(crate) fn smap(pairs: &[(String, String)]) -> Value {
    Value::Struct(pairs.iter().map(|(k, v)| (k.clone(), Value::str(v))).collect())
}

/// A string map as pairs.
pub(crate) fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_struct()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

/// The current time as a datetime value.
pub(crate) fn now(db: &Db) -> Value {
    Value::DateTime((db.clock)())
}

/// A record being built for a new object: fields in datamodel order.
pub(crate) struct Rec {
    pub class: &'static Class,
    pub idx: usize,
    pub fields: Vec<Value>,
}

impl Rec {
    /// A record with every field at its default.
    pub fn blank(db: &Db, idx: usize) -> Rec {
        Rec { class: db.class(idx), idx, fields: db.blank_record(idx) }
    }

    /// A copy of a live object's record.
    pub fn of(db: &Db, r: &str) -> Option<Rec> {
        let (idx, o) = db.get(r)?;
        Some(Rec { class: db.class(idx), idx, fields: o.fields.clone() })
    }

    fn pos(&self, name: &str) -> usize {
        self.class.field_pos(name).unwrap_or_else(|| panic!("{}.{name} is not a field", self.class.name()))
    }

    pub fn get(&self, name: &str) -> &Value {
        &self.fields[self.pos(name)]
    }

    pub fn str(&self, name: &str) -> &str {
        self.get(name).as_str().unwrap_or("")
    }

    pub fn bool(&self, name: &str) -> bool {
        self.get(name).as_bool().unwrap_or(false)
    }

    pub fn int(&self, name: &str) -> i64 {
        self.get(name).as_int().unwrap_or(0)
    }

    pub fn set(&mut self, name: &str, v: Value) -> &mut Rec {
        let p = self.pos(name);
        self.fields[p] = v;
        self
    }

    /// Stores the record under a new ref; returns the ref.
    pub fn insert(self, db: &mut Db) -> String {
        let r = db.new_ref();
        db.insert(self.idx, r, self.fields)
    }
}

/// Parses the record argument of a constructor the way xapi's generated
/// code does: writable and constructor fields may be given, those without a
/// datamodel default must be, values are coerced to their types, enums
/// checked and ref fields must name live objects of their class.
pub(crate) fn parse_record(db: &Db, idx: usize, arg: &Value) -> ApiResult<Rec> {
    let members = arg.as_struct().unwrap_or(&[]);
    let mut rec = Rec::blank(db, idx);
    for (pos, f) in rec.class.fields.iter().enumerate() {
        if f.def.qualifier == Qualifier::RoRuntime {
            continue;
        }
        match members.iter().find(|(k, _)| k == f.name()) {
            Some((_, v)) => {
                let v = coerce(v.clone(), &f.ty).ok_or_else(|| Failure::new("FIELD_TYPE_ERROR", [f.name()]))?;
                if let (Type::Ref(target), Some(r)) = (&f.ty, v.as_str()) {
                    let tc = db.class_index(target).unwrap_or(usize::MAX);
                    if r != NULL_REF && !db.is_a(r, tc) {
                        return Err(Failure::new("HANDLE_INVALID", [target.as_str(), r]));
                    }
                }
                rec.fields[pos] = v;
            }
            None if f.required_by_constructor() => return Err(Failure::new("FIELD_TYPE_ERROR", [f.name()])),
            None => {}
        }
    }
    Ok(rec)
}

/// Coerces a value to a datamodel type, checking and canonicalising enums.
pub(crate) fn coerce(v: Value, ty: &Type) -> Option<Value> {
    canonical(v.coerce(ty).ok()?, ty)
}

fn canonical(v: Value, ty: &Type) -> Option<Value> {
    match (ty, v) {
        (Type::Enum(name), Value::String(s)) => match xenapi::model::Schema::get().enum_def(name) {
            Some(e) => e.values.iter().find(|x| x.eq_ignore_ascii_case(&s)).map(|x| Value::str(*x)),
            None => Some(Value::String(s)),
        },
        (Type::Set(inner), Value::Array(items)) => {
            items.into_iter().map(|i| canonical(i, inner)).collect::<Option<Vec<_>>>().map(Value::Array)
        }
        (Type::Map(_, vt), Value::Struct(m)) => {
            m.into_iter().map(|(k, i)| canonical(i, vt).map(|i| (k, i))).collect::<Option<Vec<_>>>().map(Value::Struct)
        }
        (_, v) => Some(v),
    }
}

/// xapi's per-object operation table: for each failure, the operations it
/// forbids. The first failure listing an operation is the one reported.
#[derive(Default)]
pub(crate) struct OpTable(Vec<(&'static [&'static str], Failure)>);

impl OpTable {
    pub fn forbid(&mut self, ops: &'static [&'static str], f: Failure) {
        self.0.push((ops, f));
    }

    pub fn check(&self, op: &str) -> ApiResult<()> {
        match self.0.iter().find(|(ops, _)| ops.contains(&op)) {
            Some((_, f)) => Err(f.clone()),
            None => Ok(()),
        }
    }

    /// The operations of `candidates` that nothing forbids.
    pub fn allowed(&self, candidates: &[&'static str]) -> Value {
        strs(&candidates.iter().filter(|op| self.check(op).is_ok()).collect::<Vec<_>>())
    }
}

/// A VM's power state as xapi prints it in errors: lowercase.
pub(crate) fn power(db: &Db, vm: &str) -> String {
    s(db, vm, "power_state").to_ascii_lowercase()
}

/// Whether the VM runs (or would run) with a device model: HVM guests.
pub(crate) fn is_hvm(db: &Db, vm: &str) -> bool {
    let metrics = db.field_str(vm, "metrics");
    let current = db.field_str(metrics, "current_domain_type");
    let ty = match current {
        "" | "unspecified" => db.field_str(vm, "domain_type"),
        t => t,
    };
    match ty {
        "hvm" => true,
        "" | "unspecified" => !db.field_str(vm, "HVM_boot_policy").is_empty(),
        _ => false,
    }
}

/// Why a running HVM guest cannot hotplug a device of `kind` ("VBD" or
/// "VIF"), judged from its guest agent the way xapi does.
pub(crate) fn hotplug_refusal(db: &Db, vm: &str, kind: &str) -> Option<Failure> {
    let gm = db.field_str(vm, "guest_metrics");
    let missing = || Some(Failure::new("VM_MISSING_PV_DRIVERS", [vm]));
    if !is(db, "VM_guest_metrics", gm) {
        return missing();
    }
    let field = if kind == "VBD" { "can_use_hotplug_vbd" } else { "can_use_hotplug_vif" };
    match db.field_str(gm, field) {
        "yes" => None,
        "no" => Some(Failure::new("OPERATION_NOT_ALLOWED", [format!("VM states it does not support {kind} hotplug.")])),
        _ if kind == "VBD" && flag(db, gm, "PV_drivers_detected") => None,
        _ => {
            let v = db.field(gm, "PV_drivers_version");
            let has = v.is_some_and(|v| v.get("major").is_some() && v.get("minor").is_some());
            if has {
                None
            } else {
                missing()
            }
        }
    }
}

/// The guest device name of a numeric userdevice (0 → xvda).
pub(crate) fn disk_device(userdevice: &str) -> String {
    match userdevice.parse::<u8>() {
        Ok(n) if n < 26 => format!("xvd{}", (b'a' + n) as char),
        _ => String::new(),
    }
}

/// Detach-rejection simulation: while a device's other_config holds
/// `sim-detach-rejected` = N > 0, a clean unplug fails with
/// DEVICE_DETACH_REJECTED and N goes down by one, so clients' retry loops
/// can be exercised. A forced unplug is never rejected.
pub(crate) fn simulated_detach_rejection(db: &mut Db, kind: &str, r: &str) -> ApiResult<()> {
    const KEY: &str = "sim-detach-rejected";
    let Some(n) = map_get(db, r, "other_config", KEY) else {
        return Ok(());
    };
    let n: i64 = n.trim().parse().unwrap_or(0);
    if n <= 0 {
        return Ok(());
    }
    let left = (n - 1).to_string();
    map_put(db, r, "other_config", KEY, Some(&left));
    Err(Failure::new("DEVICE_DETACH_REJECTED", [kind, r, "Device in use by the guest: it refused the unplug request"]))
}
