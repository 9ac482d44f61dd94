//! `vm-export`, `template-export`, `snapshot-export-to-template`: a VM as an
//! XVA (or only its metadata) into a local file or stdout, over HTTP, the
//! way xe's `export_common` does it (Pattern A of
//! [`transfer::run_handed_over`]): task `Export of VM` described by the
//! VM's uuid, then `GET /export` (or `/export_metadata` with
//! `metadata=true`). With `--multiple`, the second VM goes to
//! `<filename>2`, the third to `<filename>3`, and so on.

use crate::commands::select::{self, Selector};
use crate::commands::transfer::{self, encode, Direction, Handover, Request, Sink};
use crate::commands::{CommandSpec, Run};
use crate::connect::CallError;
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

pub const VM: CommandSpec = CommandSpec {
    name: "vm-export",
    help: "Export a VM to a local XVA file (or stdout), or only its metadata with metadata=true.",
    run: Run::Fn(vm_export),
};

pub const TEMPLATE: CommandSpec = CommandSpec {
    name: "template-export",
    help: "Export a template to a local XVA file (or stdout).",
    run: Run::Fn(template_export),
};

pub const SNAPSHOT: CommandSpec = CommandSpec {
    name: "snapshot-export-to-template",
    help: "Export a snapshot to a local XVA file (or stdout) that imports as a template.",
    run: Run::Fn(snapshot_export),
};

/// What every export of one run shares.
struct Plan {
    filename: String,
    /// `use_compression`: `gzip`, `zstd` or `false`.
    compression: &'static str,
    preserve_power_state: bool,
    metadata: bool,
    snapshots: bool,
    excluded: String,
}

impl Plan {
    fn of(ctx: &Context) -> CmdResult<Plan> {
        // xe's `compress`: true or gzip, zstd; anything else is none.
        let compression = match ctx.params.get("compress") {
            Some("true" | "gzip") => "gzip",
            Some("zstd") => "zstd",
            _ => "false",
        };
        Ok(Plan {
            filename: ctx.params.required("filename")?.to_string(),
            compression,
            preserve_power_state: ctx.params.bool("preserve-power-state", false)?,
            metadata: ctx.params.bool("metadata", false)?,
            snapshots: ctx.params.bool("include-snapshots", false)?,
            excluded: ctx.params.get("excluded-device-types").unwrap_or("").to_string(),
        })
    }

    /// Exports one VM into the `num`th file (1 is `filename` itself).
    fn export(&self, ctx: &mut Context, vm: &str, uuid: &str, num: usize) -> CmdResult {
        let filename = if num > 1 { format!("{}{num}", self.filename) } else { self.filename.clone() };
        let (uri, extra) = match self.metadata {
            true => ("/export_metadata", format!("&excluded_device_types={}", encode(&self.excluded))),
            false => ("/export", String::new()),
        };
        let path = |session: &str, task: &str| {
            format!(
                "{uri}?session_id={session}&task_id={task}&ref={}&use_compression={}&preserve_power_state={}\
                 &export_snapshots={}{extra}",
                encode(vm),
                self.compression,
                self.preserve_power_state,
                self.snapshots,
            )
        };
        let req = Request {
            label: "Export of VM",
            direction: Direction::Download(Sink::from_param(&filename)),
            path: &path,
            expected: None,
            report_time: false,
        };
        transfer::run_handed_over(ctx, req, &Handover { description: uuid, what: "Export" })
    }
}

fn vm_export(ctx: &mut Context) -> CmdResult {
    let plan = Plan::of(ctx)?;
    let targets = select::select(ctx, Selector::VM)?;
    let several = targets.len() > 1 && ctx.params.flag("multiple");
    let mut failures = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        if let Err(e) = plan.export(ctx, &t.r, &t.uuid, i + 1) {
            if !several {
                return Err(e);
            }
            failures.push((t.uuid.clone(), select::failure_text(ctx, CallError::Cli(e))));
        }
    }
    if !failures.is_empty() {
        failures.reverse();
        return Err(CliError::Multiple(failures));
    }
    Ok(())
}

/// `template-export` and `snapshot-export-to-template`: the one VM named by
/// `<kind>-uuid`, which must be a template or a snapshot.
fn export_one(ctx: &mut Context, kind: &str, flag: &str) -> CmdResult {
    let plan = Plan::of(ctx)?;
    let uuid = ctx.params.required(&format!("{kind}-uuid"))?.to_string();
    let vm = ctx.call("VM.get_by_uuid", vec![Value::str(&uuid)])?;
    let is = ctx.call(&format!("VM.get_{flag}"), vec![vm.clone()])?.as_bool().unwrap_or(false);
    if !is {
        return Err(CliError::failure(format!(
            "This operation can only be performed on a VM {kind}. {uuid} is not a VM {kind}."
        )));
    }
    plan.export(ctx, vm.as_str().unwrap_or(""), &uuid, 1)
}

fn template_export(ctx: &mut Context) -> CmdResult {
    export_one(ctx, "template", "is_a_template")
}

fn snapshot_export(ctx: &mut Context) -> CmdResult {
    export_one(ctx, "snapshot", "is_a_snapshot")
}
