//! `vm-vif-list`: the VIFs of the selected VMs.

use crate::commands::args::s;
use crate::commands::select::{self, Selector};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use crate::records::{self, ClassView, Obj};
use xenapi::Value;

pub const SPEC: CommandSpec =
    CommandSpec { name: "vm-vif-list", help: "List the VIFs of the selected VMs.", run: Run::Fn(vm_vif_list) };

/// `vm-vif-list`: the VIFs of every selected VM, one table per VM; xe
/// lists any number of VMs without `--multiple`.
fn vm_vif_list(ctx: &mut Context) -> CmdResult {
    ctx.params.set("multiple", "true");
    let vms = select::select(ctx, Selector::VM)?;
    let view = ClassView::new("vif").ok_or_else(|| CliError::Internal("no vif record".into()))?;
    let fields = crate::commands::generic::selected_fields(
        &view,
        ctx.params.get("params").or(Some("uuid,device,MAC,network-uuid,network-name-label,vm-name-label")),
    );
    for vm in &vms {
        let mut out = Vec::new();
        for vif in vm.rec.get("VIFs").and_then(Value::as_array).unwrap_or(&[]).iter().filter_map(Value::as_str) {
            let rec = ctx.call_record("VIF.get_record", vec![s(vif)])?;
            out.push(records::build_record(ctx, &view, &Obj { r: vif, rec: &rec }, &fields, true)?);
        }
        ctx.printer.records(&out);
    }
    Ok(())
}
