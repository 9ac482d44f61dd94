//! Pool membership: which objects go with a host when it joins a pool or
//! leaves one, and moving them from one pool's database to another's.
//!
//! A host takes along what is its own: its record and metrics, its CPUs,
//! its PIFs, the SRs only it sees (with their PBDs and VDIs), its control
//! domain and, when it joins (a standalone host has no running guests, the
//! checks make sure), its halted guests with their devices. References to
//! what stays behind are mapped to the target pool's objects where xapi
//! would find one (networks by bridge, as its join does) and cleared
//! otherwise; a network no object of the target uses by that bridge comes along.

use crate::db::Db;
use std::collections::{HashMap, HashSet};
use xenapi::model::Type;
use xenapi::{Value, NULL_REF};

/// The SRs only `host` sees: not shared, every PBD on it.
pub fn local_srs(db: &Db, host: &str) -> Vec<String> {
    db.all("SR")
        .into_iter()
        .filter(|sr| {
            let pbds = db.strings(sr, "PBDs");
            !db.bool(sr, "shared") && !pbds.is_empty() && pbds.iter().all(|p| db.string(p, "host") == host)
        })
        .collect()
}

/// A VM's own satellites: metrics, guest metrics, consoles, VBDs and VIFs.
fn vm_parts(db: &Db, vm: &str, out: &mut Vec<String>) {
    out.push(vm.to_string());
    for field in ["metrics", "guest_metrics"] {
        let r = db.string(vm, field);
        if db.get(&r).is_some() {
            out.push(r);
        }
    }
    for set in ["consoles", "VBDs", "VIFs"] {
        out.extend(db.strings(vm, set));
    }
}

/// The guests of a standalone pool that go with its host when it joins
/// another: every VM that is neither a template nor a control domain.
pub fn guests(db: &Db) -> Vec<String> {
    db.all("VM").into_iter().filter(|vm| !db.bool(vm, "is_a_template") && !db.bool(vm, "is_control_domain")).collect()
}

/// What belongs to `host`, owners before what they own: the host, its
/// metrics and CPUs, PIFs, local SRs with their PBDs and VDIs, its PBDs,
/// its control domains, and the given guests with their devices.
pub fn host_objects(db: &Db, host: &str, guests: &[String]) -> Vec<String> {
    let mut out = vec![host.to_string()];
    let metrics = db.string(host, "metrics");
    if db.get(&metrics).is_some() {
        out.push(metrics);
    }
    out.extend(db.all("host_cpu").into_iter().filter(|c| db.string(c, "host") == host));
    for pif in db.strings(host, "PIFs") {
        let m = db.string(&pif, "metrics");
        out.push(pif);
        if db.get(&m).is_some() {
            out.push(m);
        }
    }
    for sr in local_srs(db, host) {
        out.push(sr.clone());
        out.extend(db.strings(&sr, "VDIs"));
    }
    out.extend(db.strings(host, "PBDs"));
    let doms: Vec<String> = db
        .all("VM")
        .into_iter()
        .filter(|vm| db.bool(vm, "is_control_domain") && db.string(vm, "resident_on") == host)
        .collect();
    for vm in doms.iter().chain(guests) {
        vm_parts(db, vm, &mut out);
    }
    let mut seen = HashSet::new();
    out.retain(|r| seen.insert(r.clone()));
    out
}

/// The relation fields of a class: (single refs that point back, sets they fill).
fn relation_fields(db: &Db, class: usize) -> (Vec<usize>, Vec<usize>) {
    let name = db.class(class).name();
    let mut refs = Vec::new();
    let mut sets = Vec::new();
    for rel in crate::relations::RELATIONS {
        if rel.ref_class == name {
            refs.extend(db.class(class).field_pos(rel.ref_field));
        }
        if rel.set_class == name {
            sets.extend(db.class(class).field_pos(rel.set_field));
        }
    }
    (refs, sets)
}

/// Copies `objects` (refs and uuids kept) from `src` into `dst` and
/// destroys them in `src`. A reference to an object that neither moves nor
/// exists in `dst` is mapped (networks by bridge) or cleared; a CD drive
/// left without its disc is empty. Two-way sets are rebuilt in `dst` as
/// the references are set, so the events are those of a real change.
pub fn transplant(src: &mut Db, dst: &mut Db, objects: &[String]) {
    let mut moving: Vec<String> = objects.to_vec();
    // Networks the moving PIFs and VIFs use that the target lacks by bridge come too.
    let mut bridge_map: HashMap<String, String> = HashMap::new();
    for r in objects {
        if !(src.is(r, "PIF") || src.is(r, "VIF")) {
            continue;
        }
        let net = src.string(r, "network");
        let bridge = src.string(&net, "bridge");
        if bridge_map.contains_key(&net) || src.get(&net).is_none() {
            continue;
        }
        match dst.all("network").into_iter().find(|n| dst.string(n, "bridge") == bridge) {
            Some(there) => {
                bridge_map.insert(net, there);
            }
            None => {
                bridge_map.insert(net.clone(), net.clone());
                moving.insert(0, net);
            }
        }
    }
    let set: HashSet<&str> = moving.iter().map(String::as_str).collect();
    let resolve = |r: &str, dst: &Db| -> String {
        if r == NULL_REF || r.is_empty() || set.contains(r) || dst.get(r).is_some() {
            return r.to_string();
        }
        bridge_map.get(r).cloned().unwrap_or_else(|| NULL_REF.to_string())
    };
    let mut pending: Vec<(String, usize, Value)> = Vec::new();
    for r in &moving {
        let Some((class, obj)) = src.get(r) else { continue };
        let mut fields = obj.fields.clone();
        let (rel_refs, rel_sets) = relation_fields(src, class);
        for (pos, f) in src.class(class).fields.iter().enumerate() {
            match &f.ty {
                Type::Ref(_) => {
                    let v = resolve(fields[pos].as_str().unwrap_or(NULL_REF), dst);
                    if rel_refs.contains(&pos) && v != NULL_REF {
                        pending.push((r.clone(), pos, Value::String(v)));
                        fields[pos] = Value::str(NULL_REF);
                    } else {
                        fields[pos] = Value::String(v);
                    }
                }
                Type::Set(inner) if matches!(**inner, Type::Ref(_)) => {
                    if rel_sets.contains(&pos) {
                        fields[pos] = Value::Array(Vec::new());
                    } else if let Some(items) = fields[pos].as_array() {
                        let kept = items
                            .iter()
                            .filter_map(Value::as_str)
                            .map(|i| resolve(i, dst))
                            .filter(|i| i != NULL_REF)
                            .map(Value::String)
                            .collect();
                        fields[pos] = Value::Array(kept);
                    }
                }
                _ => {}
            }
        }
        dst.insert(class, r.clone(), fields);
    }
    for (r, pos, v) in pending {
        dst.set(&r, pos, v);
    }
    // A CD drive whose disc stayed behind is empty.
    for r in &moving {
        if dst.is(r, "VBD") && dst.string(r, "VDI") == NULL_REF && !dst.bool(r, "empty") {
            dst.set_named(r, "empty", Value::Bool(true));
        }
    }
    for r in moving.iter().rev() {
        if bridge_map.get(r).is_some_and(|there| there == r) {
            // A network that came along stays for whatever else uses it.
            continue;
        }
        src.destroy(r);
    }
}

/// Destroys objects, last first.
pub fn destroy_all(db: &mut Db, objects: &[String]) {
    for r in objects.iter().rev() {
        db.destroy(r);
    }
}
