//! The rest of xe's host commands that are one call or a few (issue 13):
//! data sync, local storage caching, the hypervisor's log and debug keys,
//! status report and crash dump uploads, WLB evacuation advice, per-host
//! external authentication (hidden recovery commands behind `--force`),
//! pack info, CPU features, the display console, SSH, and the storage and
//! thread diagnostics, and the local notifications (notify, networking
//! change, firewall), each with the real xe's parameters and output.

use super::maintenance::HOSTS;
use crate::commands::args::s;
use crate::commands::select;
use crate::commands::{CommandSpec, Run};
use crate::context::{is_standard_key, Context};
use crate::error::{CliError, CmdResult};
use crate::output::record::{Field, Record};
use xenapi::Value;

pub const SYNC_DATA: CommandSpec = CommandSpec {
    name: "host-sync-data",
    help: "Copy non-database data such as messages and RRDs between the master and a host.",
    run: Run::Fn(|ctx| each(ctx, "host.sync_data")),
};

pub const ENABLE_CACHING: CommandSpec = CommandSpec {
    name: "host-enable-local-storage-caching",
    help: "Let a disabled host cache VM disks on the given local SR.",
    run: Run::Fn(enable_caching),
};

pub const DISABLE_CACHING: CommandSpec = CommandSpec {
    name: "host-disable-local-storage-caching",
    help: "Stop a disabled host from caching VM disks on local storage.",
    run: Run::Fn(|ctx| each(ctx, "host.disable_local_storage_caching")),
};

pub const DMESG: CommandSpec =
    CommandSpec { name: "host-dmesg", help: "Print the hypervisor's message buffer of a host.", run: Run::Fn(dmesg) };

pub const BUGREPORT_UPLOAD: CommandSpec = CommandSpec {
    name: "host-bugreport-upload",
    help: "Collect a host status report and upload it to a URL.",
    run: Run::Fn(bugreport_upload),
};

pub const CRASHDUMP_UPLOAD: CommandSpec = CommandSpec {
    name: "host-crashdump-upload",
    help: "Upload a host crash dump to a URL.",
    run: Run::Fn(crashdump_upload),
};

pub const CRASHDUMP_DESTROY: CommandSpec =
    CommandSpec { name: "host-crashdump-destroy", help: "Delete a host crash dump.", run: Run::Fn(crashdump_destroy) };

pub const SEND_DEBUG_KEYS: CommandSpec = CommandSpec {
    name: "host-send-debug-keys",
    help: "Send debug key presses to the hypervisor of a host.",
    run: Run::Fn(send_debug_keys),
};

pub const WLB_EVACUATE: CommandSpec = CommandSpec {
    name: "host-retrieve-wlb-evacuate-recommendations",
    help: "Ask workload balancing where each VM of a host should go to evacuate it, or why it cannot.",
    run: Run::Fn(wlb_evacuate),
};

pub const ENABLE_EXTERNAL_AUTH: CommandSpec = CommandSpec {
    name: "host-enable-external-auth",
    help: "Enable external authentication on one host only, for recovery; requires --force.",
    run: Run::Fn(enable_external_auth),
};

pub const DISABLE_EXTERNAL_AUTH: CommandSpec = CommandSpec {
    name: "host-disable-external-auth",
    help: "Disable external authentication on one host only, for recovery; requires --force.",
    run: Run::Fn(disable_external_auth),
};

pub const EXTERNAL_AUTH_SET_LDAPS: CommandSpec = CommandSpec {
    name: "host-external-auth-set-ldaps",
    help: "Turn LDAPS on or off for the external authentication of one host.",
    run: Run::Fn(set_ldaps),
};

pub const REFRESH_PACK_INFO: CommandSpec = CommandSpec {
    name: "host-refresh-pack-info",
    help: "Refresh the list of supplemental packs installed on a host.",
    run: Run::Fn(refresh_pack_info),
};

pub const GET_CPU_FEATURES: CommandSpec = CommandSpec {
    name: "host-get-cpu-features",
    help: "Print the CPU feature masks of a host, by default the one you are connected to.",
    run: Run::Fn(cpu_features),
};

pub const ENABLE_DISPLAY: CommandSpec = CommandSpec {
    name: "host-enable-display",
    help: "Turn on the host's physical display console from its next boot.",
    run: Run::Fn(|ctx| display(ctx, "host.enable_display")),
};

pub const DISABLE_DISPLAY: CommandSpec = CommandSpec {
    name: "host-disable-display",
    help: "Turn off the host's physical display console from its next boot.",
    run: Run::Fn(|ctx| display(ctx, "host.disable_display")),
};

pub const ENABLE_SSH: CommandSpec = CommandSpec {
    name: "host-enable-ssh",
    help: "Enable SSH access to a host.",
    run: Run::Fn(|ctx| each(ctx, "host.enable_ssh")),
};

pub const DISABLE_SSH: CommandSpec = CommandSpec {
    name: "host-disable-ssh",
    help: "Disable SSH access to a host.",
    run: Run::Fn(|ctx| each(ctx, "host.disable_ssh")),
};

pub const SM_DIAGNOSTICS: CommandSpec = CommandSpec {
    name: "host-get-sm-diagnostics",
    help: "Print storage manager diagnostics for a host.",
    run: Run::Fn(|ctx| diagnostics(ctx, "host.get_sm_diagnostics")),
};

pub const THREAD_DIAGNOSTICS: CommandSpec = CommandSpec {
    name: "host-get-thread-diagnostics",
    help: "Print diagnostics about the threads of the toolstack on a host.",
    run: Run::Fn(|ctx| diagnostics(ctx, "host.get_thread_diagnostics")),
};

pub const SM_DP_DESTROY: CommandSpec = CommandSpec {
    name: "host-sm-dp-destroy",
    help: "Destroy a storage datapath on a host; allow-leak forgets it even if cleanup fails.",
    run: Run::Fn(sm_dp_destroy),
};

/// Calls `method` on every selected host (xe's `do_host_op`).
fn each(ctx: &mut Context, method: &'static str) -> CmdResult {
    let hosts = select::select(ctx, HOSTS)?;
    select::run_each(ctx, &hosts, |api, h| api.call(method, vec![s(&h.r)]).map(|_| None))?;
    Ok(())
}

/// `sr-uuid=` is looked up for each host, as xe does, after the selection.
fn enable_caching(ctx: &mut Context) -> CmdResult {
    let sr_uuid = ctx.params.required("sr-uuid")?.to_string();
    let hosts = select::select(ctx, HOSTS)?;
    select::run_each(ctx, &hosts, |api, h| {
        let sr = api.call("SR.get_by_uuid", vec![s(&sr_uuid)])?;
        api.call("host.enable_local_storage_caching", vec![s(&h.r), sr]).map(|_| None)
    })?;
    Ok(())
}

/// Each selected host's log, printed as it comes.
fn dmesg(ctx: &mut Context) -> CmdResult {
    super::manage::print_each(ctx, "host.dmesg")
}

/// `url=` (empty when missing: the server refuses it); every other
/// parameter but `host=` goes to the server as an option, as xe passes them
/// (`http_proxy=` is the one it reads).
fn bugreport_upload(ctx: &mut Context) -> CmdResult {
    let url = ctx.params.get("url").unwrap_or("").to_string();
    let options: Vec<(String, Value)> = ctx
        .params
        .iter()
        .filter(|(k, _)| *k != "host" && *k != "url" && !is_standard_key(k))
        .map(|(k, v)| (k.to_string(), Value::str(v)))
        .collect();
    let hosts = select::select(ctx, HOSTS)?;
    select::run_each(ctx, &hosts, |api, h| {
        let args = vec![s(&h.r), s(&url), Value::Struct(options.clone())];
        api.call("host.bugreport_upload", args).map(|_| None)
    })?;
    Ok(())
}

/// The dump by `uuid=`, `url=` (empty when missing), `http_proxy=` as an option.
fn crashdump_upload(ctx: &mut Context) -> CmdResult {
    let dump = ctx.lookup_param("host_crashdump", "uuid")?;
    let url = ctx.params.get("url").unwrap_or("").to_string();
    let options: Vec<(String, Value)> = ctx
        .params
        .iter()
        .filter(|(k, _)| *k != "uuid" && *k != "url" && !is_standard_key(k))
        .map(|(k, v)| (k.to_string(), Value::str(v)))
        .collect();
    ctx.call("host_crashdump.upload", vec![s(&dump), s(&url), Value::Struct(options)])?;
    Ok(())
}

fn crashdump_destroy(ctx: &mut Context) -> CmdResult {
    let dump = ctx.lookup_param("host_crashdump", "uuid")?;
    ctx.call("host_crashdump.destroy", vec![s(&dump)])?;
    Ok(())
}

fn send_debug_keys(ctx: &mut Context) -> CmdResult {
    let host = ctx.lookup_param("host", "host-uuid")?;
    let keys = ctx.params.required("keys")?.to_string();
    ctx.call("host.send_debug_keys", vec![s(&host), s(&keys)])?;
    Ok(())
}

/// One table: a heading row, then `<vm uuid> (<name>)` and the advice
/// (`WLB <host uuid>`) or the error with its parameters, space-separated.
fn wlb_evacuate(ctx: &mut Context) -> CmdResult {
    let host = ctx.lookup_param("host", "uuid")?;
    let plans = ctx.call_map("host.retrieve_wlb_evacuate_recommendations", vec![s(&host)])?;
    let mut fields = vec![Field::plain("VM", "[Host, RecID] / Error".to_string())];
    for (vm, detail) in plans {
        let uuid = ctx.call_string("VM.get_uuid", vec![s(&vm)])?;
        let name = ctx.call_string("VM.get_name_label", vec![s(&vm)])?;
        let words: Vec<&str> = match &detail {
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        fields.push(Field::plain(&format!("{uuid} ({name})"), words.join(" ")));
    }
    ctx.printer.records(&[Record { fields }]);
    Ok(())
}

/// xe's refusal of the per-host external authentication commands without `--force`.
fn require_force(ctx: &Context) -> CmdResult {
    if ctx.params.has("force") {
        return Ok(());
    }
    Err(CliError::failure(
        "This operation is provided only to recover individual hosts that are unable to access the external \
         authentication service. This operation must be forced (use --force).",
    ))
}

fn config(ctx: &Context) -> Value {
    Value::Struct(ctx.params.map("config").into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

fn enable_external_auth(ctx: &mut Context) -> CmdResult {
    require_force(ctx)?;
    let host_uuid = ctx.params.required("host-uuid")?.to_string();
    let auth_type = ctx.params.required("auth-type")?.to_string();
    let service_name = ctx.params.required("service-name")?.to_string();
    let config = config(ctx);
    let host = ctx.lookup_uuid("host", &host_uuid)?;
    ctx.call("host.enable_external_auth", vec![s(&host), config, s(&service_name), s(&auth_type)])?;
    Ok(())
}

fn disable_external_auth(ctx: &mut Context) -> CmdResult {
    require_force(ctx)?;
    let host = ctx.lookup_param("host", "host-uuid")?;
    let config = config(ctx);
    ctx.call("host.disable_external_auth", vec![s(&host), config])?;
    Ok(())
}

fn set_ldaps(ctx: &mut Context) -> CmdResult {
    let host = ctx.lookup_param("host", "host-uuid")?;
    let ldaps = ctx.params.bool("ldaps", false)?;
    let force = ctx.params.bool("force", false)?;
    ctx.call("host.external_auth_set_ldaps", vec![s(&host), Value::Bool(ldaps), Value::Bool(force)])?;
    Ok(())
}

fn refresh_pack_info(ctx: &mut Context) -> CmdResult {
    let host = ctx.lookup_param("host", "host-uuid")?;
    ctx.call("host.refresh_pack_info", vec![s(&host)])?;
    Ok(())
}

/// The host by `uuid=`, else the one the session is on: the four feature
/// masks of its `cpu_info` it has, as one record.
fn cpu_features(ctx: &mut Context) -> CmdResult {
    let host = match ctx.params.get("uuid").map(str::to_string) {
        Some(uuid) => ctx.lookup_uuid("host", &uuid)?,
        None => {
            let (_, session) = ctx.data_link()?;
            ctx.call_string("session.get_this_host", vec![s(&session)])?
        }
    };
    let info = ctx.call_map("host.get_cpu_info", vec![s(&host)])?;
    let fields = ["features_pv", "features_hvm", "features_pv_host", "features_hvm_host"]
        .iter()
        .filter_map(|key| {
            let (_, v) = info.iter().find(|(k, _)| k == key)?;
            Some(Field::plain(key, v.as_str().unwrap_or("").to_string()))
        })
        .collect();
    ctx.printer.records(&[Record { fields }]);
    Ok(())
}

/// The host's display state after the change, as xe names it.
fn display(ctx: &mut Context, method: &str) -> CmdResult {
    let host = ctx.lookup_param("host", "uuid")?;
    let state = ctx.call_string(method, vec![s(&host)])?;
    ctx.printer.message(&state);
    Ok(())
}

/// The diagnostics text of the host `uuid=` names (xe's `do_host_op`
/// with `~multiple:false`, where `uuid=` selects the one host).
fn diagnostics(ctx: &mut Context, method: &'static str) -> CmdResult {
    let host = ctx.lookup_param("host", "uuid")?;
    let text = ctx.call_string(method, vec![s(&host)])?;
    ctx.printer.message(&text);
    Ok(())
}

fn sm_dp_destroy(ctx: &mut Context) -> CmdResult {
    let dp = ctx.params.required("dp")?.to_string();
    let allow_leak = ctx.params.bool("allow-leak", false)?;
    let host = ctx.lookup_param("host", "uuid")?;
    ctx.call("host.sm_dp_destroy", vec![s(&host), s(&dp), Value::Bool(allow_leak)])?;
    Ok(())
}

pub const NOTIFY: CommandSpec = CommandSpec {
    name: "host-notify",
    help: "Send an internal notification of a given type to the local toolstack.",
    run: Run::Fn(notify),
};

pub const SIGNAL_NETWORKING_CHANGE: CommandSpec = CommandSpec {
    name: "host-signal-networking-change",
    help: "Tell the local toolstack that the network configuration of the host has changed.",
    run: Run::Fn(|ctx| local_call(ctx, "host.signal_networking_change")),
};

pub const UPDATE_FIREWALLD: CommandSpec = CommandSpec {
    name: "host-update-firewalld-service-status",
    help: "Update the firewall of this host to match which services are enabled.",
    run: Run::Fn(|ctx| local_call(ctx, "host.update_firewalld_service_status")),
};

/// `type=` and `params=` (empty when missing), on the host reached, through
/// a local session.
fn notify(ctx: &mut Context) -> CmdResult {
    let ty = ctx.params.required("type")?.to_string();
    let params = ctx.params.get("params").unwrap_or("").to_string();
    ctx.use_local_session();
    ctx.call("host.notify", vec![s(&ty), s(&params)])?;
    Ok(())
}

/// A call without arguments on the host reached, through a local session.
fn local_call(ctx: &mut Context, method: &str) -> CmdResult {
    ctx.use_local_session();
    ctx.call(method, vec![])?;
    Ok(())
}
