//! `cd-list`: the VDIs of every ISO SR, SR by SR.

use crate::commands::args::s;
use crate::commands::generic::record_of;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use crate::records;
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "cd-list",
    help: "List the CD images available in the ISO storage repositories.",
    run: Run::Fn(cd_list),
};

/// `cd-list`: the VDIs of every ISO SR, SR by SR.
fn cd_list(ctx: &mut Context) -> CmdResult {
    let params = ctx.params.get("params").map(str::to_string);
    let srs = records::fetch_all(ctx, "SR")?;
    let mut vdis = Vec::new();
    for (sr, rec) in srs {
        if rec.get("content_type").and_then(Value::as_str) == Some("iso") {
            vdis.extend(ctx.call_refs("SR.get_VDIs", vec![s(&sr)])?);
        }
    }
    let mut out = Vec::new();
    for vdi in vdis {
        let rec = ctx.call_record("VDI.get_record", vec![s(&vdi)])?;
        out.push(record_of(ctx, "vdi", &vdi, &rec, params.as_deref(), "name-label,uuid")?);
    }
    ctx.printer.records(&out);
    Ok(())
}
