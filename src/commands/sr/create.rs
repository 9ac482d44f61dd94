//! `sr-create`: a new SR, with `device-config:*-filename` keys read from local files.

use super::parse_host_uuid;
use crate::commands::args::{map, s};
use crate::commands::sizes::parse_size;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "sr-create",
    help: "Create a storage repository of the given type and print its UUID.",
    run: Run::Fn(sr_create),
};

/// `sr-create`'s `device-config:` entries: keys ending in `-filename` take
/// the contents of a local file (xe does this for sr-create only).
fn device_config_with_files(ctx: &mut Context) -> CmdResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (k, v) in ctx.params.map("device-config") {
        if let Some(key) = k.strip_suffix("-filename") {
            let text = std::fs::metadata(&v)
                .ok()
                .filter(|m| m.len() <= 32 << 20)
                .and_then(|_| std::fs::read_to_string(&v).ok());
            let Some(text) = text else {
                // xe's two messages: the path without a newline, then the error.
                ctx.printer.err_always_raw(&format!("File not found: {v}"));
                return Err(CliError::failure("File not found"));
            };
            out.push((key.to_string(), text));
        } else {
            out.push((k, v));
        }
    }
    Ok(out)
}

fn sr_create(ctx: &mut Context) -> CmdResult {
    let shared = ctx.params.bool("shared", false)?;
    let host = parse_host_uuid(ctx, shared)?;
    // xe quietly takes a size it cannot read as 0.
    let size = ctx.params.get("physical-size").and_then(|v| parse_size("physical-size", v).ok()).unwrap_or(0);
    let dc = device_config_with_files(ctx)?;
    let args = vec![
        s(&host),
        map(dc),
        Value::Int(size),
        s(ctx.params.required("name-label")?),
        s(ctx.params.get("name-description").unwrap_or("")),
        s(ctx.params.required("type")?),
        s(ctx.params.get("content-type").unwrap_or("")),
        Value::Bool(shared),
        map(ctx.params.map("sm-config")),
    ];
    let sr = ctx.call("SR.create", args)?;
    let uuid = ctx.call("SR.get_uuid", vec![sr])?;
    // xe writes this uuid straight to the terminal, even with --minimal.
    ctx.printer.raw(&format!("{uuid}\n"));
    Ok(())
}
