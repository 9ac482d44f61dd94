//! The VDI commands with more than one call (the others are in `by_uuid`),
//! `cd-list`, and the VDI records and ISO lookups the VM disk commands share.

mod cd_list;
mod clone;
mod copy;
mod create;
mod export;
mod import;
mod introduce;
mod resize;
mod snapshot;

use crate::commands::args::s;
use crate::commands::CommandSpec;
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

/// The family's commands, for `commands::COMMANDS`.
pub const COMMANDS: &[CommandSpec] = &[
    create::SPEC,
    clone::SPEC,
    snapshot::SPEC,
    copy::SPEC,
    resize::SPEC,
    introduce::SPEC,
    cd_list::SPEC,
    export::SPEC,
    import::SPEC,
];

/// A `VDI.create` record as xe builds it.
pub(crate) fn vdi_record(
    name: &str,
    sr: &str,
    size: i64,
    ty: &str,
    sharable: bool,
    sm_config: Value,
    tags: Vec<Value>,
) -> Value {
    Value::Struct(vec![
        ("name_label".into(), s(name)),
        ("name_description".into(), s("")),
        ("SR".into(), s(sr)),
        ("virtual_size".into(), Value::Int(size)),
        ("type".into(), s(ty)),
        ("sharable".into(), Value::Bool(sharable)),
        ("read_only".into(), Value::Bool(false)),
        ("other_config".into(), Value::Struct(Vec::new())),
        ("xenstore_data".into(), Value::Struct(Vec::new())),
        ("sm_config".into(), sm_config),
        ("tags".into(), Value::Array(tags)),
    ])
}

/// xe's VDI types, spelt exactly (no case folding).
pub(crate) fn vdi_type(v: &str) -> CmdResult<&'static str> {
    match v {
        "system" => Ok("system"),
        "user" => Ok("user"),
        "suspend" => Ok("suspend"),
        "crashdump" => Ok("crashdump"),
        _ => Err(CliError::failure(format!("Unknown vdi type: {v}"))),
    }
}

/// The VDIs named `name` in ISO SRs, in the server's order.
pub(crate) fn iso_vdis_named(ctx: &mut Context, name: &str) -> CmdResult<Vec<String>> {
    let vdis = ctx.call_refs("VDI.get_by_name_label", vec![s(name)])?;
    let mut out = Vec::new();
    for vdi in vdis {
        let sr = ctx.call("VDI.get_SR", vec![s(&vdi)])?;
        if ctx.call("SR.get_content_type", vec![sr])?.as_str() == Some("iso") {
            out.push(vdi.to_string());
        }
    }
    Ok(out)
}
