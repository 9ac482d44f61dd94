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
}

impl Target {
    pub fn name(&self) -> &str {
        self.rec.get("name_label").and_then(Value::as_str).unwrap_or("")
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn plural(class: &str) -> &'static str {
    match class {
        "vm" => "VMs",
        // xe says "hosts" for SR selectors too.
        _ => "hosts",
    }
}

/// Selects objects for `command`: its own parameters are not filters.
pub fn select(ctx: &mut Context, sel: Selector) -> CmdResult<Vec<Target>> {
    let view = ClassView::new(sel.class).ok_or_else(|| CliError::Internal(format!("no class {}", sel.class)))?;
    let own: Vec<&str> = {
        let name = ctx.command.as_str();
        let fact = crate::facts::command(name);
        fact.map(|f| f.reqd.iter().chain(f.optn.iter()).copied().collect()).unwrap_or_default()
    };
    let key = sel.class;
    let expr = match ctx.params.get(key) {
        Some(v) if sel.class == "host" => {
            format!("field \"uuid\" = {q} or field \"name__label\" = {q} or field \"hostname\" = {q}", q = quote(v))
        }
        Some(v) => format!("field \"uuid\" = {q} or field \"name__label\" = {q}", q = quote(v)),
        None => "true".to_string(),
    };
    let v = ctx.call(&format!("{}.get_all_records_where", view.api()), vec![Value::String(expr)])?;
    let objects = match v {
        Value::Struct(m) => m,
        _ => Vec::new(),
    };
    let mut filters = Vec::new();
    if sel.class == "vm" {
        if !sel.templates {
            filters.push(records::parse_filter(&view, "is-a-template", "false")?);
        }
        if !sel.dom0 {
            filters.push(records::parse_filter(&view, "is-control-domain", "false")?);
        }
    }
    let user: Vec<(String, String)> = ctx
        .params
        .iter()
        .filter(|(k, _)| {
            *k != key && !is_standard_key(k) && !own.iter().any(|o| o == k || (o.ends_with(':') && k.starts_with(o)))
        })
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in &user {
        match records::parse_filter(&view, k, v) {
            Ok(f) => filters.push(f),
            Err(e) if !objects.is_empty() => return Err(e),
            Err(_) => {}
        }
    }
    let chosen = records::select(ctx, &view, &filters, objects)?;
    if chosen.is_empty() {
        return Err(CliError::failure(format!("No matching {} found", plural(sel.class))));
    }
    if chosen.len() > 1 {
        if sel.single {
            return Err(CliError::failure(format!(
                "Several {} match, but this command works on one at a time; select exactly one",
                plural(sel.class)
            )));
        }
        if !ctx.params.flag("multiple") {
            return Err(CliError::failure(format!(
                "{} {} match the selectors; add --multiple to operate on all of them",
                chosen.len(),
                plural(sel.class)
            )));
        }
    }
    Ok(chosen
        .into_iter()
        .map(|(r, rec)| {
            let uuid = rec.get("uuid").and_then(Value::as_str).unwrap_or("").to_string();
            Target { r, uuid, rec }
        })
        .collect())
}

/// What one operation on one object produced: text to print, or why it failed.
pub type OpResult = Result<Option<String>, CallError>;

/// Runs `op` on every target. One target without `--multiple` fails like
/// any command; with `--multiple` every failure becomes an
/// `operation failed on` line. Returns each success's output, in target order.
pub fn run_each<F>(ctx: &mut Context, targets: &[Target], op: F) -> CmdResult<Vec<Option<String>>>
where
    F: Fn(&mut dyn Api, &Target) -> Result<Option<String>, CallError> + Sync,
{
    if !ctx.params.flag("multiple") {
        let mut out = Vec::new();
        for t in targets {
            match op(ctx, t) {
                Ok(v) => out.push(v),
                Err(e) => return Err(ctx.describe(e)),
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
    let results: Vec<std::sync::Mutex<Option<OpResult>>> =
        targets.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for mut w in handles {
            let (next, results, op) = (&next, &results, &op);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(t) = targets.get(i) else { break };
                let r = op(&mut w, t);
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some(r);
                }
            });
        }
    });
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for (t, slot) in targets.iter().zip(results) {
        match slot.into_inner().ok().flatten() {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => {
                let err = ctx.describe(e);
                failures.push((t.uuid.clone(), err.message()));
            }
            None => failures.push((t.uuid.clone(), "the operation did not run".to_string())),
        }
    }
    if !failures.is_empty() {
        return Err(CliError::Multiple(failures));
    }
    Ok(out)
}
