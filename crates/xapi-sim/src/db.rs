//! The object database: every object of every datamodel class, kept in
//! creation order, with uuid and ref indexes, two-way references maintained on
//! every change, and the change index that events are served from.
//!
//! It knows nothing of sessions, the wire or persistence; callers read
//! [`Db::take_dirty`] after a transaction to persist what changed.

use crate::relations::{Relation, RELATIONS};
use indexmap::IndexMap;
use std::collections::{BTreeMap, HashMap, VecDeque};
use xenapi::model::{Class, Schema, Type};
use xenapi::{Value, NULL_REF};

/// An API failure: the error code followed by its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub Vec<String>);

impl Failure {
    /// Builds a failure from a code and its parameters.
    pub fn new<S: Into<String>>(code: &str, params: impl IntoIterator<Item = S>) -> Failure {
        let mut v = vec![code.to_string()];
        v.extend(params.into_iter().map(Into::into));
        Failure(v)
    }

    pub fn code(&self) -> &str {
        &self.0[0]
    }
}

/// The result of an API operation.
pub type ApiResult<T> = Result<T, Failure>;

/// One stored object.
#[derive(Debug, Clone)]
pub struct Object {
    /// Field values in datamodel record order.
    pub fields: Vec<Value>,
    /// Event id of the object's creation.
    pub created: u64,
    /// Event id of the object's latest change.
    pub modified: u64,
}

/// What happened to an object, as events report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Add,
    Mod,
    Del,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Add => "add",
            Operation::Mod => "mod",
            Operation::Del => "del",
        }
    }
}

/// One entry of the event journal served by `event.next`.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    pub id: u64,
    pub class: usize,
    pub op: Operation,
    pub obj_ref: String,
    pub timestamp: String,
}

/// What remains of a destroyed object, so `event.from` can report its deletion.
#[derive(Debug, Clone)]
pub struct Tombstone {
    pub class: usize,
    pub snapshot: Vec<Value>,
    pub created: u64,
    pub deleted: u64,
}

/// A relation resolved to class indexes and field positions.
#[derive(Debug, Clone, Copy)]
struct ResolvedRelation {
    set_class: usize,
    ref_class: usize,
    set_field: usize,
    ref_field: usize,
}

/// A database file's row as read: its attributes in file order, `ref` first.
pub type RawRow = Vec<(String, String)>;

/// What a loaded database file held that this datamodel lacks (a newer
/// xapi's tables and fields), kept as read so that dumps write it back.
/// Values are the database's strings (`crate::xmldb` decodes the file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Foreign {
    /// Tables of unknown classes, in file order: the name and each row's
    /// attributes (`ref` first).
    pub tables: Vec<(String, Vec<RawRow>)>,
    /// Unknown columns of known objects, by ref: (column, value) in file order.
    pub fields: BTreeMap<String, RawRow>,
}

impl Foreign {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.fields.is_empty()
    }
}

/// Classes whose objects are never persisted: they die with the process in xapi too.
pub const TRANSIENT_CLASSES: &[&str] = &["session", "task", "event"];

/// Default number of events kept for `event.next`.
pub const JOURNAL_CAPACITY: usize = 20_000;
const TOMBSTONE_CAPACITY: usize = 50_000;

/// The database. Not thread-safe by itself; the server wraps it in a lock.
pub struct Db {
    pub schema: &'static Schema,
    tables: Vec<IndexMap<String, Object>>,
    class_of: HashMap<String, usize>,
    uuids: HashMap<String, String>,
    relations: Vec<ResolvedRelation>,
    /// For each class, the relations in which it holds the single ref.
    rel_by_ref_class: Vec<Vec<usize>>,
    event_id: u64,
    /// Latest change id of every live or recently deleted object.
    changes: BTreeMap<u64, String>,
    tombstones: HashMap<String, Tombstone>,
    journal: VecDeque<JournalEntry>,
    /// Events kept for `event.next`; older ones are lost to slow clients.
    pub journal_capacity: usize,
    dirty: Vec<String>,
    transient: Vec<bool>,
    rng: u64,
    /// Unix time source; tests and replays may pin it.
    pub clock: fn() -> String,
    /// What a loaded database file held that the datamodel lacks.
    pub foreign: Foreign,
}

impl Db {
    /// Creates an empty database whose uuids and refs derive from `seed`.
    pub fn new(seed: u64) -> Db {
        let schema = Schema::get();
        let n = schema.classes.len();
        let mut relations = Vec::new();
        let mut rel_by_ref_class = vec![Vec::new(); n];
        for Relation { set_class, set_field, ref_class, ref_field } in RELATIONS {
            let pos = |c: &str, f: &str| {
                let ci = class_index(schema, c)?;
                Some((ci, schema.classes[ci].field_pos(f)?))
            };
            if let (Some((sc, sf)), Some((rc, rf))) = (pos(set_class, set_field), pos(ref_class, ref_field)) {
                rel_by_ref_class[rc].push(relations.len());
                relations.push(ResolvedRelation { set_class: sc, ref_class: rc, set_field: sf, ref_field: rf });
            }
        }
        let transient = schema.classes.iter().map(|c| TRANSIENT_CLASSES.contains(&c.name())).collect();
        Db {
            schema,
            tables: (0..n).map(|_| IndexMap::new()).collect(),
            class_of: HashMap::new(),
            uuids: HashMap::new(),
            relations,
            rel_by_ref_class,
            event_id: 0,
            changes: BTreeMap::new(),
            tombstones: HashMap::new(),
            journal: VecDeque::new(),
            journal_capacity: JOURNAL_CAPACITY,
            dirty: Vec::new(),
            transient,
            rng: seed ^ 0x9e37_79b9_7f4a_7c15,
            clock: xenapi::datetime::now,
            foreign: Foreign::default(),
        }
    }

    /// Returns the index of a class by wire name (case-insensitive fallback).
    pub fn class_index(&self, name: &str) -> Option<usize> {
        class_index(self.schema, name)
    }

    pub fn class(&self, idx: usize) -> &'static Class {
        &self.schema.classes[idx]
    }

    /// The id of the latest event.
    pub fn event_id(&self) -> u64 {
        self.event_id
    }

    /// The deterministic generator's state, persisted so restarts keep counting.
    pub fn rng_state(&self) -> u64 {
        self.rng
    }

    pub fn set_rng_state(&mut self, state: u64) {
        self.rng = state;
    }

    pub fn set_event_id(&mut self, id: u64) {
        self.event_id = self.event_id.max(id);
    }

    fn next_random(&mut self) -> u64 {
        // splitmix64: tiny, fast and deterministic for a given seed.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Returns a new random (version 4 layout) uuid from the seeded generator.
    pub fn new_uuid(&mut self) -> String {
        let hi = self.next_random();
        let lo = self.next_random();
        let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
        let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0xffff,
            lo >> 48,
            lo & 0xffff_ffff_ffff
        )
    }

    /// Returns a new opaque reference.
    pub fn new_ref(&mut self) -> String {
        format!("OpaqueRef:{}", self.new_uuid())
    }

    /// Returns a record with every field at its default (or zero) value.
    /// An enum without a default starts at its first member: a field never
    /// holds a value outside its enum.
    pub fn blank_record(&self, class: usize) -> Vec<Value> {
        let zero = |ty: &Type| match ty {
            Type::Enum(name) => Schema::get()
                .enum_def(name)
                .and_then(|e| e.values.first())
                .map_or_else(|| Value::zero(ty), |v| Value::str(*v)),
            _ => Value::zero(ty),
        };
        self.class(class).fields.iter().map(|f| f.default_value().unwrap_or_else(|| zero(&f.ty))).collect()
    }

    /// Finds an object by ref.
    pub fn get(&self, r: &str) -> Option<(usize, &Object)> {
        let c = *self.class_of.get(r)?;
        self.tables[c].get(r).map(|o| (c, o))
    }

    /// Finds an object by ref and checks its class, failing with HANDLE_INVALID.
    pub fn expect(&self, class: usize, r: &str) -> ApiResult<&Object> {
        match self.get(r) {
            Some((c, o)) if c == class => Ok(o),
            _ => Err(Failure::new("HANDLE_INVALID", [self.class(class).name(), r])),
        }
    }

    /// Reads one field of an object of a known class.
    pub fn field(&self, r: &str, name: &str) -> Option<&Value> {
        let (c, o) = self.get(r)?;
        let pos = self.class(c).field_pos(name)?;
        o.fields.get(pos)
    }

    /// Reads a string-like field, or "" when absent.
    pub fn field_str(&self, r: &str, name: &str) -> &str {
        self.field(r, name).and_then(Value::as_str).unwrap_or("")
    }

    /// Whether `r` names a live object of the given class.
    pub fn is_a(&self, r: &str, class: usize) -> bool {
        self.class_of.get(r) == Some(&class)
    }

    /// Looks an object up by uuid within a class.
    pub fn by_uuid(&self, class: usize, uuid: &str) -> Option<&str> {
        let r = self.uuids.get(uuid)?;
        (self.class_of.get(r) == Some(&class)).then_some(r.as_str())
    }

    /// Iterates over a class's objects in creation order.
    pub fn iter(&self, class: usize) -> impl Iterator<Item = (&String, &Object)> {
        self.tables[class].iter()
    }

    /// Number of live objects of a class.
    pub fn count(&self, class: usize) -> usize {
        self.tables[class].len()
    }

    /// Renders an object's fields as a wire record.
    pub fn record(&self, class: usize, fields: &[Value]) -> Value {
        let names = self.class(class).fields.iter().map(|f| f.name().to_string());
        Value::Struct(names.zip(fields.iter().cloned()).collect())
    }

    /// Inserts a new object with a complete record; fills in an empty uuid.
    pub fn insert(&mut self, class: usize, r: String, mut fields: Vec<Value>) -> String {
        if let Some(pos) = self.class(class).field_pos("uuid") {
            if fields[pos].as_str().is_none_or(str::is_empty) {
                fields[pos] = Value::String(self.new_uuid());
            }
            if let Some(u) = fields[pos].as_str() {
                self.uuids.insert(u.to_string(), r.clone());
            }
        }
        let id = self.bump();
        self.class_of.insert(r.clone(), class);
        self.tables[class].insert(r.clone(), Object { fields, created: id, modified: id });
        self.changes.insert(id, r.clone());
        self.log(id, class, Operation::Add, &r);
        for i in 0..self.rel_by_ref_class[class].len() {
            let rel = self.relations[self.rel_by_ref_class[class][i]];
            let target = self.tables[class][&r].fields[rel.ref_field].as_str().unwrap_or("").to_string();
            self.link(rel, &target, &r, true);
        }
        r
    }

    /// Creates an object from a partial record keyed by field name; missing
    /// fields take their defaults. Returns the new ref.
    pub fn create(&mut self, class: usize, members: Vec<(&str, Value)>) -> String {
        let mut fields = self.blank_record(class);
        for (name, v) in members {
            if let Some(pos) = self.class(class).field_pos(name) {
                fields[pos] = v;
            }
        }
        let r = self.new_ref();
        self.insert(class, r, fields)
    }

    /// Sets one field, keeping two-way references consistent.
    pub fn set(&mut self, r: &str, pos: usize, v: Value) {
        let Some(&class) = self.class_of.get(r) else {
            return;
        };
        if self.tables[class][r].fields[pos] == v {
            return;
        }
        let rels: Vec<ResolvedRelation> = self.rel_by_ref_class[class]
            .iter()
            .map(|&i| self.relations[i])
            .filter(|rel| rel.ref_field == pos)
            .collect();
        let old = std::mem::replace(&mut self.tables[class].get_mut(r).expect("live object").fields[pos], v);
        if pos == self.class(class).field_pos("uuid").unwrap_or(usize::MAX) {
            if let Some(o) = old.as_str() {
                self.uuids.remove(o);
            }
            if let Some(n) = self.tables[class][r].fields[pos].as_str() {
                self.uuids.insert(n.to_string(), r.to_string());
            }
        }
        for rel in rels {
            self.unlink(rel, old.as_str().unwrap_or(""), r);
            let new = self.tables[class][r].fields[pos].as_str().unwrap_or("").to_string();
            self.link(rel, &new, r, false);
        }
        self.touch(r);
    }

    /// Sets a field by name; unknown names are ignored.
    pub fn set_named(&mut self, r: &str, name: &str, v: Value) {
        if let Some((c, _)) = self.get(r) {
            if let Some(pos) = self.class(c).field_pos(name) {
                self.set(r, pos, v);
            }
        }
    }

    /// Destroys an object: unlinks it from the sets that list it and leaves a
    /// tombstone for `event.from`. Refs to it elsewhere dangle, as in xapi.
    pub fn destroy(&mut self, r: &str) {
        let Some(class) = self.class_of.remove(r) else {
            return;
        };
        let Some(obj) = self.tables[class].shift_remove(r) else {
            return;
        };
        for i in 0..self.rel_by_ref_class[class].len() {
            let rel = self.relations[self.rel_by_ref_class[class][i]];
            self.unlink(rel, obj.fields[rel.ref_field].as_str().unwrap_or(""), r);
        }
        if let Some(pos) = self.class(class).field_pos("uuid") {
            if let Some(u) = obj.fields[pos].as_str() {
                self.uuids.remove(u);
            }
        }
        self.changes.remove(&obj.modified);
        let id = self.bump();
        self.changes.insert(id, r.to_string());
        self.tombstones
            .insert(r.to_string(), Tombstone { class, snapshot: obj.fields, created: obj.created, deleted: id });
        self.log(id, class, Operation::Del, r);
        if self.tombstones.len() > TOMBSTONE_CAPACITY {
            self.prune_tombstones();
        }
    }

    fn prune_tombstones(&mut self) {
        let mut ids: Vec<u64> = self.tombstones.values().map(|t| t.deleted).collect();
        ids.sort_unstable();
        let cutoff = ids[ids.len() / 2];
        let dead: Vec<String> =
            self.tombstones.iter().filter(|(_, t)| t.deleted < cutoff).map(|(r, _)| r.clone()).collect();
        for r in dead {
            if let Some(t) = self.tombstones.remove(&r) {
                self.changes.remove(&t.deleted);
            }
        }
    }

    /// Adds `member` to `target`'s set; a brand-new member cannot be there yet.
    fn link(&mut self, rel: ResolvedRelation, target: &str, member: &str, fresh: bool) {
        if target == NULL_REF || self.class_of.get(target) != Some(&rel.set_class) {
            return;
        }
        let obj = self.tables[rel.set_class].get_mut(target).expect("live target");
        if let Value::Array(items) = &mut obj.fields[rel.set_field] {
            if fresh || !items.iter().any(|v| v.as_str() == Some(member)) {
                items.push(Value::String(member.to_string()));
            }
        }
        self.touch(target);
    }

    fn unlink(&mut self, rel: ResolvedRelation, target: &str, member: &str) {
        if self.class_of.get(target) != Some(&rel.set_class) {
            return;
        }
        let obj = self.tables[rel.set_class].get_mut(target).expect("live target");
        if let Value::Array(items) = &mut obj.fields[rel.set_field] {
            items.retain(|v| v.as_str() != Some(member));
        }
        self.touch(target);
    }

    fn bump(&mut self) -> u64 {
        self.event_id += 1;
        self.event_id
    }

    /// Records a modification of a live object.
    pub fn touch(&mut self, r: &str) {
        let Some(&class) = self.class_of.get(r) else {
            return;
        };
        let id = self.bump();
        let obj = self.tables[class].get_mut(r).expect("live object");
        let old = std::mem::replace(&mut obj.modified, id);
        self.changes.remove(&old);
        self.changes.insert(id, r.to_string());
        self.log(id, class, Operation::Mod, r);
    }

    fn log(&mut self, id: u64, class: usize, op: Operation, r: &str) {
        if !self.transient[class] && self.dirty.last().map(String::as_str) != Some(r) {
            self.dirty.push(r.to_string());
        }
        if self.journal.len() >= self.journal_capacity.max(1) {
            self.journal.pop_front();
        }
        self.journal.push_back(JournalEntry { id, class, op, obj_ref: r.to_string(), timestamp: (self.clock)() });
    }

    /// Returns and clears the refs of persistent objects changed since the last call.
    pub fn take_dirty(&mut self) -> Vec<String> {
        let mut d = std::mem::take(&mut self.dirty);
        d.sort_unstable();
        d.dedup();
        d
    }

    /// Whether objects of this class are persisted.
    pub fn is_transient(&self, class: usize) -> bool {
        self.transient[class]
    }

    /// Changes after `since`, oldest first: (id, ref, class, op, fields).
    pub fn changes_since(&self, since: u64) -> Vec<(u64, &str, usize, Operation, &[Value])> {
        let mut out = Vec::new();
        for (&id, r) in self.changes.range(since + 1..) {
            if let Some((c, o)) = self.get(r) {
                let op = if o.created > since { Operation::Add } else { Operation::Mod };
                out.push((id, r.as_str(), c, op, o.fields.as_slice()));
            } else if let Some(t) = self.tombstones.get(r) {
                out.push((id, r.as_str(), t.class, Operation::Del, t.snapshot.as_slice()));
            }
        }
        out
    }

    /// The deletion id, class and last fields of a recently destroyed object.
    pub fn tombstone(&self, r: &str) -> Option<(u64, usize, &[Value])> {
        self.tombstones.get(r).map(|t| (t.deleted, t.class, t.snapshot.as_slice()))
    }

    /// The oldest event id still in the journal, if any.
    pub fn journal_start(&self) -> Option<u64> {
        self.journal.front().map(|e| e.id)
    }

    /// Journal entries after `since`, oldest first.
    pub fn journal_since(&self, since: u64) -> impl Iterator<Item = &JournalEntry> {
        let start = self.journal.partition_point(|e| e.id <= since);
        self.journal.range(start..)
    }

    /// The fields of a live object, or of its tombstone.
    pub fn snapshot_of(&self, r: &str) -> Option<(usize, &[Value])> {
        if let Some((c, o)) = self.get(r) {
            return Some((c, &o.fields));
        }
        self.tombstones.get(r).map(|t| (t.class, t.snapshot.as_slice()))
    }

    /// Stores a record as it was persisted, replacing any current version,
    /// without relation upkeep or events: persisted records are already consistent.
    pub fn put_raw(&mut self, class: usize, r: String, fields: Vec<Value>) {
        if let Some(pos) = self.class(class).field_pos("uuid") {
            if let Some(u) = fields[pos].as_str() {
                self.uuids.insert(u.to_string(), r.clone());
            }
        }
        self.class_of.insert(r.clone(), class);
        let id = self.event_id;
        self.tables[class].insert(r, Object { fields, created: id, modified: id });
    }

    /// Removes an object as a persisted deletion says, without events.
    pub fn remove_raw(&mut self, r: &str) {
        if let Some(class) = self.class_of.remove(r) {
            if let Some(obj) = self.tables[class].shift_remove(r) {
                if let Some(pos) = self.class(class).field_pos("uuid") {
                    if let Some(u) = obj.fields[pos].as_str() {
                        self.uuids.remove(u);
                    }
                }
            }
        }
    }

    /// Recomputes every two-way set (`VM.VBDs`, `host.resident_VMs`, ...)
    /// from the single refs after records were stored raw: members that
    /// point back keep their order, the others are dropped, and those
    /// missing are appended in creation order. No events.
    pub fn rebuild_relations(&mut self) {
        use std::collections::HashSet;
        for rel in self.relations.clone() {
            let mut members: HashMap<String, Vec<String>> = HashMap::new();
            for (r, o) in &self.tables[rel.ref_class] {
                if let Some(target) = o.fields[rel.ref_field].as_str() {
                    members.entry(target.to_string()).or_default().push(r.clone());
                }
            }
            for (target, o) in self.tables[rel.set_class].iter_mut() {
                let want = members.remove(target.as_str()).unwrap_or_default();
                let mut wanted: HashSet<&str> = want.iter().map(String::as_str).collect();
                let mut set = Vec::with_capacity(want.len());
                if let Some(old) = o.fields[rel.set_field].as_array() {
                    for r in old.iter().filter_map(Value::as_str) {
                        if wanted.remove(r) {
                            set.push(Value::str(r));
                        }
                    }
                }
                set.extend(want.iter().filter(|r| wanted.contains(r.as_str())).map(|r| Value::str(r.as_str())));
                o.fields[rel.set_field] = Value::Array(set);
            }
        }
    }

    /// Rebuilds the change index after a restore so `event.from("")` sees every object.
    pub fn reindex_changes(&mut self) {
        self.changes.clear();
        let mut id = self.event_id;
        for class in 0..self.tables.len() {
            for (r, o) in self.tables[class].iter_mut() {
                id += 1;
                o.created = id;
                o.modified = id;
                self.changes.insert(id, r.clone());
            }
        }
        self.event_id = id;
        self.dirty.clear();
        self.journal.clear();
    }

    /// The datamodel type of a field.
    pub fn field_type(&self, class: usize, pos: usize) -> &'static Type {
        &self.class(class).fields[pos].ty
    }

    // --- typed access by class and field name -------------------------------
    //
    // Absent objects and fields read as zero values ("", 0, false, empty), so
    // rules can follow refs without checking each one.

    /// The index of a class the datamodel must have.
    pub fn cls(&self, name: &str) -> usize {
        self.class_index(name).unwrap_or_else(|| panic!("datamodel has no class {name}"))
    }

    /// Whether `r` is a live object of the named class (the null ref never is).
    pub fn is(&self, r: &str, class: &str) -> bool {
        r != NULL_REF && self.is_a(r, self.cls(class))
    }

    /// Checks that `r` is a live object of the named class, failing with HANDLE_INVALID.
    pub fn expect_is(&self, r: &str, class: &str) -> ApiResult<()> {
        self.expect(self.cls(class), r).map(|_| ())
    }

    /// Every object of the named class, in creation order.
    pub fn all(&self, class: &str) -> Vec<String> {
        self.iter(self.cls(class)).map(|(r, _)| r.clone()).collect()
    }

    /// A string-like field (string, ref, enum, datetime), owned.
    pub fn string(&self, r: &str, name: &str) -> String {
        self.field_str(r, name).to_string()
    }

    pub fn int(&self, r: &str, name: &str) -> i64 {
        self.field(r, name).and_then(Value::as_int).unwrap_or(0)
    }

    pub fn bool(&self, r: &str, name: &str) -> bool {
        self.field(r, name).and_then(Value::as_bool).unwrap_or(false)
    }

    /// A set field (of refs, strings or enums) as owned strings.
    pub fn strings(&self, r: &str, name: &str) -> Vec<String> {
        self.field(r, name)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// A map field as string pairs ([`crate::values::pairs`]).
    pub fn string_map(&self, r: &str, name: &str) -> Vec<(String, String)> {
        self.field(r, name).map(crate::values::pairs).unwrap_or_default()
    }

    /// One key of a string map field.
    pub fn map_get(&self, r: &str, name: &str, key: &str) -> Option<String> {
        self.field(r, name)?.get(key).and_then(Value::as_str).map(str::to_string)
    }

    /// Sets (`Some`) or removes (`None`) one key of a string map field; no
    /// change, no event.
    pub fn map_put(&mut self, r: &str, name: &str, key: &str, v: Option<&str>) {
        let mut m: Vec<(String, Value)> =
            self.field(r, name).and_then(Value::as_struct).map(<[_]>::to_vec).unwrap_or_default();
        let before = m.clone();
        m.retain(|(k, _)| k != key);
        if let Some(v) = v {
            m.push((key.to_string(), Value::str(v)));
        }
        if m != before {
            self.set_named(r, name, Value::Struct(m));
        }
    }

    /// The current time as a datetime value.
    pub fn now(&self) -> Value {
        Value::DateTime((self.clock)())
    }
}

fn class_index(schema: &Schema, name: &str) -> Option<usize> {
    let c = schema.class(name)?;
    schema.classes.iter().position(|x| std::ptr::eq(x, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_way_refs_follow_create_set_and_destroy() {
        let mut db = Db::new(1);
        let vm_c = db.class_index("VM").unwrap();
        let vbd_c = db.class_index("VBD").unwrap();
        let vm = db.create(vm_c, vec![("name_label", Value::str("a"))]);
        let vm2 = db.create(vm_c, vec![]);
        let vbd = db.create(vbd_c, vec![("VM", Value::str(vm.clone()))]);
        assert_eq!(db.field(&vm, "VBDs"), Some(&Value::Array(vec![Value::str(vbd.clone())])));
        db.set_named(&vbd, "VM", Value::str(vm2.clone()));
        assert_eq!(db.field(&vm, "VBDs"), Some(&Value::Array(vec![])));
        assert_eq!(db.field(&vm2, "VBDs"), Some(&Value::Array(vec![Value::str(vbd.clone())])));
        db.destroy(&vbd);
        assert_eq!(db.field(&vm2, "VBDs"), Some(&Value::Array(vec![])));
    }

    #[test]
    fn uuids_are_deterministic_and_indexed() {
        let mut a = Db::new(7);
        let mut b = Db::new(7);
        assert_eq!(a.new_uuid(), b.new_uuid());
        let c = a.class_index("network").unwrap();
        let r = a.create(c, vec![]);
        let u = a.field_str(&r, "uuid").to_string();
        assert_eq!(a.by_uuid(c, &u), Some(r.as_str()));
        assert_eq!(u.len(), 36);
    }

    #[test]
    fn changes_report_add_mod_del() {
        let mut db = Db::new(1);
        let c = db.class_index("network").unwrap();
        let r = db.create(c, vec![]);
        let t = db.event_id();
        db.set_named(&r, "name_label", Value::str("x"));
        let ch = db.changes_since(t);
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].3, Operation::Mod);
        db.destroy(&r);
        let ch = db.changes_since(0);
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].3, Operation::Del);
    }
}
