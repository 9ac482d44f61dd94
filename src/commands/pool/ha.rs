//! High availability: `pool-ha-enable` (`heartbeat-sr-uuids=` comma
//! separated, `ha-config:KEY=VALUE`), `pool-ha-disable`, and the planning
//! commands, which print a number or the failover plan as xe does.

use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use crate::output::record::{Field, Record};
use xenapi::Value;

pub const ENABLE: CommandSpec = CommandSpec {
    name: "pool-ha-enable",
    help: "Enable high availability for the pool, using the given heartbeat SRs.",
    run: Run::Fn(enable),
};

pub const PREVENT_RESTARTS: CommandSpec = CommandSpec {
    name: "pool-ha-prevent-restarts-for",
    help: "Hold back HA's restarts of failed VMs for a number of seconds (0 lifts it).",
    run: Run::Fn(prevent_restarts),
};

fn prevent_restarts(ctx: &mut Context) -> CmdResult {
    let text = ctx.params.required("seconds")?.to_string();
    let seconds = crate::commands::int64::ocaml_int64(&text).ok_or_else(|| {
        CliError::failure(format!("Failed to parse parameter 'seconds': expected an integer, got '{text}'"))
    })?;
    ctx.call("pool.ha_prevent_restarts_for", vec![Value::Int(seconds)])?;
    Ok(())
}

pub const DISABLE: CommandSpec =
    CommandSpec { name: "pool-ha-disable", help: "Disable high availability for the pool.", run: Run::Fn(disable) };

pub const COMPUTE_MAX: CommandSpec = CommandSpec {
    name: "pool-ha-compute-max-host-failures-to-tolerate",
    help: "Compute how many host failures HA can survive with the current configuration.",
    run: Run::Fn(compute_max),
};

pub const COMPUTE_HYPOTHETICAL: CommandSpec = CommandSpec {
    name: "pool-ha-compute-hypothetical-max-host-failures-to-tolerate",
    help: "Compute how many host failures HA could survive with the given VM restart priorities.",
    run: Run::Fn(compute_hypothetical),
};

pub const FAILOVER_PLAN: CommandSpec = CommandSpec {
    name: "pool-ha-compute-vm-failover-plan",
    help: "Show where HA would restart the VMs of the given hosts if those hosts failed.",
    run: Run::Fn(failover_plan),
};

fn enable(ctx: &mut Context) -> CmdResult {
    let configuration: Vec<(String, Value)> =
        ctx.params.map("ha-config").into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    let uuids: Vec<String> =
        ctx.params.get("heartbeat-sr-uuids").map(|u| u.split(',').map(str::to_string).collect()).unwrap_or_default();
    let mut srs = Vec::with_capacity(uuids.len());
    for uuid in uuids {
        srs.push(Value::String(ctx.call_string("SR.get_by_uuid", vec![Value::String(uuid)])?));
    }
    ctx.call("pool.enable_ha", vec![Value::Array(srs), Value::Struct(configuration)])?;
    Ok(())
}

fn disable(ctx: &mut Context) -> CmdResult {
    ctx.call("pool.disable_ha", vec![])?;
    Ok(())
}

fn print_int(ctx: &mut Context, v: Value) -> CmdResult {
    let n = v.as_int().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap_or_default();
    ctx.printer.list(&[n.to_string()]);
    Ok(())
}

fn compute_max(ctx: &mut Context) -> CmdResult {
    let n = ctx.call("pool.ha_compute_max_host_failures_to_tolerate", vec![])?;
    print_int(ctx, n)
}

fn compute_hypothetical(ctx: &mut Context) -> CmdResult {
    let vms: Vec<String> = ctx.params.all("vm-uuid").into_iter().map(str::to_string).collect();
    let priorities: Vec<String> = ctx.params.all("restart-priority").into_iter().map(str::to_string).collect();
    if vms.len() != priorities.len() {
        return Err(CliError::failure("Call requires an equal number of vm-uuid and restart-priority arguments"));
    }
    let mut configuration = Vec::with_capacity(vms.len());
    for (uuid, priority) in vms.into_iter().zip(priorities) {
        let vm = ctx.call_string("VM.get_by_uuid", vec![Value::String(uuid)])?;
        configuration.push((vm, Value::String(priority)));
    }
    let n =
        ctx.call("pool.ha_compute_hypothetical_max_host_failures_to_tolerate", vec![Value::Struct(configuration)])?;
    print_int(ctx, n)
}

fn failover_plan(ctx: &mut Context) -> CmdResult {
    let uuids: Vec<String> = ctx.params.required("host-uuids")?.split(',').map(str::to_string).collect();
    let mut hosts = Vec::with_capacity(uuids.len());
    for uuid in uuids {
        hosts.push(ctx.call_string("host.get_by_uuid", vec![Value::String(uuid)])?);
    }
    let mut vms = Vec::new();
    for h in &hosts {
        for vm in ctx.call_refs("host.get_resident_VMs", vec![Value::str(h)])? {
            let dom0 = ctx.call("VM.get_is_control_domain", vec![Value::str(&vm)])?;
            if dom0.as_bool() != Some(true) {
                vms.push(Value::String(vm));
            }
        }
    }
    let hosts = hosts.into_iter().map(Value::String).collect();
    let plan = ctx.call("pool.ha_compute_vm_failover_plan", vec![Value::Array(hosts), Value::Array(vms)])?;
    let mut fields = vec![Field::plain("VM", "Destination Host or Error".to_string())];
    for (vm, result) in plan.as_struct().unwrap_or(&[]).to_vec() {
        let name = format!(
            "{} ({})",
            ctx.call_string("VM.get_uuid", vec![Value::str(&vm)])?,
            ctx.call_string("VM.get_name_label", vec![Value::str(&vm)])?
        );
        let text = if let Some(host) = result.get("host").and_then(Value::as_str) {
            format!(
                "{} ({})",
                ctx.call_string("host.get_uuid", vec![Value::str(host)])?,
                ctx.call_string("host.get_name_label", vec![Value::str(host)])?
            )
        } else if let Some(code) = result.get("error_code").and_then(Value::as_str) {
            code.to_string()
        } else {
            "UNKNOWN".to_string()
        };
        fields.push(Field::plain(&name, text));
    }
    ctx.printer.records(&[Record { fields }]);
    Ok(())
}
