//! `--trace FILE`: one JSON line per call (when it came, from whom, which
//! method, how long it took, how it ended, which fault fired), never its
//! parameters, which carry passwords. Lines go through a channel to a writer
//! thread, so calls never wait for the disk; dropping the [`Trace`] writes
//! what is queued and closes the file.

use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// How a traced call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Ok,
    /// The failure's code.
    Error(String),
    /// The connection was closed without an answer.
    Dropped,
}

/// One traced call.
#[derive(Debug, Clone)]
pub struct Entry {
    /// When the call arrived, UTC.
    pub time: time::OffsetDateTime,
    /// `ip:port` of the client, when known.
    pub client: Option<String>,
    pub method: String,
    pub duration: Duration,
    pub outcome: Outcome,
    /// The kind of fault that fired, if any.
    pub fault: Option<&'static str>,
}

impl Entry {
    /// The JSON line, without its newline.
    pub fn line(&self) -> String {
        let fmt =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
        let time = self.time.to_offset(time::UtcOffset::UTC).format(fmt).unwrap_or_default();
        let mut o = Map::new();
        o.insert("time".into(), json!(time));
        o.insert("client".into(), self.client.as_deref().map_or(Value::Null, |c| json!(c)));
        o.insert("method".into(), json!(self.method));
        o.insert("duration_ms".into(), json!((self.duration.as_secs_f64() * 1e6).round() / 1e3));
        match &self.outcome {
            Outcome::Ok => o.insert("result".into(), json!("ok")),
            Outcome::Error(code) => o.insert("error".into(), json!(code)),
            Outcome::Dropped => o.insert("result".into(), json!("dropped")),
        };
        if let Some(f) = self.fault {
            o.insert("fault".into(), json!(f));
        }
        Value::Object(o).to_string()
    }
}

/// The trace file's writer.
pub struct Trace {
    tx: Option<mpsc::Sender<String>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trace")
    }
}

impl Trace {
    /// Opens `path` for appending and starts the writer.
    pub fn open(path: &Path) -> std::io::Result<Trace> {
        let file =
            std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot open trace file {}: {e}", path.display()))
            })?;
        let (tx, rx) = mpsc::channel::<String>();
        let thread = std::thread::Builder::new().name("xapi-sim-trace".into()).spawn(move || {
            let mut out = std::io::BufWriter::new(file);
            for line in rx {
                // A full disk loses trace lines, never calls.
                let _ = writeln!(out, "{line}").and_then(|()| out.flush());
            }
        })?;
        Ok(Trace { tx: Some(tx), thread: Some(thread) })
    }

    /// Queues a line.
    pub fn record(&self, entry: &Entry) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(entry.line());
        }
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_with_the_outcome() {
        let mut e = Entry {
            time: time::macros::datetime!(2024-03-01 12:34:56.789 UTC),
            client: Some("127.0.0.1:5000".into()),
            method: "VM.start".into(),
            duration: Duration::from_micros(1500),
            outcome: Outcome::Error("HOST_NOT_ENOUGH_FREE_MEMORY".into()),
            fault: Some("error"),
        };
        assert_eq!(
            e.line(),
            r#"{"time":"2024-03-01T12:34:56.789Z","client":"127.0.0.1:5000","method":"VM.start","duration_ms":1.5,"error":"HOST_NOT_ENOUGH_FREE_MEMORY","fault":"error"}"#
        );
        e.outcome = Outcome::Ok;
        e.fault = None;
        e.client = None;
        assert!(e.line().ends_with(r#""client":null,"method":"VM.start","duration_ms":1.5,"result":"ok"}"#));
    }

    #[test]
    fn dropping_the_trace_writes_every_line() {
        let dir = std::env::temp_dir().join(format!("xapi-sim-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("trace.jsonl");
        let _ = std::fs::remove_file(&path);
        let trace = Trace::open(&path).unwrap();
        let entry = Entry {
            time: time::OffsetDateTime::now_utc(),
            client: None,
            method: "session.login_with_password".into(),
            duration: Duration::ZERO,
            outcome: Outcome::Dropped,
            fault: Some("drop"),
        };
        for _ in 0..100 {
            trace.record(&entry);
        }
        drop(trace);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 100);
        assert!(text.lines().all(|l| l.ends_with(r#""result":"dropped","fault":"drop"}"#)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
