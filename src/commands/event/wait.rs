//! `event-wait class=<c> [field=value | field=/=value]... [timeout=<seconds>]`:
//! returns as soon as one object of the class satisfies every condition,
//! checking the current objects first and then following `event.from`.

use crate::commands::{CommandSpec, Run};
use crate::context::{is_standard_key, Context};
use crate::error::{CliError, CmdResult};
use crate::records::{self, ClassView, Obj};

use std::time::{Duration, Instant};
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "event-wait",
    help: "Block until an object of a class satisfies every field=value (or field=/=value) condition.",
    run: Run::Fn(run),
};

/// Classes xe's event-wait accepts.
const CLASSES: &[&str] = &[
    "vm", "vdi", "sr", "host", "network", "vif", "pif", "vbd", "pbd", "pool", "task", "subject", "role", "secret",
    "vmss",
];

/// One condition: the rendered field equals (or differs from) a value.
struct Condition {
    key: String,
    value: String,
    negated: bool,
}

/// Whether the object satisfies every condition. Like xe, every condition
/// is evaluated in turn (each field fully computed, expensive ones
/// included), and a key that names no field of the class fails the command
/// only here, when there is an object to test.
fn satisfied(ctx: &mut Context, view: &ClassView, conds: &[Condition], r: &str, rec: &Value) -> CmdResult<bool> {
    let mut all = true;
    for c in conds {
        let field = view.field(&c.key).ok_or_else(|| CliError::failure(format!("key missing: {}", c.key)))?;
        let v = records::field_value(ctx, view, &Obj { r, rec }, field, true)?;
        if (v.text == c.value) == c.negated {
            all = false;
        }
    }
    Ok(all)
}

fn unimplemented(class: &str) -> CliError {
    CliError::failure(format!("Cli listening for class '{class}' not currently implemented"))
}

fn run(ctx: &mut Context) -> CmdResult {
    let class = ctx.params.required("class")?.to_string();
    if !CLASSES.contains(&class.as_str()) {
        return Err(unimplemented(&class));
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
        let (value, negated) = match v.strip_prefix("/=") {
            Some(rest) => (rest.to_string(), true),
            None => (v.to_string(), false),
        };
        conds.push(Condition { key: k.to_string(), value, negated });
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let expired =
        || CliError::Timeout(format!("event-wait gave up after {} seconds", timeout.unwrap_or_default().as_secs_f64()));
    // `event.from` with an empty token lists the current objects: the
    // condition may already hold.
    let classes = Value::Array(vec![Value::str(view.api().to_ascii_lowercase())]);
    let mut token = String::new();
    let mut wait = 0.0;
    let mut first = true;
    loop {
        let args = vec![classes.clone(), Value::String(token.clone()), Value::Float(wait)];
        let batch = ctx.call_waiting("event.from", args, Duration::from_secs_f64(wait))?;
        // A batch without them would have us ask again at once, for ever.
        let (Some(next), Some(events)) =
            (batch.get("token").and_then(Value::as_str), batch.get("events").and_then(Value::as_array))
        else {
            return Err(ctx.wrong_answer("event.from", "a token and a list of events", &batch));
        };
        token = next.to_string();
        // Every event with a snapshot is tested, deletions included. (The
        // first answer lists the current objects; xe cannot rebuild subject
        // and role records from later events.)
        for ev in events {
            let (Some(r), Some(snap)) = (ev.get("ref").and_then(Value::as_str), ev.get("snapshot")) else { continue };
            if !first && matches!(class.as_str(), "subject" | "role") {
                return Err(unimplemented(&class));
            }
            if satisfied(ctx, &view, &conds, r, snap)? {
                return Ok(());
            }
        }
        first = false;
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
