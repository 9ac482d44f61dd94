//! The only code that writes to stdout and stderr. Commands hand values to
//! the [`Printer`]; `--minimal`, `--json` and `--table` are handled here,
//! and so are progress bars. clippy.toml forbids the printing macros and
//! `std::io::stdout`/`stderr` everywhere else.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

pub mod record;
pub mod screen;

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

/// Wraps a comma list at word boundaries into lines of at most `width`
/// characters, each starting with `indent`.
pub fn wrap(s: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in s.split(' ') {
        if !line.is_empty() && line.len() + word.len() + 1 > width {
            out.push_str(indent);
            out.push_str(line.trim_end());
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(indent);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// A task's progress bar on stderr.
pub struct Progress(indicatif::ProgressBar);

impl Progress {
    /// Shows `fraction` (0 to 1) of the work done.
    pub fn set(&self, fraction: f64) {
        self.0.set_position((fraction * 100.0).round().clamp(0.0, 100.0) as u64);
    }

    /// Removes the bar.
    pub fn finish(self) {
        self.0.finish_and_clear();
    }
}

/// A data transfer's progress bar on stderr: bytes, rate and time left.
pub struct ByteProgress(indicatif::ProgressBar);

impl ByteProgress {
    /// Shows `done` bytes moved.
    pub fn set(&self, done: u64) {
        self.0.set_position(done);
    }

    /// Removes the bar.
    pub fn finish(self) {
        self.0.finish_and_clear();
    }
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

    /// Whether stdout is a terminal (a full-screen view needs one).
    pub fn stdout_is_terminal(&self) -> bool {
        self.live && std::io::IsTerminal::is_terminal(&std::io::stdout())
    }

    /// Whether stderr is a terminal (progress bars and prompts only go there).
    pub fn stderr_is_terminal(&self) -> bool {
        self.live && std::io::IsTerminal::is_terminal(&std::io::stderr())
    }

    /// A progress bar for a task on stderr, when it is a terminal and the
    /// mode shows progress (never under `--minimal`); `None` otherwise.
    pub fn progress(&self, label: &str) -> Option<Progress> {
        if self.minimal() || !self.stderr_is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::new(100);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos:>3}%")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(label.to_string());
        Some(Progress(bar))
    }

    /// A byte-counting progress bar for a data transfer of `total` bytes
    /// (a spinner with bytes and rate when the total is unknown), on a
    /// terminal only and never under `--minimal`.
    pub fn transfer_progress(&self, label: &str, total: Option<u64>) -> Option<ByteProgress> {
        if self.minimal() || !self.stderr_is_terminal() {
            return None;
        }
        let (bar, template) = match total {
            Some(n) => (
                indicatif::ProgressBar::new(n),
                "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            ),
            None => (indicatif::ProgressBar::no_length(), "{msg} {spinner} {bytes} {binary_bytes_per_sec} {elapsed}"),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(label.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Some(ByteProgress(bar))
    }

    /// Writes the bytes of a download to stdout as they are (`filename=`
    /// empty); a closed pipe is an error here, the transfer must stop.
    pub fn data(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.live {
            std::io::stdout().lock().write_all(bytes)
        } else {
            self.stdout.extend_from_slice(bytes);
            Ok(())
        }
    }

    /// Flushes the data written with [`Printer::data`].
    pub fn data_flush(&mut self) -> std::io::Result<()> {
        if self.live {
            std::io::stdout().lock().flush()
        } else {
            Ok(())
        }
    }

    /// Reads one answer line from stdin (without its newline); `None` at
    /// the end of input.
    pub fn read_line(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        use std::io::BufRead;
        let mut line = Vec::new();
        if std::io::stdin().lock().read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        Ok(Some(line))
    }

    /// Asks for a password on the terminal, without echo.
    pub fn prompt_password(&mut self, prompt: &str) -> std::io::Result<String> {
        rpassword::prompt_password(prompt)
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
