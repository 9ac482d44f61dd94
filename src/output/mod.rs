//! The only code that writes to stdout and stderr. Commands hand values to
//! the [`Printer`]; `--minimal`, `--json` and `--table` are handled here.

pub mod record;

pub use record::{Field, Record};

use std::io::Write;

/// How results are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Normal,
    /// xe's `--minimal`: one comma-joined line at the end.
    Minimal,
    /// Our `--json`: records as a JSON array.
    Json,
    /// Our `--table`: aligned columns for people.
    Table,
}

/// Collects and writes output.
#[derive(Debug, Default)]
pub struct Printer {
    pub mode: Mode,
    /// `--minimal` chunks, one per printer call, in emission order.
    chunks: Vec<String>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Write through to the process streams (false in unit tests).
    live: bool,
}

/// Escapes a value for `--minimal`: backslash and comma.
pub fn escape_minimal(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\\' || c == ',' {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

impl Printer {
    pub fn new(mode: Mode) -> Printer {
        Printer { mode, live: true, ..Printer::default() }
    }

    /// A printer that keeps everything in memory.
    pub fn captured(mode: Mode) -> Printer {
        Printer { mode, live: false, ..Printer::default() }
    }

    pub fn minimal(&self) -> bool {
        self.mode == Mode::Minimal
    }

    fn out(&mut self, s: &str) {
        if self.live {
            let mut o = std::io::stdout().lock();
            // A closed pipe (e.g. `| head`) is not an error worth reporting.
            let _ = o.write_all(s.as_bytes());
        } else {
            self.stdout.extend_from_slice(s.as_bytes());
        }
    }

    /// Writes a line to stderr (dropped under `--minimal`, like xe's PStderr).
    pub fn warn(&mut self, s: &str) {
        if self.minimal() {
            return;
        }
        self.err_always(s);
    }

    /// Writes to stderr whatever the mode (errors, notices that must be seen).
    pub fn err_always(&mut self, s: &str) {
        let mut line = s.to_string();
        if !line.ends_with('\n') {
            line.push('\n');
        }
        self.err_always_raw(&line);
    }

    /// Writes text to stderr as it is, without adding a newline.
    pub fn err_always_raw(&mut self, s: &str) {
        if self.live {
            let _ = std::io::stderr().lock().write_all(s.as_bytes());
        } else {
            self.stderr.extend_from_slice(s.as_bytes());
        }
    }

    /// Prints records (a table, in xe's terms).
    pub fn records(&mut self, records: &[Record]) {
        match self.mode {
            Mode::Minimal => {
                let firsts: Vec<String> =
                    records.iter().filter_map(|r| r.fields.first()).map(|f| escape_minimal(&f.text)).collect();
                self.chunks.push(firsts.join(","));
            }
            Mode::Json => {
                let arr: Vec<serde_json::Value> = records.iter().map(Record::to_json).collect();
                let text = serde_json::to_string_pretty(&arr).unwrap_or_else(|_| "[]".into());
                self.out(&format!("{text}\n"));
            }
            Mode::Table => {
                let text = record::render_table(records);
                self.out(&text);
            }
            Mode::Normal => {
                let mut s = String::new();
                for r in records {
                    record::render_record(r, &mut s);
                }
                self.out(&s);
            }
        }
    }

    /// Prints a list of strings, one per line (comma-joined under `--minimal`).
    pub fn list(&mut self, items: &[String]) {
        match self.mode {
            Mode::Minimal => {
                let v: Vec<String> = items.iter().map(|s| escape_minimal(s)).collect();
                self.chunks.push(v.join(","));
            }
            Mode::Json => {
                let text = serde_json::to_string_pretty(items).unwrap_or_else(|_| "[]".into());
                self.out(&format!("{text}\n"));
            }
            _ => {
                let mut s = String::new();
                for i in items {
                    s.push_str(i);
                    s.push('\n');
                }
                self.out(&s);
            }
        }
    }

    /// Prints one message line (dropped under `--minimal`).
    pub fn message(&mut self, s: &str) {
        if self.minimal() {
            return;
        }
        self.out(&format!("{s}\n"));
    }

    /// Text a command writes straight to the client; never buffered, even with `--minimal`.
    pub fn raw(&mut self, s: &str) {
        self.out(s);
    }

    /// Flushes the `--minimal` line: chunks joined by `,` in reverse order of
    /// emission. xe writes it after every successful command, so one that
    /// printed nothing still ends with an empty line.
    pub fn finish(&mut self) {
        if self.mode == Mode::Minimal {
            let mut chunks = std::mem::take(&mut self.chunks);
            chunks.reverse();
            let line = format!("{}\n", chunks.join(","));
            self.out(&line);
        }
        if self.live {
            let _ = std::io::stdout().flush();
        }
    }

    /// What was written to stdout (captured printers only).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// What was written to stderr (captured printers only).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(pairs: &[(&str, &str)]) -> Record {
        Record {
            fields: pairs
                .iter()
                .map(|(k, v)| Field::new(k, crate::facts::Access::Ro, false, v.to_string(), serde_json::json!(v)))
                .collect(),
        }
    }

    #[test]
    fn minimal_escapes_and_joins_first_fields() {
        let mut p = Printer::captured(Mode::Minimal);
        p.records(&[rec(&[("uuid", "a,b")]), rec(&[("uuid", r"c\d")])]);
        p.finish();
        assert_eq!(p.stdout_text(), "a\\,b,c\\\\d\n");
    }

    #[test]
    fn minimal_with_nothing_is_an_empty_line() {
        let mut p = Printer::captured(Mode::Minimal);
        p.records(&[]);
        p.finish();
        assert_eq!(p.stdout_text(), "\n");
    }

    #[test]
    fn minimal_chunks_are_reversed() {
        let mut p = Printer::captured(Mode::Minimal);
        p.list(&["first".into()]);
        p.list(&["second".into()]);
        p.message("dropped");
        p.finish();
        assert_eq!(p.stdout_text(), "second,first\n");
    }
}
