//! `vdi-import`: a local file into an existing VDI, over HTTP.

use crate::commands::transfer::{self, encode, Direction, Request};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use std::path::PathBuf;

pub const SPEC: CommandSpec = CommandSpec {
    name: "vdi-import",
    help: "Import a local file, raw or a VHD, into an existing VDI.",
    run: Run::Fn(vdi_import),
};

fn vdi_import(ctx: &mut Context) -> CmdResult {
    let filename = PathBuf::from(ctx.params.required("filename")?);
    let vdi = ctx.lookup_param("VDI", "uuid")?;
    let format = ctx.params.get("format").map(|f| format!("&format={}", encode(f))).unwrap_or_default();
    let report_time = ctx.params.bool("progress", false)?;
    let path = |session: &str, task: &str| {
        format!("/import_raw_vdi?session_id={session}&task_id={task}&vdi={}{format}", encode(&vdi))
    };
    transfer::run(
        ctx,
        Request {
            label: "VDI import",
            direction: Direction::Upload(filename),
            path: &path,
            expected: None,
            report_time,
        },
    )?;
    Ok(())
}
