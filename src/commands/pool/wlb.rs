//! Workload Balancing: `pool-initialize-wlb` (the pool's WLB server and
//! credentials), `pool-deconfigure-wlb`, `pool-send-wlb-configuration`
//! (`config:KEY=VALUE`), `pool-retrieve-wlb-configuration` and
//! `pool-retrieve-wlb-recommendations`, each one pool call, as xe; and
//! `pool-retrieve-wlb-report` and `-diagnostics`, downloads over xapi's
//! `/wlb_report` and `/wlb_diagnostics` handlers under a handed-over task.

use crate::commands::args::{map, s};
use crate::commands::transfer::{self, encode, Direction, Handover, Request, Sink};
use crate::commands::{CommandSpec, Run};
use crate::context::{is_standard_key, Context};
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

pub const RETRIEVE_REPORT: CommandSpec = CommandSpec {
    name: "pool-retrieve-wlb-report",
    help: "Download a named Workload Balancing report into a local file.",
    run: Run::Fn(retrieve_report),
};
pub const RETRIEVE_DIAGNOSTICS: CommandSpec = CommandSpec {
    name: "pool-retrieve-wlb-diagnostics",
    help: "Download Workload Balancing diagnostics into a local file.",
    run: Run::Fn(retrieve_diagnostics),
};

/// `/wlb_report?...&report=R&K=V...`: every parameter but `report`,
/// `filename` and xe's own is passed on to the report, as xe does.
fn retrieve_report(ctx: &mut Context) -> CmdResult {
    let report = ctx.params.required("report")?.to_string();
    let filename = ctx.params.get("filename").unwrap_or("").to_string();
    let mut query = format!("report={}", encode(&report));
    for (k, v) in ctx.params.iter() {
        if k != "report" && k != "filename" && !is_standard_key(k) {
            query.push_str(&format!("&{}={}", encode(k), encode(v)));
        }
    }
    let label = format!("WLB report: {report}");
    download(ctx, &filename, "/wlb_report", &query, &label, "Report generation")
}

fn retrieve_diagnostics(ctx: &mut Context) -> CmdResult {
    let filename = ctx.params.get("filename").unwrap_or("").to_string();
    download(ctx, &filename, "/wlb_diagnostics", "", "WLB diagnostics download", "WLB diagnostics download")
}

/// xe's `download_file_with_task`: a task handed over to the handler.
fn download(ctx: &mut Context, filename: &str, uri: &str, query: &str, label: &str, what: &str) -> CmdResult {
    let path = |session: &str, task: &str| {
        let sep = if query.is_empty() { "" } else { "&" };
        format!("{uri}?session_id={session}&task_id={task}{sep}{query}")
    };
    let req = Request {
        label,
        direction: Direction::Download(Sink::from_param(filename)),
        path: &path,
        expected: None,
        report_time: false,
    };
    transfer::run_handed_over(ctx, req, &Handover { description: "", what })
}
