//! Durable state for `--state FILE`: a JSON snapshot plus an append-only
//! journal (`FILE.journal`) of the records each committed call changed.
//! Each journal line is written and fsynced before the call is answered, so
//! an acknowledged change survives `kill -9`; a torn last line was never
//! acknowledged and is skipped on replay.

use crate::db::{Db, Foreign};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use xenapi::Value;

/// Journal size that triggers a compaction into the snapshot.
const COMPACT_AT: u64 = 64 << 20;

/// The open journal of a state file.
pub struct Wal {
    snapshot: PathBuf,
    journal_path: PathBuf,
    journal: File,
    written: u64,
}

fn journal_path(state: &Path) -> PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(".journal");
    PathBuf::from(p)
}

/// Where a restored database waits for the restart that applies it
/// (`STATE.restore`, xapi's `db_temporary_restore_path`).
pub fn restore_path(state: &Path) -> PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(".restore");
    PathBuf::from(p)
}

/// Whether a state exists: its snapshot or its journal.
pub fn exists(state: &Path) -> bool {
    state.exists() || journal_path(state).exists()
}

impl Wal {
    /// Loads `state` (snapshot and journal) into `db` when it exists.
    /// Returns whether anything was loaded.
    pub fn load(state: &Path, db: &mut Db) -> io::Result<bool> {
        let mut loaded = false;
        if let Ok(text) = fs::read_to_string(state) {
            let snap: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", state.display())))?;
            apply(db, &snap);
            loaded = true;
        }
        if let Ok(f) = File::open(journal_path(state)) {
            for line in BufReader::new(f).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<serde_json::Value>(&line) {
                    Ok(entry) => apply(db, &entry),
                    Err(_) => break, // a torn tail: never acknowledged
                }
                loaded = true;
            }
        }
        if loaded {
            db.reindex_changes();
        }
        Ok(loaded)
    }

    /// Opens the journal for appending and writes a fresh snapshot of `db`.
    pub fn open(state: &Path, db: &Db) -> io::Result<Wal> {
        if let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let journal_path = journal_path(state);
        let journal = OpenOptions::new().create(true).append(true).open(&journal_path)?;
        let mut wal = Wal { snapshot: state.to_path_buf(), journal_path, journal, written: 0 };
        wal.compact(db)?;
        Ok(wal)
    }

    /// The state file this journal belongs to.
    pub fn state(&self) -> &Path {
        &self.snapshot
    }

    /// Writes a restored database where the next start finds it
    /// ([`restore_path`]), whole or not at all, before the restore is
    /// acknowledged: a process killed before its restart comes back on it.
    pub fn stage_restore(&self, text: &str) -> io::Result<()> {
        let path = restore_path(&self.snapshot);
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        sync_dir(&path);
        Ok(())
    }

    /// Appends the current records of `dirty` (or their deletion) and syncs.
    pub fn append(&mut self, db: &Db, dirty: &[String]) -> io::Result<()> {
        let mut line = String::with_capacity(1024);
        line.push_str("{\"event_id\":");
        line.push_str(&db.event_id().to_string());
        line.push_str(",\"rng\":");
        line.push_str(&db.rng_state().to_string());
        line.push_str(",\"objects\":[");
        let mut first = true;
        for r in dirty {
            if !first {
                line.push(',');
            }
            first = false;
            match db.get(r) {
                Some((c, o)) => push_object(&mut line, db, c, r, &o.fields),
                None => {
                    line.push_str("{\"ref\":");
                    xenapi::wire::jsonrpc::encode_value(&mut line, &Value::str(r.as_str()));
                    line.push_str(",\"deleted\":true}");
                }
            }
        }
        line.push_str("]}\n");
        self.journal.write_all(line.as_bytes())?;
        self.journal.sync_data()?;
        self.written += line.len() as u64;
        if self.written > COMPACT_AT {
            self.compact(db)?;
        }
        Ok(())
    }

    /// Writes the whole database as the snapshot, atomically, then empties the journal.
    pub fn compact(&mut self, db: &Db) -> io::Result<()> {
        let mut out = String::with_capacity(1 << 20);
        out.push_str("{\"version\":1,\"event_id\":");
        out.push_str(&db.event_id().to_string());
        out.push_str(",\"rng\":");
        out.push_str(&db.rng_state().to_string());
        if !db.foreign.is_empty() {
            out.push_str(",\"foreign\":");
            out.push_str(&foreign_json(&db.foreign).to_string());
        }
        out.push_str(",\"objects\":[\n");
        let mut first = true;
        for c in 0..db.schema.classes.len() {
            if db.is_transient(c) {
                continue;
            }
            for (r, o) in db.iter(c) {
                if !first {
                    out.push_str(",\n");
                }
                first = false;
                push_object(&mut out, db, c, r, &o.fields);
            }
        }
        out.push_str("\n]}\n");
        let mut tmp = self.snapshot.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        {
            let mut f = File::create(&tmp)?;
            f.write_all(out.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.snapshot)?;
        sync_dir(&self.snapshot);
        self.journal.set_len(0)?;
        self.journal.sync_all()?;
        self.journal = OpenOptions::new().append(true).open(&self.journal_path)?;
        self.written = 0;
        Ok(())
    }
}

/// Makes a rename in `path`'s directory durable.
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

fn push_object(out: &mut String, db: &Db, class: usize, r: &str, fields: &[Value]) {
    out.push_str("{\"class\":");
    xenapi::wire::jsonrpc::encode_value(out, &Value::str(db.class(class).name()));
    out.push_str(",\"ref\":");
    xenapi::wire::jsonrpc::encode_value(out, &Value::str(r));
    out.push_str(",\"record\":");
    xenapi::wire::jsonrpc::encode_value(out, &db.record(class, fields));
    out.push('}');
}

fn to_value(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(to_value).collect()),
        serde_json::Value::Object(m) => Value::Struct(m.iter().map(|(k, v)| (k.clone(), to_value(v))).collect()),
    }
}

/// A loaded file's unknown tables and fields, for the snapshot.
fn foreign_json(f: &Foreign) -> serde_json::Value {
    let pairs = |row: &[(String, String)]| serde_json::json!(row.iter().map(|(k, v)| [k, v]).collect::<Vec<_>>());
    serde_json::json!({
        "tables": f.tables.iter().map(|(name, rows)| serde_json::json!([name, rows.iter().map(|r| pairs(r)).collect::<Vec<_>>()])).collect::<Vec<_>>(),
        "fields": f.fields.iter().map(|(r, row)| (r.clone(), pairs(row))).collect::<serde_json::Map<_, _>>(),
    })
}

fn foreign_from_json(j: &serde_json::Value) -> Foreign {
    let pairs = |v: &serde_json::Value| -> Vec<(String, String)> {
        v.as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .filter_map(|p| Some((p[0].as_str()?.to_string(), p[1].as_str()?.to_string())))
            .collect()
    };
    let tables = j["tables"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .filter_map(|t| {
            let rows = t[1].as_array()?.iter().map(pairs).collect();
            Some((t[0].as_str()?.to_string(), rows))
        })
        .collect();
    let fields =
        j["fields"].as_object().map(|m| m.iter().map(|(r, row)| (r.clone(), pairs(row))).collect()).unwrap_or_default();
    Foreign { tables, fields }
}

/// Applies a snapshot or a journal entry.
fn apply(db: &mut Db, entry: &serde_json::Value) {
    if entry.get("foreign").is_some() {
        db.foreign = foreign_from_json(&entry["foreign"]);
    }
    if let Some(id) = entry["event_id"].as_u64() {
        db.set_event_id(id);
    }
    if let Some(rng) = entry["rng"].as_u64() {
        db.set_rng_state(rng);
    }
    for obj in entry["objects"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let Some(r) = obj["ref"].as_str() else {
            continue;
        };
        if obj["deleted"].as_bool() == Some(true) {
            db.remove_raw(r);
            continue;
        }
        let Some(c) = obj["class"].as_str().and_then(|c| db.class_index(c)) else {
            continue;
        };
        let mut fields = db.blank_record(c);
        if let Some(rec) = obj["record"].as_object() {
            for (pos, f) in db.class(c).fields.iter().enumerate() {
                if let Some(v) = rec.get(f.name()) {
                    if let Ok(v) = to_value(v).coerce(&f.ty) {
                        fields[pos] = v;
                    }
                }
            }
        }
        db.put_raw(c, r.to_string(), fields);
    }
}
