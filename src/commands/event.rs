//! `event-wait class=<c> [field=value | field=/=value]... [timeout=<seconds>]`:
//! returns as soon as one object of the class satisfies every condition,
//! checking the current objects first and then following `event.from`.

use super::CommandSpec;
use crate::context::{is_standard_key, Context};
use crate::error::{CliError, CmdResult};
use crate::records::{self, ClassView, Obj};

use std::time::{Duration, Instant};
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec { name: "event-wait", help: "", run };

/// Classes xe's event-wait accepts.
const CLASSES: &[&str] = &[
    "vm", "vdi", "sr", "host", "network", "vif", "pif", "vbd", "pbd", "pool", "task", "subject", "role", "secret",
    "vmss",
];

/// One condition: the rendered field equals (or differs from) a value.
struct Condition {
    field: &'static crate::facts::FieldFact,
    value: String,
    negated: bool,
}

fn satisfied(ctx: &mut Context, view: &ClassView, conds: &[Condition], r: &str, rec: &Value) -> CmdResult<bool> {
    for c in conds {
        // xe compares fully computed fields, expensive ones included.
        let v = records::field_value(ctx, view, &Obj { r, rec }, c.field, true)?;
        if (v.text == c.value) == c.negated {
            return Ok(false);
        }
    }
    Ok(true)
}

fn run(ctx: &mut Context) -> CmdResult {
    let class = ctx.params.required("class")?.to_string();
    if !CLASSES.contains(&class.as_str()) {
        return Err(CliError::failure(format!("Cli listening for class '{class}' not currently implemented")));
    }
    let view = ClassView::new(&class).ok_or_else(|| CliError::Internal(format!("no record for {class}")))?;
    let timeout = match ctx.params.get("timeout") {
        Some(t) => Some(
            t.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| CliError::failure(format!("Invalid timeout '{t}': give a number of seconds")))?,
        ),
        None => None,
    };
    let mut conds = Vec::new();
    for (k, v) in ctx.params.iter() {
        if matches!(k, "class" | "timeout") || is_standard_key(k) {
            continue;
        }
        let field = view.field(k).ok_or_else(|| CliError::failure(format!("key missing: {k}")))?;
        let (value, negated) = match v.strip_prefix("/=") {
            Some(rest) => (rest.to_string(), true),
            None => (v.to_string(), false),
        };
        conds.push(Condition { field, value, negated });
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let expired =
        || CliError::Timeout(format!("event-wait gave up after {} seconds", timeout.unwrap_or_default().as_secs_f64()));
    // `event.from` with an empty token lists the current objects: the
    // condition may already hold.
    let classes = Value::Array(vec![Value::str(view.api().to_ascii_lowercase())]);
    let mut token = String::new();
    let mut wait = 0.0;
    loop {
        let batch = ctx.call("event.from", vec![classes.clone(), Value::String(token.clone()), Value::Float(wait)])?;
        token = batch.get("token").and_then(Value::as_str).unwrap_or(&token).to_string();
        for ev in batch.get("events").and_then(Value::as_array).unwrap_or(&[]) {
            if ev.get("operation").and_then(Value::as_str) == Some("del") {
                continue;
            }
            let (Some(r), Some(snap)) = (ev.get("ref").and_then(Value::as_str), ev.get("snapshot")) else { continue };
            if satisfied(ctx, &view, &conds, r, snap)? {
                return Ok(());
            }
        }
        wait = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(expired());
                }
                left.as_secs_f64().min(30.0)
            }
            None => 30.0,
        };
    }
}
