//! Reading an XVA back into the pool (see [`super`]), as xapi's import.ml
//! and stream_vdi.ml do: [`open`] finds the wrapping (a plain tar whose
//! first member is `ova.xml`, else zstd by its magic, else gzip), [`Header`]
//! reads `ova.xml`, [`Import::create`] makes the objects in xapi's order
//! with its mapping rules, and [`Import::stream`] writes the disk blocks
//! into the new VDIs, checking every block's checksum.
//!
//! Objects of the classes the simulator's import does not make (VGPU,
//! VGPU_type, GPU_group, PVS_site, PVS_proxy, VTPM) are left out, and a
//! `restore` does not run xapi's backup checks (duplicate MAC seeds, ...).
//!
//! Everything here blocks: the handler runs it on a blocking worker, and
//! API calls go through [`Api`], which waits for the simulator's dispatch.
//! Memory stays constant: one 1 MiB block at a time, and an `ova.xml` of at
//! most [`MAX_OVA_XML`] bytes.

use super::BLOCK;
use crate::core::Core;
use crate::db::{ApiResult, Db, Failure};
use crate::record::coerce;
use std::io::{self, Read};
use std::sync::Arc;
use xenapi::model::Type;
use xenapi::{Value, NULL_REF};

/// The largest `ova.xml` read (xapi reads it whole, too).
pub const MAX_OVA_XML: u64 = 64 << 20;

/// The name of the first member.
pub const OVA_XML: &str = "ova.xml";

fn generic(msg: impl Into<String>) -> Failure {
    Failure::new("IMPORT_ERROR_GENERIC", [msg.into()])
}

fn premature_eof() -> Failure {
    Failure::new::<&str>("IMPORT_ERROR_PREMATURE_EOF", [])
}

/// An error reading the archive: the end of the input is xapi's
/// `End_of_file`, anything else a generic import error.
pub fn read_error(e: &io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => premature_eof(),
        _ => generic(format!("Failure(\"{e}\")")),
    }
}

/// The failure of an object the import needs but cannot find.
fn not_found(id: &str) -> Failure {
    Failure::new("IMPORT_ERROR_FAILED_TO_FIND_OBJECT", [id])
}

// --- the archive ----------------------------------------------------------------

/// How the tar is wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrapping {
    Plain,
    Zstd,
    Gzip,
}

/// Whether 512 bytes are a tar header with a correct checksum.
fn is_tar_header(block: &[u8; 512]) -> bool {
    let header = tar::Header::from_byte_slice(block);
    let Ok(stored) = header.cksum() else { return false };
    let sum: u32 =
        block.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u32::from(b) }).sum();
    stored == sum
}

/// Reads the first 512 bytes and returns the uncompressed tar stream. Like
/// xapi, a first block that is a tar header is a plain archive, else zstd
/// when its magic matches, else gzip. (xapi retries a plain tar whose first
/// member is not `ova.xml` as gzip, which then fails obscurely; here that
/// archive fails with the unexpected member's name, as a compressed one does.)
pub fn open<R: Read + Send + 'static>(mut input: R) -> ApiResult<(Wrapping, Box<dyn Read + Send>)> {
    let mut first = [0u8; 512];
    let mut got = 0;
    while got < first.len() {
        match input.read(&mut first[got..]) {
            Ok(0) => return Err(premature_eof()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(&e)),
        }
    }
    let whole = io::Cursor::new(first.to_vec()).chain(input);
    if is_tar_header(&first) {
        return Ok((Wrapping::Plain, Box::new(whole)));
    }
    if first.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        let decoder = zstd::stream::read::Decoder::new(whole).map_err(|e| generic(format!("zstd: {e}")))?;
        return Ok((Wrapping::Zstd, Box::new(decoder)));
    }
    Ok((Wrapping::Gzip, Box::new(flate2::read::MultiGzDecoder::new(whole))))
}

/// A decompressor's complaint about its input is a bad archive, not a short one.
fn archive_error(wrapping: Wrapping, e: &io::Error) -> Failure {
    match (wrapping, e.kind()) {
        (_, io::ErrorKind::UnexpectedEof) => premature_eof(),
        (Wrapping::Plain, _) => read_error(e),
        (w, _) => generic(format!("{w:?} decompression failed: {e}")),
    }
}

/// A tar member's name as its header spells it.
fn member_name<R: Read>(entry: &tar::Entry<'_, R>) -> String {
    String::from_utf8_lossy(&entry.path_bytes()).into_owned()
}

/// The uncompressed archive.
pub type Input = Box<dyn Read + Send>;

/// The members of an archive, read in order (a tar stream is read once).
pub struct Members<'a> {
    wrapping: Wrapping,
    entries: tar::Entries<'a, Input>,
}

/// One member: its name, size and bytes.
pub struct Member<'a> {
    pub name: String,
    pub size: u64,
    wrapping: Wrapping,
    entry: tar::Entry<'a, Input>,
}

impl Member<'_> {
    /// Reads the member whole into `buf`; it may be at most `limit` bytes.
    fn read_into(&mut self, buf: &mut Vec<u8>, limit: u64) -> ApiResult<()> {
        if self.size > limit {
            let why = format!("Failure(\"the member {} is {} bytes, more than {limit}\")", self.name, self.size);
            return Err(generic(why));
        }
        buf.clear();
        buf.resize(self.size as usize, 0);
        let wrapping = self.wrapping;
        self.entry.read_exact(buf).map_err(|e| archive_error(wrapping, &e))
    }
}

/// Runs `f` over the members of the archive `input`; then, when `f`
/// succeeded and `drain` is set, reads what follows the archive to the end
/// of the input (as xapi drains a metadata import's body), so that the
/// client can finish sending.
pub fn with_members<T>(
    wrapping: Wrapping,
    input: Input,
    drain: bool,
    f: impl FnOnce(&mut Members<'_>) -> ApiResult<T>,
) -> ApiResult<T> {
    let mut archive = tar::Archive::new(input);
    let result = {
        let entries = archive.entries().map_err(|e| archive_error(wrapping, &e))?;
        f(&mut Members { wrapping, entries })
    };
    if result.is_ok() && drain {
        let _ = io::copy(&mut archive.into_inner(), &mut io::sink());
    }
    result
}

impl<'a> Members<'a> {
    /// The next member; the end of the archive is a premature end.
    pub fn next_member(&mut self) -> ApiResult<Member<'a>> {
        let wrapping = self.wrapping;
        let entry = match self.entries.next() {
            None => return Err(premature_eof()),
            Some(e) => e.map_err(|e| archive_error(wrapping, &e))?,
        };
        let size = entry.header().size().map_err(|e| archive_error(wrapping, &e))?;
        Ok(Member { name: member_name(&entry), size, wrapping, entry })
    }

    /// Reads `ova.xml`, which must be the first member.
    pub fn ova_xml(&mut self) -> ApiResult<Vec<u8>> {
        let mut m = self.next_member()?;
        if m.name != OVA_XML {
            return Err(Failure::new("IMPORT_ERROR_UNEXPECTED_FILE", [OVA_XML, m.name.as_str()]));
        }
        let mut xml = Vec::new();
        m.read_into(&mut xml, MAX_OVA_XML)?;
        Ok(xml)
    }

    /// Reads the rest of the archive to its end.
    pub fn drain(&mut self) -> ApiResult<()> {
        let wrapping = self.wrapping;
        for e in self.entries.by_ref() {
            let mut e = e.map_err(|e| archive_error(wrapping, &e))?;
            io::copy(&mut e, &mut io::sink()).map_err(|e| archive_error(wrapping, &e))?;
        }
        Ok(())
    }
}

// --- ova.xml --------------------------------------------------------------------

/// One exported object.
#[derive(Debug, Clone)]
pub struct Obj {
    pub class: String,
    pub id: String,
    pub snapshot: Value,
}

impl Obj {
    fn get(&self, name: &str) -> Option<&Value> {
        self.snapshot.as_struct()?.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    fn str(&self, name: &str) -> &str {
        self.get(name).and_then(Value::as_str).unwrap_or("")
    }

    fn bool(&self, name: &str) -> bool {
        match self.get(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true" || s == "1",
            Some(Value::Int(i)) => *i == 1,
            _ => false,
        }
    }

    fn int(&self, name: &str) -> i64 {
        match self.get(name) {
            Some(Value::Int(i)) => *i,
            Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
            _ => 0,
        }
    }

    fn map(&self, name: &str) -> Vec<(String, String)> {
        match self.get(name) {
            Some(Value::Struct(m)) => {
                m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_default())).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// `ova.xml`: the exporter's version and the objects.
#[derive(Debug, Clone)]
pub struct Header {
    pub xapi_major: i64,
    pub xapi_minor: i64,
    /// 0 when absent.
    pub export_vsn: i64,
    pub objects: Vec<Obj>,
}

fn member<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_struct()?.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn int_of(v: Option<&Value>) -> Option<i64> {
    v.cloned().and_then(|v| v.coerce(&Type::Int).ok()).and_then(|v| v.as_int())
}

impl Header {
    /// Parses `ova.xml`: one XML-RPC value whose ints carry no type tag.
    pub fn parse(xml: &[u8]) -> ApiResult<Header> {
        let malformed = |why: &str| generic(format!("Failure(\"ova.xml: {why}\")"));
        let top = decode_value(xml).map_err(|e| malformed(&e))?;
        let version = member(&top, "version").ok_or_else(|| malformed("no version"))?;
        let xapi_major = int_of(member(version, "xapi_major")).ok_or_else(|| malformed("no xapi_major"))?;
        let xapi_minor = int_of(member(version, "xapi_minor")).ok_or_else(|| malformed("no xapi_minor"))?;
        let export_vsn = int_of(member(version, "export_vsn")).unwrap_or(0);
        let Some(Value::Array(items)) = member(&top, "objects") else { return Err(malformed("no objects")) };
        let mut objects = Vec::with_capacity(items.len());
        for item in items {
            let text = |name: &str| member(item, name).and_then(Value::as_str).map(str::to_string);
            let (Some(class), Some(id), Some(snapshot)) = (text("class"), text("id"), member(item, "snapshot")) else {
                return Err(malformed("an object without class, id or snapshot"));
            };
            objects.push(Obj { class, id, snapshot: snapshot.clone() });
        }
        Ok(Header { xapi_major, xapi_minor, export_vsn, objects })
    }

    fn find(&self, id: &str) -> ApiResult<&Obj> {
        self.objects.iter().find(|o| o.id == id).ok_or_else(|| not_found(id))
    }

    fn of_class<'a>(&'a self, class: &'a str) -> impl Iterator<Item = &'a Obj> + 'a {
        self.objects.iter().filter(move |o| o.class == class)
    }

    /// The VDIs whose blocks follow, as xapi's `non_cdrom_vdis` finds
    /// them: those of non-CD VBDs outside ISO SRs, and suspend images.
    fn streamed_vdis(&self) -> Vec<&Obj> {
        let disk_vdis: Vec<&str> = self
            .of_class("VBD")
            .filter(|vbd| !vbd.str("type").eq_ignore_ascii_case("CD"))
            .map(|vbd| vbd.str("VDI"))
            .filter(|vdi| {
                let sr = self.find(vdi).map(|v| v.str("SR").to_string()).unwrap_or_default();
                self.find(&sr).map(|s| s.str("content_type") != "iso").unwrap_or(false)
            })
            .collect();
        self.of_class("VDI").filter(|v| disk_vdis.contains(&v.id.as_str()) || v.str("type") == "suspend").collect()
    }
}

/// The simulator's xapi version, from the master's `software_version`.
fn this_version(db: &Db) -> (i64, i64) {
    let master = crate::rules::pool::master(db);
    let text = db.map_get(&master, "software_version", "xapi").unwrap_or_default();
    let mut parts = text.split('.').map(|p| p.parse::<i64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// xapi refuses an export from a newer xapi (by major, then minor).
pub fn assert_compatible(db: &Db, header: &Header) -> ApiResult<()> {
    let (major, minor) = this_version(db);
    if (major, minor) < (header.xapi_major, header.xapi_minor) {
        return Err(Failure::new::<&str>("IMPORT_INCOMPATIBLE_VERSION", []));
    }
    Ok(())
}

// --- creating the objects -------------------------------------------------------

/// What kind of import.
#[derive(Debug, Clone)]
pub enum Kind {
    /// `/import`: disks are created in `sr` and their blocks follow.
    Full { sr: String },
    /// `/import_metadata`: disks are existing ones, found by the rules of
    /// xapi's metadata import; `vdi_map` maps exported uuids or SCSIids to
    /// existing uuids or SCSIids.
    Metadata { dry_run: bool, vdi_map: Vec<(String, String)> },
}

/// The import's options.
#[derive(Debug, Clone)]
pub struct Config {
    pub kind: Kind,
    /// `restore`: keep uuids and MACs, replace a VM of the same uuid.
    pub restore: bool,
    /// `force`: ignore checksum failures and skip what cannot be matched;
    /// nothing is cleaned up after a failure.
    pub force: bool,
}

impl Config {
    fn dry_run(&self) -> bool {
        matches!(self.kind, Kind::Metadata { dry_run: true, .. })
    }
}

/// Makes API calls as the importing session, from a blocking thread.
pub struct Api {
    pub core: Arc<Core>,
    pub session: String,
    pub runtime: tokio::runtime::Handle,
}

impl Api {
    fn call(&self, method: &str, args: Vec<Value>) -> ApiResult<Value> {
        let mut params = vec![Value::str(&self.session)];
        params.extend(args);
        self.runtime.block_on(crate::rpc::dispatch(&self.core, method, params))
    }

    fn create(&self, class: &str, record: Vec<(String, Value)>) -> ApiResult<String> {
        match self.call(&format!("{class}.create"), vec![Value::Struct(record)])? {
            Value::String(r) => Ok(r),
            other => Err(generic(format!("{class}.create answered {other:?}"))),
        }
    }

    fn write<T>(&self, f: impl FnOnce(&mut Db) -> ApiResult<T>) -> ApiResult<T> {
        self.core.write(f)
    }
}

/// What an import made, to undo after a failure.
#[derive(Debug, Clone)]
enum Made {
    Vm(String),
    Vdi(String),
    Network(String),
    Vbd(String),
    Vif(String),
}

/// A streamed disk: its id in the archive (the block members' prefix),
/// the VDI written and the bytes to write.
#[derive(Debug, Clone)]
pub struct Stream {
    pub id: String,
    pub vdi: String,
    pub size: u64,
    /// The disk was just made and reads as zeros: blocks of zeros need no
    /// writing. Into an existing disk every block sent is written.
    pub fresh: bool,
}

/// An import in progress: the table from exported ids to local refs.
pub struct Import {
    pub api: Api,
    pub task: String,
    pub config: Config,
    pub header: Header,
    table: Vec<(String, String, String)>,
    created_vms: Vec<String>,
    made: Vec<Made>,
    /// VMs whose `snapshot_of` and `parent` name exported ids, set once all exist.
    links: Vec<(String, String, String)>,
}

impl Import {
    pub fn new(api: Api, task: &str, config: Config, header: Header) -> Import {
        Import {
            api,
            task: task.to_string(),
            config,
            header,
            table: Vec::new(),
            created_vms: Vec::new(),
            made: Vec::new(),
            links: Vec::new(),
        }
    }

    fn lookup(&self, id: &str) -> ApiResult<String> {
        self.table.iter().find(|(_, i, _)| i == id).map(|(_, _, r)| r.clone()).ok_or_else(|| not_found(id))
    }

    fn exists(&self, id: &str) -> bool {
        self.table.iter().any(|(_, i, _)| i == id)
    }

    fn map(&mut self, obj: &Obj, local: &str) {
        self.table.push((obj.class.clone(), obj.id.clone(), local.to_string()));
    }

    /// A record for a constructor: every field of the snapshot with exported
    /// references translated to local ones (or NULL: the object was left out).
    fn record(&self, class: &str, obj: &Obj) -> Vec<(String, Value)> {
        let schema = xenapi::model::Schema::get();
        let Some(cls) = schema.class(class) else { return Vec::new() };
        let mut out = Vec::new();
        for (name, v) in obj.snapshot.as_struct().unwrap_or(&[]) {
            let Some(field) = cls.fields.iter().find(|f| f.name() == name) else { continue };
            let v = match &field.ty {
                Type::Ref(_) => Value::String(self.local_ref(v.as_str().unwrap_or(NULL_REF))),
                Type::Set(inner) if matches!(**inner, Type::Ref(_)) => match v {
                    Value::Array(items) => Value::Array(
                        items
                            .iter()
                            .filter_map(|i| i.as_str())
                            .map(|i| self.local_ref(i))
                            .filter(|r| r != NULL_REF)
                            .map(Value::String)
                            .collect(),
                    ),
                    _ => Value::Array(Vec::new()),
                },
                _ => v.clone(),
            };
            out.push((name.clone(), v));
        }
        out
    }

    fn local_ref(&self, id: &str) -> String {
        self.lookup(id).unwrap_or_else(|_| NULL_REF.to_string())
    }

    /// Creates every object, in xapi's order of classes. On failure
    /// (unless `force`) what was made is destroyed again.
    pub fn create(&mut self) -> ApiResult<()> {
        let result = self.create_all();
        if result.is_err() {
            self.cleanup();
        }
        result
    }

    fn create_all(&mut self) -> ApiResult<()> {
        let header = self.header.clone();
        for class in ["host", "SR", "VDI", "VM_guest_metrics", "VM_metrics", "VM", "network", "VBD", "VIF"] {
            for obj in header.of_class(class) {
                match class {
                    "host" => self.host(obj),
                    "SR" => self.sr(obj),
                    "VDI" => self.vdi(obj)?,
                    "VM_guest_metrics" | "VM_metrics" => self.metrics(obj)?,
                    "VM" => self.vm(obj)?,
                    "network" => self.network(obj)?,
                    "VBD" => self.vbd(obj)?,
                    _ => self.vif(obj)?,
                }
            }
        }
        if !self.config.dry_run() {
            self.link_snapshots()?;
        }
        Ok(())
    }

    /// Undoes what was made, newest first, unless `force` (xapi leaves it then).
    pub fn cleanup(&mut self) {
        if self.config.force {
            return;
        }
        let made = std::mem::take(&mut self.made);
        for m in made.into_iter().rev() {
            let _ = match m {
                Made::Vm(vm) => {
                    let _ = self.api.write(|db| {
                        if db.is(&vm, "VM") {
                            db.set_named(&vm, "current_operations", Value::Struct(Vec::new()));
                            db.set_named(&vm, "power_state", Value::str("Halted"));
                            db.set_named(&vm, "suspend_VDI", Value::str(NULL_REF));
                            crate::rules::vm::update_allowed_operations(db, &vm);
                        }
                        Ok(())
                    });
                    self.api.call("VM.destroy", vec![Value::String(vm)])
                }
                Made::Vdi(vdi) => self.api.call("VDI.destroy", vec![Value::String(vdi)]),
                Made::Network(n) => self.api.call("network.destroy", vec![Value::String(n)]),
                Made::Vbd(r) | Made::Vif(r) => self.api.write(|db| {
                    if db.get(&r).is_some() {
                        db.destroy(&r);
                    }
                    Ok(Value::str(""))
                }),
            };
        }
    }

    fn host(&mut self, obj: &Obj) {
        let found = {
            let db = self.api.core.db.read();
            db.by_uuid(db.cls("host"), obj.str("uuid")).map(str::to_string)
        };
        self.map(obj, &found.unwrap_or_else(|| NULL_REF.to_string()));
    }

    fn sr(&mut self, obj: &Obj) {
        let local = match &self.config.kind {
            Kind::Metadata { .. } => {
                let db = self.api.core.db.read();
                db.by_uuid(db.cls("SR"), obj.str("uuid")).map(str::to_string)
            }
            Kind::Full { .. } if obj.str("content_type") == "iso" => None,
            Kind::Full { sr } => Some(sr.clone()),
        };
        if let Some(sr) = local {
            self.map(obj, &sr);
        }
    }

    fn vdi(&mut self, obj: &Obj) -> ApiResult<()> {
        let original_sr = self.header.find(obj.str("SR"))?;
        if original_sr.str("content_type") == "iso" {
            // Best effort: the same ISO (by location) in any ISO SR here, else eject.
            let db = self.api.core.db.read();
            let found = db.all("VDI").into_iter().find(|v| {
                let sr = db.string(v, "SR");
                db.string(v, "location") == obj.str("location")
                    && db.is(&sr, "SR")
                    && db.string(&sr, "content_type") == "iso"
                    && db.string(&sr, "type") != "udev"
            });
            drop(db);
            if let Some(v) = found {
                self.map(obj, &v);
            }
            return Ok(());
        }
        match self.config.kind.clone() {
            Kind::Full { .. } => {
                let sr = self.lookup(obj.str("SR"))?;
                if self.config.dry_run() {
                    return Ok(());
                }
                let mut record = self.record("VDI", obj);
                set(&mut record, "SR", Value::str(&sr));
                let mut sm = obj.map("sm_config");
                sm.retain(|(k, _)| k != "import_task");
                sm.insert(0, ("import_task".into(), self.task.clone()));
                set(&mut record, "sm_config", crate::values::smap(&sm));
                let vdi = self.api.create("VDI", record)?;
                self.made.push(Made::Vdi(vdi.clone()));
                self.map(obj, &vdi);
            }
            Kind::Metadata { vdi_map, .. } => {
                if let Some(vdi) = self.match_vdi(obj, &vdi_map)? {
                    if !self.config.dry_run() {
                        // xapi copies the key it keeps in sync from the export.
                        let oc = obj.map("other_config");
                        let key = "config-drive";
                        let v = oc.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
                        self.api.write(|db| {
                            db.map_put(&vdi, "other_config", key, v.as_deref());
                            Ok(())
                        })?;
                    }
                    self.map(obj, &vdi);
                }
            }
        }
        Ok(())
    }

    /// The existing disk an exported one stands for, by xapi's rules: the
    /// `vdi:` map (by uuid or SCSIid, to a uuid or SCSIid), the SCSIid, the
    /// SR and location, the `maps_to` key. `Ok(None)` skips it (`force`).
    fn match_vdi(&self, obj: &Obj, vdi_map: &[(String, String)]) -> ApiResult<Option<String>> {
        let db = self.api.core.db.read();
        let scsiid = |v: &str| db.map_get(v, "sm_config", "SCSIid");
        let all = db.all("VDI");
        let by_uuid = |u: &str| all.iter().find(|v| db.string(v, "uuid") == u).cloned();
        let by_scsiid = |s: &str| all.iter().find(|v| scsiid(v).as_deref() == Some(s)).cloned();
        let exported_scsiid = obj.map("sm_config").into_iter().find(|(k, _)| k == "SCSIid").map(|(_, v)| v);
        let mapped = vdi_map
            .iter()
            .find(|(k, _)| k == obj.str("uuid"))
            .or_else(|| exported_scsiid.as_ref().and_then(|s| vdi_map.iter().find(|(k, _)| k == s)))
            .map(|(_, v)| v.clone());
        let by_map = match mapped {
            Some(dest) => by_uuid(&dest).or_else(|| by_scsiid(&dest)),
            None => exported_scsiid.as_deref().and_then(by_scsiid),
        };
        if by_map.is_some() {
            return Ok(by_map);
        }
        let maps_to = obj.map("other_config").into_iter().find(|(k, _)| k == "maps_to").map(|(_, v)| v);
        let sr = self.lookup(obj.str("SR")).ok();
        let by_location = sr.as_ref().and_then(|sr| {
            all.iter().find(|v| db.string(v, "SR") == *sr && db.string(v, "location") == obj.str("location")).cloned()
        });
        if let Some(v) = by_location.or_else(|| maps_to.filter(|m| db.is(m, "VDI"))) {
            return Ok(Some(v));
        }
        if self.config.force {
            return Ok(None);
        }
        match sr {
            Some(sr) => Err(Failure::new("VDI_LOCATION_MISSING", [sr.as_str(), obj.str("location")])),
            None => Err(Failure::new::<&str>("VDI_CONTENT_ID_MISSING", [])),
        }
    }

    fn metrics(&mut self, obj: &Obj) -> ApiResult<()> {
        if self.config.dry_run() {
            self.map(obj, "OpaqueRef:dry-run");
            return Ok(());
        }
        let record = self.record(&obj.class, obj);
        let class = obj.class.clone();
        let r = self.api.write(|db| {
            let idx = db.cls(&class);
            let mut rec = crate::record::Rec::blank(db, idx);
            for (name, v) in &record {
                let Some(field) = rec.class.fields.iter().find(|f| f.name() == name) else { continue };
                if name == "uuid" {
                    continue;
                }
                if let Some(v) = coerce(v.clone(), &field.ty) {
                    rec.set(name, v);
                }
            }
            let uuid = db.new_uuid();
            rec.set("uuid", Value::String(uuid));
            Ok(rec.insert(db))
        })?;
        self.map(obj, &r);
        Ok(())
    }

    fn vm(&mut self, obj: &Obj) -> ApiResult<()> {
        let uuid = obj.str("uuid").to_string();
        let is_default_template = obj.bool("is_default_template")
            || obj.bool("is_a_template")
                && obj.map("other_config").iter().any(|(k, v)| k == "default_template" && v == "true");
        let (existing_template, existing) = {
            let db = self.api.core.db.read();
            let template = db.all("VM").into_iter().find(|v| db.string(v, "name_label") == obj.str("name_label"));
            (template, db.by_uuid(db.cls("VM"), &uuid).map(str::to_string))
        };
        if let (true, Some(t)) = (is_default_template, existing_template) {
            self.map(obj, &t);
            self.created_vms.push(t);
            return Ok(());
        }
        let mut replace = None;
        if let (true, Some(vm)) = (self.config.restore, existing) {
            let (power, version) = {
                let db = self.api.core.db.read();
                (db.string(&vm, "power_state"), db.int(&vm, "version"))
            };
            if power != "Halted" {
                if self.config.force {
                    return Ok(());
                }
                return Err(Failure::new("VM_BAD_POWER_STATE", [vm, "halted".into(), power.to_ascii_lowercase()]));
            }
            let imported = obj.int("version");
            if version >= imported && !self.config.force {
                return Err(Failure::new(
                    "VM_TO_IMPORT_IS_NOT_NEWER_VERSION",
                    [vm, version.to_string(), imported.to_string()],
                ));
            }
            replace = Some(vm);
        }
        if self.config.dry_run() {
            self.map(obj, "OpaqueRef:dry-run");
            return Ok(());
        }
        if let Some(vm) = &replace {
            // The VM being replaced goes with its devices (not its disks).
            self.api.call("VM.destroy", vec![Value::str(vm)])?;
        }
        let mut record = self.record("VM", obj);
        let mut oc = obj.map("other_config");
        oc.retain(|(k, _)| k != "grant_api_access");
        // A new VM (not one replacing another) is no default template, unless forced.
        if !self.config.force && replace.is_none() {
            set(&mut record, "is_default_template", Value::Bool(false));
            oc.retain(|(k, _)| k != "default_template");
        }
        if !self.config.restore {
            let seed = self.api.write(|db| Ok(db.new_uuid()))?;
            oc.retain(|(k, _)| k != "mac_seed");
            oc.insert(0, ("mac_seed".into(), seed));
        }
        oc.retain(|(k, _)| k != "import_task");
        set(&mut record, "other_config", crate::values::smap(&oc));
        let version = if self.config.restore { obj.int("version") + 1 } else { 0 };
        set(&mut record, "version", Value::Int(version));
        set(&mut record, "appliance", Value::str(NULL_REF));
        set(&mut record, "protection_policy", Value::str(NULL_REF));
        if let p @ ("0" | "1" | "2" | "3") = obj.str("ha_restart_priority") {
            let order = p.parse::<i64>().unwrap_or(0);
            set(&mut record, "ha_restart_priority", Value::str("restart"));
            set(&mut record, "order", Value::Int(order));
        }
        if obj.get("has_vendor_device").is_none() {
            set(&mut record, "has_vendor_device", Value::Bool(false));
        }
        set(&mut record, "suspend_VDI", Value::str(NULL_REF));
        set(&mut record, "power_state", Value::str("Halted"));
        let vm = self.api.create("VM", record)?;
        self.made.push(Made::Vm(vm.clone()));
        let suspend_vdi = self.lookup(obj.str("suspend_VDI")).ok().filter(|v| v != NULL_REF);
        if obj.str("power_state") == "Suspended" && suspend_vdi.is_none() && !self.config.force {
            return Err(generic(format!("Failed to find VM's suspend_VDI: {}", obj.str("suspend_VDI"))));
        }
        let metrics = self.lookup(obj.str("metrics")).ok();
        let guest_metrics = self.lookup(obj.str("guest_metrics")).ok();
        let affinity = self.local_ref(obj.str("affinity"));
        let task = self.task.clone();
        let (restore, force) = (self.config.restore, self.config.force);
        let suspended = obj.str("power_state") == "Suspended" && suspend_vdi.is_some();
        let fields: Vec<(&str, Option<&Value>)> = [
            "last_booted_record",
            "last_boot_CPU_flags",
            "is_control_domain",
            "is_a_snapshot",
            "snapshot_info",
            "snapshot_time",
            "transportable_snapshot_id",
            "bios_strings",
        ]
        .into_iter()
        .map(|f| (f, obj.get(f)))
        .collect();
        self.api.write(|db| {
            if restore {
                db.set_named(&vm, "uuid", Value::str(&uuid));
            }
            let idx = db.cls("VM");
            for (name, v) in fields {
                let (Some(v), Some(pos)) = (v, db.class(idx).field_pos(name)) else { continue };
                if let Some(v) = coerce(v.clone(), db.field_type(idx, pos)) {
                    db.set_named(&vm, name, v);
                }
            }
            db.map_put(&vm, "other_config", "import_task", Some(&task));
            if let (true, Some(vdi)) = (suspended, &suspend_vdi) {
                db.set_named(&vm, "power_state", Value::str("Suspended"));
                db.set_named(&vm, "suspend_VDI", Value::str(vdi));
            }
            db.set_named(&vm, "affinity", Value::String(affinity));
            let suspend_sr = db.string(&vm, "suspend_SR");
            if !db.is(&suspend_sr, "SR") {
                db.set_named(&vm, "suspend_SR", Value::str(NULL_REF));
            }
            if let Some(m) = metrics.filter(|m| db.is(m, "VM_metrics")) {
                let replaced = db.string(&vm, "metrics");
                db.set_named(&vm, "metrics", Value::str(&m));
                if db.is(&replaced, "VM_metrics") {
                    db.destroy(&replaced);
                }
            }
            if let Some(g) = guest_metrics.filter(|g| db.is(g, "VM_guest_metrics")) {
                db.set_named(&vm, "guest_metrics", Value::String(g));
            }
            if !force {
                let mut ops = match db.field(&vm, "current_operations") {
                    Some(Value::Struct(m)) => m.clone(),
                    _ => Vec::new(),
                };
                ops.push((task.clone(), Value::str("import")));
                db.set_named(&vm, "current_operations", Value::Struct(ops));
            }
            crate::rules::vm::update_allowed_operations(db, &vm);
            Ok(())
        })?;
        self.links.push((vm.clone(), obj.str("snapshot_of").to_string(), obj.str("parent").to_string()));
        self.map(obj, &vm);
        self.created_vms.push(vm);
        Ok(())
    }

    /// Snapshots point at their VM, and VMs at their parent, once both exist.
    fn link_snapshots(&mut self) -> ApiResult<()> {
        let links = std::mem::take(&mut self.links);
        let resolved: Vec<(String, Option<String>, Option<String>)> =
            links.iter().map(|(vm, of, parent)| (vm.clone(), self.lookup(of).ok(), self.lookup(parent).ok())).collect();
        self.api.write(|db| {
            for (vm, of, parent) in resolved {
                if !db.is(&vm, "VM") {
                    continue;
                }
                let of = of.filter(|r| db.is(r, "VM")).unwrap_or_else(|| NULL_REF.to_string());
                if db.bool(&vm, "is_a_snapshot") {
                    db.set_named(&vm, "snapshot_of", Value::String(of));
                }
                let parent = parent.filter(|r| db.is(r, "VM")).unwrap_or_else(|| NULL_REF.to_string());
                db.set_named(&vm, "parent", Value::String(parent));
            }
            Ok(())
        })
    }

    fn network(&mut self, obj: &Obj) -> ApiResult<()> {
        let found = {
            let db = self.api.core.db.read();
            let nets = db.all("network");
            nets.iter()
                .find(|n| db.string(n, "name_label") == obj.str("name_label"))
                .or_else(|| nets.iter().find(|n| db.string(n, "bridge") == obj.str("bridge")))
                .cloned()
        };
        if let Some(n) = found {
            self.map(obj, &n);
            return Ok(());
        }
        if self.config.dry_run() {
            self.map(obj, "OpaqueRef:dry-run");
            return Ok(());
        }
        let record = self.record("network", obj);
        let net = self.api.create("network", record)?;
        self.made.push(Made::Network(net.clone()));
        let task = self.task.clone();
        self.api.write(|db| {
            db.map_put(&net, "other_config", "import_task", Some(&task));
            Ok(())
        })?;
        self.map(obj, &net);
        Ok(())
    }

    fn vbd(&mut self, obj: &Obj) -> ApiResult<()> {
        if self.config.restore {
            let db = self.api.core.db.read();
            if let Some(v) = db.by_uuid(db.cls("VBD"), obj.str("uuid")).map(str::to_string) {
                drop(db);
                self.map(obj, &v);
                return Ok(());
            }
        }
        let vm = self.lookup(obj.str("VM"))?;
        let original_vm = self.header.find(obj.str("VM"))?;
        // HVM guests have a device model, which can show an empty drive.
        let has_qemu = !original_vm.str("HVM_boot_policy").is_empty();
        let kind = obj.str("type").to_string();
        let has_vdi = self.exists(obj.str("VDI"));
        if obj.bool("currently_attached") && !has_vdi && !(kind.eq_ignore_ascii_case("CD") && has_qemu) {
            return Err(Failure::new::<&str>("IMPORT_ERROR_ATTACHED_DISKS_NOT_FOUND", []));
        }
        let vdi = match (kind.as_str(), has_vdi) {
            (_, true) => self.lookup(obj.str("VDI"))?,
            ("CD" | "Floppy", false) => NULL_REF.to_string(),
            // A disk without its disk cannot be made.
            _ => return Ok(()),
        };
        if self.config.dry_run() {
            self.map(obj, "OpaqueRef:dry-run");
            return Ok(());
        }
        let mut record = self.record("VBD", obj);
        set(&mut record, "VM", Value::str(&vm));
        set(&mut record, "VDI", Value::str(&vdi));
        if vdi == NULL_REF {
            set(&mut record, "empty", Value::Bool(true));
        }
        set(&mut record, "device", Value::str(""));
        set(&mut record, "currently_attached", Value::Bool(false));
        let vbd = self.api.create("VBD", record)?;
        self.made.push(Made::Vbd(vbd.clone()));
        let (restore, uuid, attached) =
            (self.config.restore, obj.str("uuid").to_string(), obj.bool("currently_attached"));
        self.api.write(|db| {
            if restore {
                db.set_named(&vbd, "uuid", Value::String(uuid));
            }
            if db.string(&vm, "power_state") != "Halted" {
                db.set_named(&vbd, "currently_attached", Value::Bool(attached));
            }
            Ok(())
        })?;
        self.map(obj, &vbd);
        Ok(())
    }

    fn vif(&mut self, obj: &Obj) -> ApiResult<()> {
        if self.config.restore {
            let db = self.api.core.db.read();
            if let Some(v) = db.by_uuid(db.cls("VIF"), obj.str("uuid")).map(str::to_string) {
                drop(db);
                self.map(obj, &v);
                return Ok(());
            }
        }
        let vm = self.lookup(obj.str("VM"))?;
        let mut oc = obj.map("other_config");
        let maps_to = oc.iter().find(|(k, _)| k == "maps_to").map(|(_, v)| v.clone());
        let network = match maps_to {
            Some(n) => n,
            None => self.lookup(obj.str("network"))?,
        };
        oc.retain(|(k, _)| k != "maps_to");
        if self.config.dry_run() {
            self.map(obj, "OpaqueRef:dry-run");
            return Ok(());
        }
        let mut record = self.record("VIF", obj);
        set(&mut record, "VM", Value::str(&vm));
        set(&mut record, "network", Value::str(&network));
        set(&mut record, "other_config", crate::values::smap(&oc));
        if !self.config.restore {
            set(&mut record, "MAC", Value::str(""));
        }
        set(&mut record, "currently_attached", Value::Bool(false));
        let vif = self.api.create("VIF", record)?;
        self.made.push(Made::Vif(vif.clone()));
        let (restore, uuid, attached) =
            (self.config.restore, obj.str("uuid").to_string(), obj.bool("currently_attached"));
        self.api.write(|db| {
            if restore {
                db.set_named(&vif, "uuid", Value::String(uuid));
            }
            if db.string(&vm, "power_state") != "Halted" {
                db.set_named(&vif, "currently_attached", Value::Bool(attached));
            }
            Ok(())
        })?;
        self.map(obj, &vif);
        Ok(())
    }

    /// The disks whose blocks follow `ova.xml`, in the order they come:
    /// ascending string order of their ids.
    pub fn streams(&self) -> Vec<Stream> {
        let mut out: Vec<Stream> = self
            .header
            .streamed_vdis()
            .into_iter()
            .filter_map(|v| {
                let vdi = self.lookup(&v.id).ok()?;
                Some(Stream { id: v.id.clone(), vdi, size: v.int("virtual_size").max(0) as u64, fresh: true })
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Finishes: takes `import` off the VMs and answers the VMs to report
    /// (the non-snapshots, unless only snapshots came).
    pub fn complete(&self) -> ApiResult<Vec<String>> {
        let task = self.task.clone();
        let mut vms: Vec<String> = Vec::new();
        for v in &self.created_vms {
            if !vms.contains(v) {
                vms.push(v.clone());
            }
        }
        self.api.write(|db| {
            for vm in &vms {
                if let Some(Value::Struct(ops)) = db.field(vm, "current_operations").cloned() {
                    let kept: Vec<(String, Value)> = ops.into_iter().filter(|(k, _)| *k != task).collect();
                    db.set_named(vm, "current_operations", Value::Struct(kept));
                    crate::rules::vm::update_allowed_operations(db, vm);
                }
            }
            let non_snapshots: Vec<String> = vms.iter().filter(|v| !db.bool(v, "is_a_snapshot")).cloned().collect();
            Ok(if non_snapshots.is_empty() { vms.clone() } else { non_snapshots })
        })
    }
}

fn set(record: &mut Vec<(String, Value)>, name: &str, v: Value) {
    match record.iter_mut().find(|(k, _)| k == name) {
        Some(slot) => slot.1 = v,
        None => record.push((name.to_string(), v)),
    }
}

// --- disk blocks ----------------------------------------------------------------

/// Reports bytes written and checks for a cancel; `Err` stops the import.
pub trait Progress {
    fn advance(&mut self, bytes: u64) -> ApiResult<()>;
}

/// A block's checksum as its member's extension says to compute it.
fn checksum(name: &str, block: &[u8]) -> ApiResult<String> {
    if name.ends_with(".xxhash") {
        Ok(super::block_checksum(block))
    } else if name.ends_with(".checksum") {
        Ok(sha1_hex(block))
    } else {
        Err(generic(format!("Stream_vdi.Failure(\"Found unsupported checksum file: {name}\")")))
    }
}

fn io_error(e: &io::Error) -> Failure {
    Failure::new("VDI_IO_ERROR", [format!("Device I/O error: {e}")])
}

/// Streams the blocks of `streams` into their disks, as xapi's
/// `Stream_vdi.recv_all` reads them: for each disk, members named
/// `<id>/<counter>` with counters rising in string order (a gap is zeros,
/// as long as the first block), each followed by its checksum member,
/// until `virtual_size` bytes are written. Archives before version 2 then
/// carry a checksum table, checked too.
pub fn stream(
    core: &Core,
    members: &mut Members<'_>,
    streams: &[Stream],
    export_vsn: i64,
    force: bool,
    progress: &mut dyn Progress,
) -> ApiResult<()> {
    let inline = export_vsn > 0;
    let invalid = || generic("Stream_vdi.Failure(\"Invalid XVA file\")");
    let mut table: Vec<(String, String)> = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK);
    let mut sum: Vec<u8> = Vec::new();
    let mut first_len: Option<u64> = None;
    for s in streams {
        let (uuid, parent) = {
            let db = core.db.read();
            (db.string(&s.vdi, "uuid"), db.map_get(&s.vdi, "sm_config", "vhd-parent"))
        };
        let mut writer = core.disks.writer(&uuid, s.size);
        let mut offset = 0u64;
        let mut last = "-1".to_string();
        while offset < s.size {
            let mut block = members.next_member()?;
            let Some(suffix) = block.name.strip_prefix(&s.id).and_then(|n| n.strip_prefix('/')).map(str::to_string)
            else {
                return Err(invalid());
            };
            if suffix.as_str() <= last.as_str() {
                return Err(invalid());
            }
            let (Ok(this), Ok(prev)) = (suffix.parse::<i64>(), last.parse::<i64>()) else {
                return Err(invalid());
            };
            let first = *first_len.get_or_insert(block.size);
            let skipped = first.saturating_mul((this - prev - 1).max(0) as u64);
            block.read_into(&mut buf, BLOCK as u64)?;
            let at = offset + skipped;
            // A new disk reads as zeros: only data needs writing.
            if !s.fresh || buf.iter().any(|&b| b != 0) {
                writer.write_at(at, &buf).map_err(|e| io_error(&e))?;
            }
            offset = at + block.size;
            let name = block.name.clone();
            drop(block);
            let mut check = members.next_member()?;
            let computed = checksum(&check.name, &buf)?;
            if inline {
                if !check.name.ends_with(".xxhash") && !check.name.ends_with(".checksum") {
                    let why = format!(
                        "Stream_vdi.Failure(\"Expected to find a supported inline checksum file, instead found a file called: {}\")",
                        check.name
                    );
                    return Err(generic(why));
                }
                check.read_into(&mut sum, 1024)?;
                let original = String::from_utf8_lossy(&sum);
                if original != computed && !force {
                    return Err(generic(format!(
                        "Stream_vdi.Invalid_checksum(\"Block {name} checksum failed: original = {original}; recomputed = {computed}\")"
                    )));
                }
            }
            table.push((name, computed));
            progress.advance(skipped + buf.len() as u64)?;
            last = suffix;
        }
        writer.finish().map_err(|e| io_error(&e))?;
        core.write(|db| {
            if db.is(&s.vdi, "VDI") {
                let own = core.disks.own_blocks(&uuid, parent.as_deref());
                crate::rules::storage::record_written(db, &s.vdi, own);
            }
            Ok(())
        })?;
    }
    if export_vsn < 2 {
        // The checksum table: a struct of block name to checksum.
        let mut xml = Vec::new();
        members.next_member()?.read_into(&mut xml, MAX_OVA_XML)?;
        let expected = decode_value(&xml).map_err(|_| generic("Failure(\"the checksum table is not XML-RPC\")"))?;
        let ok =
            table.iter().all(|(block, sum)| member(&expected, block).and_then(Value::as_str) == Some(sum.as_str()));
        if !ok && !force {
            return Err(Failure::new::<&str>("IMPORT_ERROR_SOME_CHECKSUMS_FAILED", []));
        }
    }
    Ok(())
}

/// Decodes one XML-RPC `<value>` (the wire decoder reads values inside a call).
fn decode_value(xml: &[u8]) -> Result<Value, String> {
    let mut call = b"<methodCall><methodName>v</methodName><params><param>".to_vec();
    call.extend_from_slice(xml);
    call.extend_from_slice(b"</param></params></methodCall>");
    let (_, mut params) = xenapi::wire::xmlrpc::decode_call(&call).map_err(|e| e.0)?;
    params.pop().ok_or_else(|| "no value".to_string())
}

/// SHA-1 as 40 lower-case hex digits: the legacy `.checksum` members.
pub fn sha1_hex(data: &[u8]) -> String {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for chunk in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_known_digests() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        let long = vec![b'a'; 1000];
        assert_eq!(sha1_hex(&long), "291e9a6c66994949b57ba5e650361e98fc36b1ba");
    }

    #[test]
    fn ova_xml_ints_may_be_untyped() {
        let xml = br#"<value><struct><member><name>version</name><value><struct><member><name>xapi_major</name><value>1</value></member><member><name>xapi_minor</name><value><int>2</int></value></member></struct></value></member><member><name>objects</name><value><array><data><value><struct><member><name>class</name><value>VM</value></member><member><name>id</name><value>Ref:7</value></member><member><name>snapshot</name><value><struct><member><name>VCPUs_max</name><value>2</value></member></struct></value></member></struct></value></data></array></value></member></struct></value>"#;
        let h = Header::parse(xml).unwrap();
        assert_eq!((h.xapi_major, h.xapi_minor, h.export_vsn), (1, 2, 0), "a missing export_vsn is 0");
        assert_eq!(h.objects.len(), 1);
        assert_eq!(h.objects[0].int("VCPUs_max"), 2);
        assert_eq!(h.objects[0].id, "Ref:7");
    }
}

/// XVAs written for tests, laid out as xapi's exporter writes them (V7 tar
/// headers, `ova.xml` first with untyped ints, 1 MiB blocks each followed
/// by its `.xxhash`, zero blocks skipped but the first and last, two zero
/// blocks at the end). The SDK tests write theirs independently, in Python.
pub mod sample {
    use crate::xva::{block_checksum, BLOCK};

    /// A disk of a sample VM: its archive id, size, device and bytes.
    #[derive(Debug, Clone)]
    pub struct Disk {
        pub id: String,
        pub size: u64,
        pub device: String,
        pub data: Vec<u8>,
    }

    /// A sample export: one VM with `disks`, an empty CD drive and a VIF on
    /// the network named `network`.
    #[derive(Debug, Clone)]
    pub struct Sample {
        pub name: String,
        pub uuid: String,
        pub network: String,
        pub disks: Vec<Disk>,
        /// `(major, minor)` of the exporting xapi.
        pub xapi: (i64, i64),
        /// A block whose checksum member is wrong.
        pub corrupt: Option<String>,
        /// A member written before `ova.xml`.
        pub first: Option<String>,
        /// Leaves the blocks out (a metadata export).
        pub metadata_only: bool,
    }

    impl Sample {
        pub fn new(name: &str, disks: Vec<Disk>) -> Sample {
            Sample {
                name: name.to_string(),
                uuid: "0d6e3c1a-7b2f-4c55-9e0a-5b1f3c2d4e01".to_string(),
                network: "Pool-wide network associated with eth0".to_string(),
                disks,
                xapi: (1, 0),
                corrupt: None,
                first: None,
                metadata_only: false,
            }
        }

        fn vdi_uuid(i: usize) -> String {
            format!("a1b2c3d4-0000-4000-8000-{i:012}")
        }

        /// `ova.xml`: a version struct and the objects, as rpclib writes them.
        pub fn ova_xml(&self) -> String {
            let null = "OpaqueRef:NULL";
            let (vm, metrics, vif, net, sr, cd) = ("Ref:3", "Ref:4", "Ref:7", "Ref:8", "Ref:12", "Ref:6");
            let vbds: Vec<String> = (0..self.disks.len()).map(|i| format!("Ref:{}", 20 + i)).collect();
            let mut all_vbds = vbds.clone();
            all_vbds.push(cd.to_string());
            let refs = |v: &[String]| v.iter().map(|r| format!("<value>{r}</value>")).collect::<String>();
            let m = |name: &str, v: &str| format!("<member><name>{name}</name><value>{v}</value></member>");
            let s = |name: &str, v: &str| m(name, v);
            let b = |name: &str, v: bool| m(name, &format!("<boolean>{}</boolean>", u8::from(v)));
            let map = |name: &str| m(name, "<struct></struct>");
            let arr = |name: &str, items: &str| m(name, &format!("<array><data>{items}</data></array>"));
            let obj = |class: &str, id: &str, fields: String| {
                format!(
                    "<value><struct>{}{}{}</struct></value>",
                    s("class", class),
                    s("id", id),
                    m("snapshot", &format!("<struct>{fields}</struct>"))
                )
            };
            let mut objects = String::new();
            let vm_fields = [
                s("uuid", &self.uuid),
                s("name_label", &self.name),
                s("name_description", "a sample export"),
                s("power_state", "Halted"),
                s("user_version", "1"),
                b("is_a_template", false),
                s("affinity", null),
                s("suspend_VDI", null),
                s("memory_static_max", "1073741824"),
                s("memory_dynamic_max", "1073741824"),
                s("memory_dynamic_min", "536870912"),
                s("memory_static_min", "536870912"),
                map("VCPUs_params"),
                s("VCPUs_max", "2"),
                s("VCPUs_at_startup", "2"),
                s("actions_after_shutdown", "destroy"),
                s("actions_after_reboot", "restart"),
                s("actions_after_crash", "restart"),
                s("PV_bootloader", ""),
                s("PV_kernel", ""),
                s("PV_ramdisk", ""),
                s("PV_args", ""),
                s("PV_bootloader_args", ""),
                s("PV_legacy_args", ""),
                s("HVM_boot_policy", "BIOS order"),
                m("HVM_boot_params", "<struct><member><name>order</name><value>cd</value></member></struct>"),
                map("platform"),
                s("PCI_bus", ""),
                m("other_config", "<struct><member><name>mac_seed</name><value>5e1f0a3b-2c4d-4e6f-8a9b-0c1d2e3f4a5b</value></member></struct>"),
                s("recommendations", ""),
                s("metrics", metrics),
                s("guest_metrics", null),
                arr("VBDs", &refs(&all_vbds)),
                arr("VIFs", &refs(&[vif.to_string()])),
                b("is_a_snapshot", false),
                s("snapshot_of", null),
                s("parent", null),
                s("version", "0"),
                s("domain_type", "hvm"),
            ]
            .concat();
            objects += &obj("VM", vm, vm_fields);
            objects += &obj(
                "VM_metrics",
                metrics,
                [s("uuid", "c0ffee00-0000-4000-8000-000000000004"), s("VCPUs_number", "2"), b("hvm", true)].concat(),
            );
            for (i, d) in self.disks.iter().enumerate() {
                let vbd = [
                    s("uuid", &format!("b0d00000-0000-4000-8000-{i:012}")),
                    s("VM", vm),
                    s("VDI", &d.id),
                    s("device", ""),
                    s("userdevice", &d.device),
                    b("bootable", i == 0),
                    s("mode", "RW"),
                    s("type", "Disk"),
                    b("unpluggable", false),
                    b("empty", false),
                    map("other_config"),
                    b("currently_attached", false),
                    s("qos_algorithm_type", ""),
                    map("qos_algorithm_params"),
                ]
                .concat();
                objects += &obj("VBD", &vbds[i], vbd);
            }
            let cd_vbd = [
                s("uuid", "b0d00000-0000-4000-8000-0000000000cd"),
                s("VM", vm),
                s("VDI", null),
                s("userdevice", "3"),
                b("bootable", false),
                s("mode", "RO"),
                s("type", "CD"),
                b("unpluggable", true),
                b("empty", true),
                map("other_config"),
                b("currently_attached", false),
                s("qos_algorithm_type", ""),
                map("qos_algorithm_params"),
            ]
            .concat();
            objects += &obj("VBD", cd, cd_vbd);
            let vif_fields = [
                s("uuid", "f1f00000-0000-4000-8000-000000000007"),
                s("device", "0"),
                s("network", net),
                s("VM", vm),
                s("MAC", "aa:bb:cc:dd:ee:01"),
                s("MTU", "1500"),
                map("other_config"),
                b("currently_attached", false),
                s("qos_algorithm_type", ""),
                map("qos_algorithm_params"),
                s("locking_mode", "network_default"),
            ]
            .concat();
            objects += &obj("VIF", vif, vif_fields);
            let net_fields = [
                s("uuid", "4e7e0000-0000-4000-8000-000000000008"),
                s("name_label", &self.network),
                s("name_description", ""),
                s("bridge", "xenbr0"),
                s("MTU", "1500"),
                map("other_config"),
            ]
            .concat();
            objects += &obj("network", net, net_fields);
            for (i, d) in self.disks.iter().enumerate() {
                let uuid = Self::vdi_uuid(i);
                let vdi = [
                    s("uuid", &uuid),
                    s("name_label", &format!("disk {}", d.device)),
                    s("name_description", ""),
                    s("SR", sr),
                    s("virtual_size", &d.size.to_string()),
                    s("type", "user"),
                    b("sharable", false),
                    b("read_only", false),
                    map("other_config"),
                    s("location", &uuid),
                    map("sm_config"),
                    map("xenstore_data"),
                    arr("tags", ""),
                ]
                .concat();
                objects += &obj("VDI", &d.id, vdi);
            }
            let sr_fields = [
                s("uuid", "5e5e0000-0000-4000-8000-000000000012"),
                s("name_label", "Local storage"),
                s("type", "ext"),
                s("content_type", "user"),
                s("physical_size", "0"),
                map("other_config"),
            ]
            .concat();
            objects += &obj("SR", sr, sr_fields);
            let version = [
                s("hostname", "exporter"),
                s("date", "2024-05-01"),
                s("product_version", "8.4.0"),
                s("product_brand", "XCP-ng"),
                s("build_number", "sample"),
                s("xapi_major", &self.xapi.0.to_string()),
                s("xapi_minor", &self.xapi.1.to_string()),
                s("export_vsn", "2"),
            ]
            .concat();
            format!(
                "<value><struct>{}{}</struct></value>",
                m("version", &format!("<struct>{version}</struct>")),
                arr("objects", &objects)
            )
        }

        /// The whole archive, uncompressed.
        pub fn xva(&self) -> Vec<u8> {
            let mut out = Vec::new();
            if let Some(first) = &self.first {
                member(&mut out, first, b"unexpected", 0);
            }
            member(&mut out, "ova.xml", self.ova_xml().as_bytes(), 1_714_558_830);
            let mut disks = self.disks.clone();
            disks.sort_by(|a, b| a.id.cmp(&b.id));
            for d in disks.iter().filter(|_| !self.metadata_only) {
                let n = d.size.div_ceil(BLOCK as u64);
                for i in 0..n {
                    let start = (i as usize) * BLOCK;
                    let len = (d.size as usize - start).min(BLOCK);
                    let mut block = vec![0u8; len];
                    if start < d.data.len() {
                        let end = d.data.len().min(start + len);
                        block[..end - start].copy_from_slice(&d.data[start..end]);
                    }
                    if i != 0 && i != n - 1 && block.iter().all(|&b| b == 0) {
                        continue;
                    }
                    let name = format!("{}/{i:08}", d.id);
                    member(&mut out, &name, &block, 0);
                    let sum = match &self.corrupt {
                        Some(c) if *c == name => "0000000000000000".to_string(),
                        _ => block_checksum(&block),
                    };
                    member(&mut out, &format!("{name}.xxhash"), sum.as_bytes(), 0);
                }
            }
            out.extend_from_slice(&[0u8; 1024]);
            out
        }
    }

    /// Appends a member with a V7 header (no ustar magic, mode 0400).
    pub fn member(out: &mut Vec<u8>, name: &str, data: &[u8], mtime: u64) {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let octal = |h: &mut [u8; 512], at: usize, width: usize, v: u64| {
            let text = format!("{v:0w$o}\0", w = width - 1);
            h[at..at + width].copy_from_slice(text.as_bytes());
        };
        octal(&mut h, 100, 8, 0o400);
        octal(&mut h, 108, 8, 0);
        octal(&mut h, 116, 8, 0);
        octal(&mut h, 124, 12, data.len() as u64);
        octal(&mut h, 136, 12, mtime);
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let text = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(text.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }

    /// Compresses an archive as `vm-export compress=gzip|zstd` would.
    pub fn compress(kind: &str, bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        match kind {
            "gzip" => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                let _ = e.write_all(bytes);
                e.finish().unwrap_or_default()
            }
            "zstd" => zstd::encode_all(bytes, 1).unwrap_or_default(),
            _ => bytes.to_vec(),
        }
    }
}
