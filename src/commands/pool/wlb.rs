//! Workload Balancing: `pool-initialize-wlb` (the pool's WLB server and
//! credentials), `pool-deconfigure-wlb`, `pool-send-wlb-configuration`
//! (`config:KEY=VALUE`), `pool-retrieve-wlb-configuration` and
//! `pool-retrieve-wlb-recommendations`, each one pool call, as xe.

use crate::commands::args::{map, s};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use crate::output::record::{Field, Record};
use xenapi::Value;

pub const INITIALIZE: CommandSpec = CommandSpec {
    name: "pool-initialize-wlb",
    help: "Connect the pool to a Workload Balancing server.",
    run: Run::Fn(initialize),
};
pub const DECONFIGURE: CommandSpec = CommandSpec {
    name: "pool-deconfigure-wlb",
    help: "Disconnect the pool from its Workload Balancing server and drop the configuration.",
    run: Run::Fn(|ctx| no_args(ctx, "pool.deconfigure_wlb")),
};
pub const SEND_CONFIGURATION: CommandSpec = CommandSpec {
    name: "pool-send-wlb-configuration",
    help: "Send optimisation settings to the Workload Balancing server.",
    run: Run::Fn(send_configuration),
};
pub const RETRIEVE_CONFIGURATION: CommandSpec = CommandSpec {
    name: "pool-retrieve-wlb-configuration",
    help: "Show the Workload Balancing configuration of the pool.",
    run: Run::Fn(retrieve_configuration),
};
pub const RETRIEVE_RECOMMENDATIONS: CommandSpec = CommandSpec {
    name: "pool-retrieve-wlb-recommendations",
    help: "Show the VM migrations that Workload Balancing recommends for the pool.",
    run: Run::Fn(retrieve_recommendations),
};

fn no_args(ctx: &mut Context, method: &str) -> CmdResult {
    ctx.call(method, vec![])?;
    Ok(())
}

fn initialize(ctx: &mut Context) -> CmdResult {
    let mut args = Vec::with_capacity(5);
    for key in ["wlb_url", "wlb_username", "wlb_password", "xenserver_username", "xenserver_password"] {
        args.push(s(ctx.params.required(key)?));
    }
    ctx.call("pool.initialize_wlb", args)?;
    Ok(())
}

fn send_configuration(ctx: &mut Context) -> CmdResult {
    let config = map(ctx.params.map("config"));
    ctx.call("pool.send_wlb_configuration", vec![config])?;
    Ok(())
}

/// One record of the map's keys and values, as xe's table.
fn retrieve_configuration(ctx: &mut Context) -> CmdResult {
    let config = ctx.call_map("pool.retrieve_wlb_configuration", vec![])?;
    let fields =
        config.into_iter().map(|(k, v)| Field::plain(&k, v.as_str().unwrap_or_default().to_string())).collect();
    ctx.printer.records(&[Record { fields }]);
    Ok(())
}

/// A header row, then `<vm uuid> (<name>)` and the recommendation's words.
fn retrieve_recommendations(ctx: &mut Context) -> CmdResult {
    let recommendations = ctx.call_map("pool.retrieve_wlb_recommendations", vec![])?;
    let mut fields = vec![Field::plain("VM", "Host, OptID, RecID, Reason".to_string())];
    for (vm, words) in recommendations {
        let name = format!(
            "{} ({})",
            ctx.call_string("VM.get_uuid", vec![s(&vm)])?,
            ctx.call_string("VM.get_name_label", vec![s(&vm)])?
        );
        let words: Vec<&str> = words.as_array().unwrap_or(&[]).iter().filter_map(Value::as_str).collect();
        fields.push(Field::plain(&name, words.join(" ")));
    }
    ctx.printer.records(&[Record { fields }]);
    Ok(())
}
