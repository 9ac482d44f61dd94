//! xe's selectors: `vm=` (uuid or name-label), `host=`, `sr=`, plus any
//! field filter, with the `--multiple` rules; and running one operation over
//! the selected objects, several at a time, collecting failures the way xe
//! reports them (`operation failed on <uuid>: ...` on stdout).

use crate::connect::{Api, CallError};
use crate::context::{is_standard_key, Context};
use crate::error::{CliError, CmdResult};
use crate::records::{self, ClassView};
use xenapi::Value;

/// Which objects a command selects.
#[derive(Debug, Clone, Copy)]
pub struct Selector {
    /// CLI class: `vm`, `host` or `sr`.
    pub class: &'static str,
    /// Whether templates (and snapshots) may be selected.
    pub templates: bool,
    /// Whether control domains may be selected.
    pub dom0: bool,
    /// Whether the command works on one object only (vm-copy, vm-install...).
    pub single: bool,
}

impl Selector {
    pub const VM: Selector = Selector { class: "vm", templates: false, dom0: false, single: false };
}

/// One selected object.
#[derive(Debug, Clone)]
pub struct Target {
    pub r: String,
    pub uuid: String,
    pub rec: Value,
    /// The CLI class it was selected from (`vm`, `host`, `sr`).
    pub class: &'static str,
    /// Its position in the selection.
    pub index: usize,
}

impl Target {
    pub fn name(&self) -> &str {
        self.rec.get("name_label").and_then(Value::as_str).unwrap_or("")
    }
}

/// xe quotes selector values by escaping their double quotes only.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\\\""))
}

/// The class's name in xe's selection messages.
fn plural(class: &str) -> &'static str {
    match class {
        "vm" => "VMs",
        "sr" => "SRs",
        _ => "hosts",
    }
}

/// The record members a `vm=`/`host=`/`sr=` selector compares with its value.
fn selector_members(class: &str) -> &'static [&'static str] {
    match class {
        "host" => &["uuid", "hostname", "name_label"],
        _ => &["uuid", "name_label"],
    }
}

/// Every record of `class`, or those with one of `members` equal to `value`:
/// `get_all_records` without a value (servers that know only simple
/// expressions lack `true`), `get_all_records_where` with one, filtered here
/// when the server does not have that call.
pub fn fetch_matching(
    ctx: &mut Context,
    api_class: &str,
    members: &[&str],
    value: Option<&str>,
) -> CmdResult<Vec<(String, Value)>> {
    let Some(value) = value else {
        return records::fetch_all(ctx, api_class);
    };
    let expr = members
        .iter()
        .map(|m| format!("(field \"{}\"={})", m.replace('_', "__"), quote(value)))
        .collect::<Vec<_>>()
        .join(" or ");
    let method = format!("{api_class}.get_all_records_where");
    match ctx.call(&method, vec![Value::String(expr)]) {
        Ok(Value::Struct(m)) => Ok(m),
        Ok(other) => Err(records::not_records(ctx, &method, &other)),
        Err(e) if records::method_unknown(&e) => {
            let all = records::fetch_all(ctx, api_class)?;
            Ok(all
                .into_iter()
                .filter(|(_, rec)| members.iter().any(|m| rec.get(m).and_then(Value::as_str) == Some(value)))
                .collect())
        }
        Err(e) => Err(e),
    }
}

/// Parameters a command reads though xe's help does not list them (legacy
/// spellings): they are not filters either.
fn unlisted_params(command: &str) -> &'static [&'static str] {
    match command {
        "vm-migrate" => &["host-name", "vgpu:"],
        "vm-cd-add" => &["cd-location"],
        "vm-clone" | "vm-checkpoint" => &["ignore-vdi-uuids"],
        _ => &[],
    }
}

/// Selects objects for `command`: its own parameters are not filters.
pub fn select(ctx: &mut Context, sel: Selector) -> CmdResult<Vec<Target>> {
    let view = ClassView::new(sel.class).ok_or_else(|| CliError::Internal(format!("no class {}", sel.class)))?;
    let own: Vec<&str> = {
        let name = ctx.command.as_str();
        let fact = crate::facts::command(name);
        let mut own: Vec<&str> =
            fact.map(|f| f.reqd.iter().chain(f.optn.iter()).copied().collect()).unwrap_or_default();
        own.extend(unlisted_params(name));
        own
    };
    let key = sel.class;
    let value = ctx.params.get(key).map(str::to_string);
    let objects = fetch_matching(ctx, view.api(), selector_members(sel.class), value.as_deref())?;
    // xe's own filters first (no templates, no control domains), then the
    // command line's, applied in turn while objects remain.
    let mut pairs: Vec<(String, String)> = Vec::new();
    if sel.class == "vm" {
        if !sel.templates {
            pairs.push(("is-a-template".into(), "false".into()));
        }
        if !sel.dom0 {
            pairs.push(("is-control-domain".into(), "false".into()));
        }
    }
    pairs.extend(
        ctx.params
            .iter()
            .filter(|(k, _)| {
                *k != key
                    && !is_standard_key(k)
                    && !own.iter().any(|o| o == k || (o.ends_with(':') && k.starts_with(o)))
            })
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let filters = records::Filters::parse(&view, pairs);
    let chosen = records::select(ctx, &view, &filters, objects)?;
    let what = plural(sel.class);
    if chosen.is_empty() {
        // xe says "hosts" for an empty SR selection too.
        let what = if sel.class == "sr" { "hosts" } else { what };
        return Err(CliError::failure(format!("No matching {what} found")));
    }
    if chosen.len() > 1 {
        // xe's wording differs between VMs ("matches VMs") and the others.
        let (several, one) = match sel.class {
            "vm" => ("Multiple matches VMs found.", "one VM"),
            "sr" => ("Multiple matching SRs found.", "one SR"),
            _ => ("Multiple matching hosts found.", "one host"),
        };
        if sel.single {
            return Err(CliError::failure(format!("{several} Operation can only be performed on {one} at a time")));
        }
        if !ctx.params.flag("multiple") {
            return Err(CliError::failure(format!("{several} --multiple required to complete the operation")));
        }
    }
    Ok(chosen
        .into_iter()
        .enumerate()
        .map(|(index, (r, rec))| {
            let uuid = rec.get("uuid").and_then(Value::as_str).unwrap_or("").to_string();
            Target { r, uuid, rec, class: sel.class, index }
        })
        .collect())
}

/// What one operation on one object produced: text to print, or why it failed.
pub type OpResult = Result<Option<String>, CallError>;

/// An operation's result and the message lines to show after it.
type Outcome = (OpResult, Vec<String>);

/// Runs `op` on every target. A single target runs like any command, even
/// with `--multiple`; with several, every failure becomes an `operation
/// failed on` line, listed last target first as xe does. Returns each
/// success's output, in target order.
pub fn run_each<F>(ctx: &mut Context, targets: &[Target], op: F) -> CmdResult<Vec<Option<String>>>
where
    F: Fn(&mut dyn Api, &Target) -> Result<Option<String>, CallError> + Sync,
{
    let threshold = message_threshold(ctx);
    if targets.len() <= 1 || !ctx.params.flag("multiple") {
        let mut out = Vec::new();
        for t in targets {
            let since = xenapi::datetime::now();
            match op(ctx, t) {
                Ok(v) => out.push(v),
                Err(e) => return Err(ctx.describe(e)),
            }
            for line in new_messages(ctx, t, &since, threshold) {
                ctx.printer.warn(&line);
            }
        }
        return Ok(out);
    }
    let workers = ctx.settings.concurrency.min(targets.len()).max(1);
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        handles.push(ctx.worker()?);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Outcome>>> = targets.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for mut w in handles {
            let (next, results, op) = (&next, &results, &op);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(t) = targets.get(i) else { break };
                let since = xenapi::datetime::now();
                let r = op(&mut w, t);
                let notes = if r.is_ok() { new_messages(&mut w, t, &since, threshold) } else { Vec::new() };
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some((r, notes));
                }
            });
        }
    });
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for (t, slot) in targets.iter().zip(results) {
        match slot.into_inner().ok().flatten() {
            Some((Ok(v), notes)) => {
                out.push(v);
                for line in notes {
                    ctx.printer.warn(&line);
                }
            }
            Some((Err(e), _)) => failures.push((t.uuid.clone(), failure_text(ctx, e))),
            None => failures.push((t.uuid.clone(), "the operation did not run".to_string())),
        }
    }
    if !failures.is_empty() {
        failures.reverse();
        return Err(CliError::Multiple(failures));
    }
    Ok(out)
}

/// `message-priority=` (default 5): messages about a VM below this priority
/// are shown after an operation on it.
fn message_threshold(ctx: &Context) -> i64 {
    ctx.params.get("message-priority").and_then(crate::commands::int64::ocaml_int64).unwrap_or(5)
}

/// Like xe after each operation on a VM: the messages about it created
/// since the operation began whose priority is below `threshold`, as
/// `Message: ...` lines for stderr. Any failure means no messages.
fn new_messages(api: &mut dyn Api, t: &Target, since: &str, threshold: i64) -> Vec<String> {
    if t.class != "vm" {
        return Vec::new();
    }
    let args = vec![Value::str("VM"), Value::str(t.uuid.as_str()), Value::DateTime(since.to_string())];
    let Ok(Value::Struct(messages)) = api.call("message.get", args) else { return Vec::new() };
    messages
        .iter()
        .filter_map(|(_, m)| {
            let priority = m.get("priority").and_then(Value::as_int)?;
            let time = match m.get("timestamp") {
                Some(Value::DateTime(t) | Value::String(t)) => t.clone(),
                _ => String::new(),
            };
            let name = m.get("name").and_then(Value::as_str).unwrap_or("");
            (priority < threshold).then(|| format!("Message: time={time} priority={priority} name='{name}'"))
        })
        .collect()
}

/// What xe prints after `operation failed on <uuid>: `: a described API
/// error as usual; an undescribed one as `CODE: [ p1; p2 ]`; a failure of
/// xe's own (e.g. "Disk not found") as the exception it is on the server.
pub fn failure_text(ctx: &mut Context, e: CallError) -> String {
    match e {
        CallError::Api(code, params) => {
            if crate::facts::error(&code).is_some_and(|f| f.described) {
                ctx.api_error(&code, params).message()
            } else {
                format!("{code}: [ {} ]", params.join("; "))
            }
        }
        CallError::Cli(CliError::Failure(m)) => {
            format!("INTERNAL_ERROR: [ Cli_util.Cli_failure({}) ]", ocaml_string(&m))
        }
        CallError::Cli(other) => other.message(),
    }
}

/// A string as OCaml's `%S` prints it (what `Printexc` shows for an exception's argument).
pub(crate) fn ocaml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ocaml_strings_escape_like_printexc() {
        assert_eq!(ocaml_string("Disk not found"), "\"Disk not found\"");
        assert_eq!(ocaml_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(ocaml_string("é"), "\"\\195\\169\"");
    }

    #[test]
    fn selector_values_escape_quotes_only() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\c""#);
    }
}
