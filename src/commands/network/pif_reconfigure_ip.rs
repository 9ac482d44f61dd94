//! `pif-reconfigure-ip`: set the IP configuration of a PIF.

use crate::commands::args::s;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};

pub const SPEC: CommandSpec = CommandSpec {
    name: "pif-reconfigure-ip",
    help: "Set the IPv4 mode (none, dhcp or static) and addresses of a PIF.",
    run: Run::Fn(pif_reconfigure_ip),
};

fn pif_reconfigure_ip(ctx: &mut Context) -> CmdResult {
    let pif = ctx.lookup_param("PIF", "uuid")?;
    let mode = match ctx.params.required("mode")?.to_ascii_lowercase().as_str() {
        "none" => "None",
        "dhcp" => "DHCP",
        "static" => "Static",
        other => return Err(CliError::failure(format!("Expected one of 'None', 'DHCP', 'Static', got {other}"))),
    };
    let p = |k: &str| s(ctx.params.get(k).unwrap_or(""));
    // xe reads IP= and DNS= in any case (ip=, Dns=, ...), the first one given.
    let any_case =
        |k: &str| s(ctx.params.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v).unwrap_or(""));
    let args = vec![s(&pif), s(mode), any_case("IP"), p("netmask"), p("gateway"), any_case("DNS")];
    ctx.call("PIF.reconfigure_ip", args)?;
    Ok(())
}
