//! Pool commands that are one call each (issue 13): binary storage, LDAPS
//! for external authentication, the vSwitch controller, the pool secret,
//! the telemetry UUID, guest Secure Boot readiness, the pool's CPU
//! features, local storage caching, pool-wide VLANs, the redo log, SSH and
//! `pool-send-test-post`. Servers whose datamodel lacks a call answer
//! MESSAGE_METHOD_UNKNOWN, which xe reports as it comes.

use crate::commands::args::s;
use crate::commands::int64::ocaml_int64;
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use crate::output::record::{Field, Record};
use xenapi::Value;

pub const ENABLE_BINARY_STORAGE: CommandSpec = CommandSpec {
    name: "pool-enable-binary-storage",
    help: "Store large objects such as RRDs, messages and blobs on every host.",
    run: Run::Fn(|ctx| no_args(ctx, "pool.enable_binary_storage")),
};
pub const DISABLE_BINARY_STORAGE: CommandSpec = CommandSpec {
    name: "pool-disable-binary-storage",
    help: "Stop storing large objects such as RRDs, messages and blobs on every host.",
    run: Run::Fn(|ctx| no_args(ctx, "pool.disable_binary_storage")),
};
pub const EXTERNAL_AUTH_SET_LDAPS: CommandSpec = CommandSpec {
    name: "pool-external-auth-set-ldaps",
    help: "Turn LDAPS on or off for the external authentication of the pool.",
    run: Run::Fn(external_auth_set_ldaps),
};
pub const SEND_TEST_POST: CommandSpec = CommandSpec {
    name: "pool-send-test-post",
    help: "Send a test body over HTTPS to a host and port and print the reply.",
    run: Run::Fn(send_test_post),
};
pub const SET_VSWITCH_CONTROLLER: CommandSpec = CommandSpec {
    name: "pool-set-vswitch-controller",
    help: "Set the address of the vSwitch controller used by the pool.",
    run: Run::Fn(set_vswitch_controller),
};
pub const SECRET_ROTATE: CommandSpec = CommandSpec {
    name: "pool-secret-rotate",
    help: "Replace the secret that hosts of the pool use to trust each other.",
    run: Run::Fn(|ctx| no_args(ctx, "pool.rotate_secret")),
};
pub const RESET_TELEMETRY_UUID: CommandSpec = CommandSpec {
    name: "pool-reset-telemetry-uuid",
    help: "Give the pool's telemetry data a new UUID.",
    run: Run::Fn(|ctx| on_pool(ctx, "pool.reset_telemetry_uuid")),
};
pub const GET_GUEST_SECUREBOOT_READINESS: CommandSpec = CommandSpec {
    name: "pool-get-guest-secureboot-readiness",
    help: "Report whether the pool is ready to run guests with Secure Boot.",
    run: Run::Fn(get_guest_secureboot_readiness),
};
pub const GET_CPU_FEATURES: CommandSpec = CommandSpec {
    name: "pool-get-cpu-features",
    help: "Print the CPU feature masks common to the pool.",
    run: Run::Fn(get_cpu_features),
};
pub const ENABLE_LOCAL_STORAGE_CACHING: CommandSpec = CommandSpec {
    name: "pool-enable-local-storage-caching",
    help: "Let every host of the pool cache VM disks on its local storage.",
    run: Run::Fn(|ctx| caching(ctx, "pool.enable_local_storage_caching")),
};
pub const DISABLE_LOCAL_STORAGE_CACHING: CommandSpec = CommandSpec {
    name: "pool-disable-local-storage-caching",
    help: "Stop every host of the pool from caching VM disks on local storage.",
    run: Run::Fn(|ctx| caching(ctx, "pool.disable_local_storage_caching")),
};
pub const VLAN_CREATE: CommandSpec = CommandSpec {
    name: "pool-vlan-create",
    help: "Create a VLAN on the device of a PIF on every host of the pool and print the new PIFs.",
    run: Run::Fn(vlan_create),
};
pub const ENABLE_REDO_LOG: CommandSpec = CommandSpec {
    name: "pool-enable-redo-log",
    help: "Keep a redo log of the pool database on the given SR.",
    run: Run::Fn(enable_redo_log),
};
pub const DISABLE_REDO_LOG: CommandSpec = CommandSpec {
    name: "pool-disable-redo-log",
    help: "Stop keeping a redo log of the pool database.",
    run: Run::Fn(|ctx| no_args(ctx, "pool.disable_redo_log")),
};
pub const ENABLE_SSH: CommandSpec = CommandSpec {
    name: "pool-enable-ssh",
    help: "Enable SSH access to every host of the pool.",
    run: Run::Fn(|ctx| on_pool(ctx, "pool.enable_ssh")),
};
pub const DISABLE_SSH: CommandSpec = CommandSpec {
    name: "pool-disable-ssh",
    help: "Disable SSH access to every host of the pool.",
    run: Run::Fn(|ctx| on_pool(ctx, "pool.disable_ssh")),
};

fn no_args(ctx: &mut Context, method: &str) -> CmdResult {
    ctx.call(method, vec![])?;
    Ok(())
}

/// A call on the pool named by `uuid=`, else the pool.
fn on_pool(ctx: &mut Context, method: &str) -> CmdResult {
    let pool = super::named_or_only(ctx)?;
    ctx.call(method, vec![s(&pool)])?;
    Ok(())
}

/// The pool is looked up first, then the booleans are read, as xe.
fn external_auth_set_ldaps(ctx: &mut Context) -> CmdResult {
    let pool = super::named_or_only(ctx)?;
    let ldaps = ctx.params.bool("ldaps", false)?;
    let force = ctx.params.bool("force", false)?;
    ctx.call("pool.external_auth_set_ldaps", vec![s(&pool), Value::Bool(ldaps), Value::Bool(force)])?;
    Ok(())
}

/// `dest-port` is read as OCaml's `Int64.of_string`; the answer is printed.
fn send_test_post(ctx: &mut Context) -> CmdResult {
    let host = ctx.params.required("dest-host")?.to_string();
    let port = match ocaml_int64(ctx.params.required("dest-port")?) {
        Some(p) => p,
        // xe's integer parse fails with OCaml's own exception, reported as an internal error.
        None => return Err(ctx.api_error("INTERNAL_ERROR", vec!["Failure: Int64.of_string".into()])),
    };
    let body = ctx.params.required("body")?.to_string();
    let answer = ctx.call_string("pool.send_test_post", vec![s(&host), Value::Int(port), s(&body)])?;
    ctx.printer.message(&answer);
    Ok(())
}

fn set_vswitch_controller(ctx: &mut Context) -> CmdResult {
    let address = ctx.params.required("address")?.to_string();
    ctx.call("pool.set_vswitch_controller", vec![s(&address)])?;
    Ok(())
}

/// `ready`, `ready_no_dbx` or `not_ready`.
fn get_guest_secureboot_readiness(ctx: &mut Context) -> CmdResult {
    let pool = super::named_or_only(ctx)?;
    let readiness = ctx.call_string("pool.get_guest_secureboot_readiness", vec![s(&pool)])?;
    ctx.printer.message(&readiness);
    Ok(())
}

/// The PV and HVM host feature masks of `cpu_info`, those present, as a table.
fn get_cpu_features(ctx: &mut Context) -> CmdResult {
    let pool = super::named_or_only(ctx)?;
    let info = ctx.call_map("pool.get_cpu_info", vec![s(&pool)])?;
    let fields = ["features_pv_host", "features_hvm_host"]
        .into_iter()
        .filter_map(|key| {
            info.iter()
                .find(|(k, _)| k == key)
                .map(|(k, v)| Field::plain(k, v.as_str().unwrap_or_default().to_string()))
        })
        .collect();
    ctx.printer.records(&[Record { fields }]);
    Ok(())
}

/// xe requires `uuid=` but, as the real one, acts on the pool (there is one).
fn caching(ctx: &mut Context, method: &str) -> CmdResult {
    let _ = ctx.params.required("uuid")?;
    let pool = ctx.call_refs("pool.get_all", vec![])?.into_iter().next().unwrap_or_default();
    ctx.call(method, vec![s(&pool)])?;
    Ok(())
}

/// The network, the PIF, then the tag, as xe; prints the new PIFs' uuids.
fn vlan_create(ctx: &mut Context) -> CmdResult {
    let network = ctx.lookup_param("network", "network-uuid")?;
    let pif = ctx.lookup_param("PIF", "pif-uuid")?;
    let tag = ocaml_int64(ctx.params.required("vlan")?)
        .ok_or_else(|| CliError::failure("Failed to parse parameter 'vlan': expecting an integer"))?;
    let pifs = ctx.call_refs("pool.create_VLAN_from_PIF", vec![s(&pif), s(&network), Value::Int(tag)])?;
    let mut uuids = Vec::with_capacity(pifs.len());
    for p in pifs {
        uuids.push(ctx.call_string("PIF.get_uuid", vec![s(&p)])?);
    }
    ctx.printer.list(&uuids);
    Ok(())
}

fn enable_redo_log(ctx: &mut Context) -> CmdResult {
    let sr = ctx.lookup_param("SR", "sr-uuid")?;
    ctx.call("pool.enable_redo_log", vec![s(&sr)])?;
    Ok(())
}
