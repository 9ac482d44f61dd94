//! `vdi-export`: a VDI's contents into a local file (or stdout), over HTTP.

use crate::commands::transfer::{self, encode, Direction, Request, Sink};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "vdi-export",
    help: "Export a VDI's contents, raw or as a VHD, to a file or stdout, optionally only changes since a base.",
    run: Run::Fn(vdi_export),
};

fn vdi_export(ctx: &mut Context) -> CmdResult {
    let filename = ctx.params.required("filename")?.to_string();
    let vdi = ctx.lookup_param("VDI", "uuid")?;
    let extra = {
        let mut q = String::new();
        // xe passes both through as given; the server checks them.
        if let Some(f) = ctx.params.get("format") {
            q.push_str(&format!("&format={}", encode(f)));
        }
        if let Some(b) = ctx.params.get("base") {
            q.push_str(&format!("&base={}", encode(b)));
        }
        q
    };
    let report_time = ctx.params.bool("progress", false)?;
    // A raw export is exactly the disk's size: the progress bar can show it.
    let raw = ctx.params.get("format").is_none_or(|f| f.eq_ignore_ascii_case("raw"));
    let expected = if raw { ctx.call("VDI.get_virtual_size", vec![Value::str(&vdi)])?.as_int() } else { None };
    let path = |session: &str, task: &str| {
        format!("/export_raw_vdi?session_id={session}&task_id={task}&vdi={}{extra}", encode(&vdi))
    };
    transfer::run(
        ctx,
        Request {
            label: "VDI export",
            direction: Direction::Download(Sink::from_param(&filename)),
            path: &path,
            expected: expected.and_then(|n| u64::try_from(n).ok()),
            report_time,
        },
    )?;
    Ok(())
}
