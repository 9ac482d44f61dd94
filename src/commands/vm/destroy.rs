//! `vm-destroy`: destroy a VM record (never the control domain).

use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const SPEC: CommandSpec =
    CommandSpec { name: "vm-destroy", help: "Destroy a VM record, leaving its disks in place.", run: Run::Fn(destroy) };

fn destroy(ctx: &mut Context) -> CmdResult {
    let uuid = ctx.params.required("uuid")?.to_string();
    let r = ctx.lookup_uuid("VM", &uuid)?;
    let dom0 = ctx.call("VM.get_is_control_domain", vec![Value::str(r.as_str())])?;
    if dom0.as_bool() == Some(true) {
        return Err(
            ctx.api_error("OPERATION_NOT_ALLOWED", vec!["You cannot destroy a control domain via the CLI".into()])
        );
    }
    ctx.call("VM.destroy", vec![Value::String(r)])?;
    Ok(())
}
