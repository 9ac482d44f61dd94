//! Writing an XVA (see [`super`]), as xapi's export.ml and stream_vdi.ml
//! write one: [`metadata`] picks the objects of an export and renders
//! `ova.xml` with their references rewritten; [`TarWriter`] writes the V7
//! tar members; [`write_disk`] streams one disk as 1 MiB blocks, each
//! followed by its checksum, leaving out all-zero blocks other than the
//! first and the last.
//!
//! Object ids (`Ref:N`) come from one counter for the whole process, as in
//! xapi, so two exports never share ids. References to objects outside the
//! export become `OpaqueRef:NULL` and reference lists keep only exported
//! objects (xapi does this field by field; here every reference field of
//! a record is treated alike).

use super::{block_checksum, checksum_member, BLOCK};
use crate::db::Db;
use crate::disks::{self, BlockMap};
use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use xenapi::model::Type;
use xenapi::{Value, NULL_REF};

/// The XVA version written (`export_vsn`): inline checksums only.
pub const EXPORT_VSN: i64 = 2;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn make_id() -> String {
    format!("Ref:{}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// Device types an export may leave out (`excluded_device_types`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Excluded {
    pub vif: bool,
    pub vbd: bool,
    pub vgpu: bool,
    pub vtpm: bool,
}

impl Excluded {
    /// A comma list of `vif`, `vbd`, `vgpu`, `vtpm` (any case; empty is
    /// none). `Err` is xapi's message for an unknown name.
    pub fn parse(text: &str) -> Result<Excluded, String> {
        let mut e = Excluded::default();
        if text.is_empty() {
            return Ok(e);
        }
        for name in text.split(',') {
            match name.to_ascii_lowercase().as_str() {
                "vif" => e.vif = true,
                "vbd" => e.vbd = true,
                "vgpu" => e.vgpu = true,
                "vtpm" => e.vtpm = true,
                _ => {
                    return Err(format!(
                        "Importexport.Devicetype.of_string: Type '{name}' not one of [vif; vbd; vgpu; vtpm]"
                    ))
                }
            }
        }
        Ok(e)
    }
}

/// What an export includes and keeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Keep power states, attachment and the suspend image.
    pub preserve_power_state: bool,
    /// Include each VM's snapshots and parent, and keep the snapshot fields
    /// (metadata exports only).
    pub with_snapshot_metadata: bool,
    /// Follow each disk's `sm_config:vhd-parent` chain.
    pub include_vhd_parents: bool,
    pub excluded: Excluded,
}

/// The exported objects: internal ref to `Ref:N`.
pub type Table = HashMap<String, String>;

fn add(table: &mut Table, order: &mut Vec<String>, db: &Db, r: &str) {
    if r != NULL_REF && db.get(r).is_some() && !table.contains_key(r) {
        table.insert(r.to_string(), make_id());
        order.push(r.to_string());
    }
}

fn add_vdi(table: &mut Table, order: &mut Vec<String>, db: &Db, vdi: &str, opts: &Options) {
    if !db.is(vdi, "VDI") || table.contains_key(vdi) {
        return;
    }
    add(table, order, db, vdi);
    add(table, order, db, &db.string(vdi, "SR"));
    if opts.include_vhd_parents {
        if let Some(parent) = db.map_get(vdi, "sm_config", "vhd-parent") {
            if let Some(p) = db.by_uuid(db.cls("VDI"), &parent).map(str::to_string) {
                add_vdi(table, order, db, &p, opts);
            }
        }
    }
}

/// xapi's `update_table`: the VM and everything an export of it carries.
fn walk(table: &mut Table, order: &mut Vec<String>, db: &Db, vm: &str, opts: &Options, snapshots: bool) {
    if !db.is(vm, "VM") || table.contains_key(vm) {
        return;
    }
    add(table, order, db, vm);
    if !opts.excluded.vif {
        for vif in db.strings(vm, "VIFs") {
            if db.is(&vif, "VIF") {
                add(table, order, db, &vif);
                add(table, order, db, &db.string(&vif, "network"));
            }
        }
    }
    if !opts.excluded.vbd {
        for vbd in db.strings(vm, "VBDs") {
            if db.is(&vbd, "VBD") {
                add(table, order, db, &vbd);
                if !db.bool(&vbd, "empty") {
                    add_vdi(table, order, db, &db.string(&vbd, "VDI"), opts);
                }
            }
        }
    }
    if !opts.excluded.vgpu {
        for vgpu in db.strings(vm, "VGPUs") {
            if db.is(&vgpu, "VGPU") {
                add(table, order, db, &vgpu);
                add(table, order, db, &db.string(&vgpu, "type"));
                add(table, order, db, &db.string(&vgpu, "GPU_group"));
            }
        }
    }
    let vifs = db.strings(vm, "VIFs");
    if let Some(c) = db.class_index("PVS_proxy") {
        let proxies: Vec<String> = db.iter(c).map(|(r, _)| r.clone()).collect();
        for p in proxies {
            if vifs.contains(&db.string(&p, "VIF")) {
                add(table, order, db, &p);
                add(table, order, db, &db.string(&p, "site"));
            }
        }
    }
    if !opts.excluded.vtpm {
        for vtpm in db.strings(vm, "VTPMs") {
            add(table, order, db, &vtpm);
        }
    }
    if snapshots {
        for snap in db.strings(vm, "snapshots") {
            walk(table, order, db, &snap, opts, false);
        }
    }
    let suspend = db.string(vm, "suspend_VDI");
    if opts.preserve_power_state && db.field_str(vm, "power_state") == "Suspended" {
        add_vdi(table, order, db, &suspend, opts);
    }
    for field in ["metrics", "guest_metrics", "resident_on", "affinity"] {
        add(table, order, db, &db.string(vm, field));
    }
    if snapshots {
        walk(table, order, db, &db.string(vm, "parent"), opts, false);
    }
}

/// The classes of an export, in the order xapi lists their objects.
const CLASSES: &[&str] = &[
    "host",
    "VM",
    "VM_metrics",
    "VM_guest_metrics",
    "VBD",
    "VIF",
    "network",
    "VDI",
    "SR",
    "VGPU_type",
    "VGPU",
    "GPU_group",
    "PVS_proxy",
    "PVS_site",
    "VTPM",
];

/// A reference rewritten for the export.
fn lookup(table: &Table, r: &str) -> String {
    table.get(r).cloned().unwrap_or_else(|| NULL_REF.to_string())
}

/// A value of type `ty` with its references rewritten: refs to `Ref:N` or
/// NULL, sets of refs filtered, map entries whose ref key is not exported dropped.
fn rewrite(table: &Table, ty: &Type, v: &Value) -> Value {
    match (ty, v) {
        (Type::Ref(_), Value::String(r)) => Value::String(lookup(table, r)),
        (Type::Set(inner), Value::Array(items)) if matches!(**inner, Type::Ref(_)) => Value::Array(
            items
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|r| table.get(r))
                .map(|id| Value::String(id.clone()))
                .collect(),
        ),
        (Type::Map(k, val), Value::Struct(members)) if matches!(**k, Type::Ref(_)) || matches!(**val, Type::Ref(_)) => {
            let key_ref = matches!(**k, Type::Ref(_));
            Value::Struct(
                members
                    .iter()
                    .filter_map(|(key, item)| {
                        let key = if key_ref { table.get(key)?.clone() } else { key.clone() };
                        Some((key, rewrite(table, val, item)))
                    })
                    .collect(),
            )
        }
        _ => v.clone(),
    }
}

/// One record's members, for the edits below.
struct Record(Vec<(String, Value)>);

impl Record {
    fn set(&mut self, name: &str, v: Value) {
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| k == name) {
            slot.1 = v;
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    fn empty_set(&mut self, names: &[&str]) {
        for n in names {
            self.set(n, Value::Array(Vec::new()));
        }
    }

    fn empty_map(&mut self, names: &[&str]) {
        for n in names {
            self.set(n, Value::Struct(Vec::new()));
        }
    }

    fn null(&mut self, names: &[&str]) {
        for n in names {
            self.set(n, Value::str(NULL_REF));
        }
    }

    fn clear_operations(&mut self) {
        self.empty_map(&["current_operations"]);
        self.empty_set(&["allowed_operations"]);
    }
}

/// The exported record of `r` (of class `class`), as xapi's `make_*` edits it.
fn snapshot(db: &Db, table: &Table, class: &str, r: &str, opts: &Options) -> Value {
    let c = db.cls(class);
    let Some((_, o)) = db.get(r) else { return Value::Struct(Vec::new()) };
    let fields = db.class(c).fields.iter().enumerate();
    let mut rec = Record(
        fields.map(|(pos, f)| (f.name().to_string(), rewrite(table, db.field_type(c, pos), &o.fields[pos]))).collect(),
    );
    let pps = opts.preserve_power_state;
    let snap = opts.with_snapshot_metadata;
    match class {
        "host" => {
            rec.empty_set(&[
                "PIFs",
                "PBDs",
                "PGPUs",
                "PCIs",
                "host_CPUs",
                "patches",
                "crashdumps",
                "supported_bootloaders",
                "capabilities",
                "ha_statefiles",
                "ha_network_peers",
                "tags",
            ]);
            rec.empty_map(&[
                "license_params",
                "blobs",
                "external_auth_configuration",
                "logging",
                "cpu_configuration",
                "other_config",
                "software_version",
            ]);
            rec.set("external_auth_type", Value::str(""));
            rec.set("external_auth_service_name", Value::str(""));
            rec.set("sched_policy", Value::str(""));
            rec.null(&["metrics"]);
        }
        "VM" => {
            if !pps {
                rec.set("power_state", Value::str("Halted"));
                rec.null(&["suspend_VDI"]);
            }
            if !snap {
                rec.set("is_a_snapshot", Value::Bool(false));
                rec.null(&["snapshot_of", "parent"]);
                rec.empty_set(&["snapshots"]);
                rec.set("snapshot_time", Value::DateTime(xenapi::datetime::EPOCH.into()));
                rec.set("transportable_snapshot_id", Value::str(""));
            }
            rec.clear_operations();
            rec.empty_set(&["crash_dumps", "consoles"]);
            rec.empty_map(&["blobs"]);
            rec.null(&["protection_policy"]);
        }
        "VIF" | "VBD" => {
            if !pps {
                rec.set("currently_attached", Value::Bool(false));
            }
            rec.null(&["metrics"]);
            rec.clear_operations();
        }
        "network" => {
            rec.empty_set(&["PIFs"]);
            rec.clear_operations();
        }
        "VDI" => {
            rec.empty_set(&["crash_dumps"]);
            rec.clear_operations();
        }
        "SR" => {
            rec.empty_set(&["PBDs"]);
            rec.clear_operations();
        }
        "VGPU" if !pps => rec.set("currently_attached", Value::Bool(false)),
        "GPU_group" => rec.empty_set(&["PGPUs"]),
        "PVS_proxy" => rec.set("currently_attached", Value::Bool(false)),
        "PVS_site" => rec.empty_set(&["cache_storage", "servers"]),
        "VTPM" => {
            // xapi writes a reduced record that carries the TPM's contents.
            let keep = |name: &str| rec.get(name).cloned().unwrap_or(Value::str(""));
            return Value::Struct(vec![
                ("VM".into(), keep("VM")),
                ("uuid".into(), keep("uuid")),
                ("is_unique".into(), rec.get("is_unique").cloned().unwrap_or(Value::Bool(false))),
                ("is_protected".into(), rec.get("is_protected").cloned().unwrap_or(Value::Bool(false))),
                // The simulator keeps no TPM state: its contents are empty.
                ("content".into(), Value::str("")),
            ]);
        }
        _ => {}
    }
    Value::Struct(rec.0)
}

/// `ova.xml`'s `version` struct, from the host's software version.
pub fn version(db: &Db, host: &str) -> Value {
    let sv = |k: &str| db.map_get(host, "software_version", k).unwrap_or_default();
    let xapi = sv("xapi");
    let mut parts = xapi.split('.').map(|p| p.parse::<i64>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    Value::Struct(vec![
        ("hostname".into(), Value::String(sv("hostname"))),
        ("date".into(), Value::String(sv("date"))),
        ("product_version".into(), Value::String(sv("product_version"))),
        ("product_brand".into(), Value::String(sv("product_brand"))),
        ("build_number".into(), Value::String(sv("build_number"))),
        ("xapi_major".into(), Value::Int(major)),
        ("xapi_minor".into(), Value::Int(minor)),
        ("export_vsn".into(), Value::Int(EXPORT_VSN)),
    ])
}

/// The objects of an export and its `ova.xml`.
#[derive(Debug)]
pub struct Metadata {
    pub table: Table,
    pub ova_xml: String,
}

/// Picks the objects exported with `vms` and renders `ova.xml`.
pub fn metadata(db: &Db, vms: &[String], opts: &Options, version: Value) -> Metadata {
    let mut table = Table::new();
    let mut order = Vec::new();
    for vm in vms {
        walk(&mut table, &mut order, db, vm, opts, opts.with_snapshot_metadata);
    }
    let mut objects = Vec::new();
    for class in CLASSES {
        let Some(c) = db.class_index(class) else { continue };
        for (r, _) in db.iter(c) {
            let Some(id) = table.get(r) else { continue };
            objects.push(Value::Struct(vec![
                ("class".into(), Value::str(*class)),
                ("id".into(), Value::String(id.clone())),
                ("snapshot".into(), snapshot(db, &table, class, r, opts)),
            ]));
        }
    }
    let header = Value::Struct(vec![("version".into(), version), ("objects".into(), Value::Array(objects))]);
    let mut ova_xml = String::new();
    encode(&mut ova_xml, &header);
    Metadata { table, ova_xml }
}

/// A disk an export streams.
pub struct Disk {
    /// Its `Ref:N`, the directory of its blocks.
    pub id: String,
    pub uuid: String,
    pub size: u64,
}

/// The disks an export of `vm` streams, in the order xapi streams them
/// (string order of their ids): the VM's non-CD disks that were exported
/// and are not on ISO storage, and the suspend image when the power state
/// is preserved.
pub fn streamed_disks(db: &Db, vm: &str, preserve_power_state: bool, table: &Table) -> Vec<Disk> {
    let mut vdis: Vec<String> = db
        .strings(vm, "VBDs")
        .iter()
        .filter(|vbd| db.field_str(vbd, "type") != "CD")
        .map(|vbd| db.string(vbd, "VDI"))
        .collect();
    if preserve_power_state && db.field_str(vm, "power_state") == "Suspended" {
        vdis.insert(0, db.string(vm, "suspend_VDI"));
    }
    let mut disks: Vec<Disk> = Vec::new();
    for vdi in vdis {
        let iso = db.field_str(&db.string(&vdi, "SR"), "content_type") == "iso";
        let Some(id) = table.get(&vdi) else { continue };
        if iso || disks.iter().any(|d| &d.id == id) {
            continue;
        }
        let size = db.int(&vdi, "virtual_size").max(0) as u64;
        disks.push(Disk { id: id.clone(), uuid: db.string(&vdi, "uuid"), size });
    }
    disks.sort_by(|a, b| a.id.cmp(&b.id));
    disks
}

// --- ova.xml ---------------------------------------------------------------------

/// rpclib's XML-RPC text of a value: no declaration, no whitespace,
/// untyped ints and strings, `& < > "` escaped, doubles as `%.16g`.
pub fn encode(out: &mut String, v: &Value) {
    out.push_str("<value>");
    match v {
        Value::Nil => out.push_str("<nil/>"),
        Value::String(s) => escape(out, s),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => {
            out.push_str("<double>");
            out.push_str(&g16(*f));
            out.push_str("</double>");
        }
        Value::Bool(b) => out.push_str(if *b { "<boolean>1</boolean>" } else { "<boolean>0</boolean>" }),
        Value::DateTime(d) => {
            out.push_str("<dateTime.iso8601>");
            escape(out, d);
            out.push_str("</dateTime.iso8601>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>");
            for item in items {
                encode(out, item);
            }
            out.push_str("</data></array>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>");
            for (k, item) in members {
                out.push_str("<member><name>");
                escape(out, k);
                out.push_str("</name>");
                encode(out, item);
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
    }
    out.push_str("</value>");
}

fn escape(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// C's `%.16g`.
fn g16(f: f64) -> String {
    crate::values::c_g(f, 16)
}

// --- tar ---------------------------------------------------------------------------

/// Writes tar members as ocaml-tar's V7 headers do: no `ustar` magic,
/// typeflag NUL, mode 0400, uid and gid 0, each member padded to 512 bytes.
pub struct TarWriter<W: Write> {
    out: W,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> TarWriter<W> {
        TarWriter { out }
    }

    /// One member: its header, `data`, and the padding.
    pub fn member(&mut self, name: &str, data: &[u8], mtime: u64) -> io::Result<()> {
        let mut h = tar::Header::new_old();
        h.set_path(name)?;
        h.set_mode(0o400);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(data.len() as u64);
        h.set_mtime(mtime);
        h.set_cksum();
        self.out.write_all(h.as_bytes())?;
        self.out.write_all(data)?;
        let pad = (512 - data.len() % 512) % 512;
        self.out.write_all(&[0u8; 512][..pad])
    }

    /// The two zero blocks that end the archive; returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 1024])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Streams one disk as `<prefix>/%08d` blocks of [`BLOCK`] bytes (the last
/// one short when the size is not a multiple), each followed by its
/// `.xxhash` member. All-zero blocks are left out, except the first and the
/// last. `done` hears the bytes of disk covered so far, after every block,
/// and may stop the export (a cancel).
pub fn write_disk<W: Write>(
    tar: &mut TarWriter<W>,
    prefix: &str,
    blocks: &BlockMap,
    size: u64,
    done: &mut dyn FnMut(u64) -> io::Result<()>,
) -> io::Result<()> {
    let block = BLOCK as u64;
    let store = disks::BLOCK as u64;
    let count = size.div_ceil(block);
    // The stored block being read (each holds several XVA blocks).
    let mut cached: Option<(u64, bytes::Bytes)> = None;
    for i in 0..count {
        let offset = i * block;
        let len = (size - offset).min(block) as usize;
        let first_or_last = i == 0 || i + 1 == count;
        let index = offset / store;
        let within = (offset % store) as usize;
        let stored = match blocks.get(&index) {
            None => None,
            Some(b) => {
                if cached.as_ref().map(|(k, _)| *k) != Some(index) {
                    cached = Some((index, b.bytes()?));
                }
                cached.as_ref().map(|(_, bytes)| bytes.clone())
            }
        };
        let data: &[u8] = match &stored {
            Some(b) if within < b.len() => &b[within..b.len().min(within + len)],
            _ => &[],
        };
        let zero = data.iter().all(|&b| b == 0);
        if !zero || first_or_last {
            let mut buf = Vec::with_capacity(len);
            buf.extend_from_slice(data);
            buf.resize(len, 0);
            let name = format!("{prefix}/{i:08}");
            tar.member(&name, &buf, 0)?;
            tar.member(&checksum_member(&name), block_checksum(&buf).as_bytes(), 0)?;
        }
        done(offset + len as u64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_c_does_with_16_digits() {
        assert_eq!(g16(1.0), "1");
        assert_eq!(g16(0.5), "0.5");
        assert_eq!(g16(-2.25), "-2.25");
        assert_eq!(g16(0.1), "0.1");
        assert_eq!(g16(1e20), "1e+20");
        assert_eq!(g16(1.5e-7), "1.5e-07");
        assert_eq!(g16(123456789.125), "123456789.125");
    }

    #[test]
    fn ova_xml_is_rpclibs_dialect() {
        let mut out = String::new();
        let v = Value::Struct(vec![
            ("n".into(), Value::Int(2)),
            ("s".into(), Value::str("a<\"b\">&")),
            ("l".into(), Value::Array(vec![Value::Bool(true), Value::Float(0.25)])),
        ]);
        encode(&mut out, &v);
        assert_eq!(
            out,
            "<value><struct><member><name>n</name><value>2</value></member><member><name>s</name>\
             <value>a&lt;&quot;b&quot;&gt;&amp;</value></member><member><name>l</name><value><array><data>\
             <value><boolean>1</boolean></value><value><double>0.25</double></value></data></array></value>\
             </member></struct></value>"
        );
    }

    #[test]
    fn excluded_device_types_are_xapis() {
        let e = Excluded::parse("VIF,vtpm").unwrap();
        assert!(e.vif && e.vtpm && !e.vbd && !e.vgpu);
        assert_eq!(Excluded::parse("").unwrap(), Excluded::default());
        let err = Excluded::parse("vif,pci").unwrap_err();
        assert_eq!(err, "Importexport.Devicetype.of_string: Type 'pci' not one of [vif; vbd; vgpu; vtpm]");
    }

    #[test]
    fn disks_stream_sparse_blocks_and_a_short_last_one() {
        let store = disks::Disks::memory();
        let mut data = vec![0u8; disks::BLOCK];
        data[BLOCK + 7] = 0xAB;
        store.put_block("d", 0, data).unwrap();
        let size = (3 * BLOCK + BLOCK / 2) as u64;
        let mut tar = TarWriter::new(Vec::new());
        let mut seen = Vec::new();
        write_disk(&mut tar, "Ref:9", &store.view("d"), size, &mut |n| {
            seen.push(n);
            Ok(())
        })
        .unwrap();
        let out = tar.finish().unwrap();
        let mut names = Vec::new();
        let mut pos = 0;
        while out[pos] != 0 {
            let name = String::from_utf8_lossy(&out[pos..pos + 100]).trim_end_matches('\0').to_string();
            let len = usize::from_str_radix(std::str::from_utf8(&out[pos + 124..pos + 135]).unwrap(), 8).unwrap();
            let body = &out[pos + 512..pos + 512 + len];
            if let Some(block) = name.strip_suffix(".xxhash") {
                assert_eq!(names.last().map(|(n, _): &(String, Vec<u8>)| n.as_str()), Some(block));
                assert_eq!(body, block_checksum(&names.last().unwrap().1).as_bytes());
            } else {
                names.push((name.clone(), body.to_vec()));
            }
            pos += 512 + len.div_ceil(512) * 512;
        }
        assert_eq!(out.len(), pos + 1024);
        let listed: Vec<(&str, usize)> = names.iter().map(|(n, b)| (n.as_str(), b.len())).collect();
        assert_eq!(listed, [("Ref:9/00000000", BLOCK), ("Ref:9/00000001", BLOCK), ("Ref:9/00000003", BLOCK / 2)]);
        assert_eq!(names[1].1[7], 0xAB);
        assert_eq!(seen.last(), Some(&size));
        assert_eq!(seen.len(), 4, "progress after every block, sent or not");
    }

    #[test]
    fn tar_headers_are_v7_with_xapis_fields() {
        let mut tar = TarWriter::new(Vec::new());
        tar.member("ova.xml", b"hello", 0o1234).unwrap();
        let out = tar.finish().unwrap();
        assert_eq!(out.len(), 512 + 512 + 1024);
        let h = &out[..512];
        assert_eq!(&h[..7], b"ova.xml");
        assert_eq!(&h[100..108], b"0000400\0");
        assert_eq!(&h[108..116], b"0000000\0");
        assert_eq!(&h[124..136], b"00000000005\0");
        assert_eq!(&h[136..148], b"00000001234\0");
        assert_eq!(h[156], 0, "typeflag NUL");
        assert_eq!(&h[257..263], &[0u8; 6], "no ustar magic");
        assert!(out[1024..].iter().all(|&b| b == 0));
    }
}
