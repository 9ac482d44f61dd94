//! `vm-import`: an XVA (or, with `metadata=true`, an exported metadata
//! archive) from a local file into the pool over HTTP, as xe's `vm_import`
//! does it: the SR (`sr-uuid`, else the pool's default), the checks of the
//! parameters, then `PUT /import` (or `/import_metadata`) under a task
//! labelled `VM import`, whose result is the array of new VMs; their uuids
//! are printed comma-joined. `url=` asks the server to fetch the archive
//! itself (`VM.import`) and a `type=` other than `default` converts a VM
//! from another hypervisor (`VM.import_convert`); both are plain XenAPI
//! calls, refused by a server that lacks them.

use super::disk_add::default_sr;
use crate::commands::args::s;
use crate::commands::transfer::{self, encode, Direction, Request};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use std::path::PathBuf;
use xenapi::Value;

pub const SPEC: CommandSpec = CommandSpec {
    name: "vm-import",
    help: "Import VMs from a local XVA file (or the server from a URL) and print their UUIDs.",
    run: Run::Fn(vm_import),
};

/// What xe prints for a metadata dry run that would make no VM.
const NO_VM: &str = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

/// xe's answer to a misuse of the parameters: its text on stderr, exit 1.
fn misuse(text: &str) -> CliError {
    CliError::Raw(text.to_string())
}

/// xe cuts an accidental `.../ova.xml` (any case) back to the archive's name.
fn archive_name(filename: &str) -> &str {
    const SUFFIX: &str = "ova.xml";
    let lower = filename.to_ascii_lowercase();
    if lower.ends_with(SUFFIX) {
        &filename[..filename.len() - SUFFIX.len()]
    } else {
        filename
    }
}

fn vm_import(ctx: &mut Context) -> CmdResult {
    let sr = match ctx.params.get("sr-uuid").map(str::to_string) {
        Some(u) => ctx.lookup_uuid("SR", &u)?,
        None => match default_sr(ctx)? {
            Some(uuid) => ctx.lookup_uuid("SR", &uuid)?,
            None => return Err(CliError::failure("No SR specified and Pool default SR is null")),
        },
    };
    let kind = ctx.params.get("type").unwrap_or("default").to_string();
    let restore = ctx.params.bool("preserve", false)?;
    let metadata = ctx.params.bool("metadata", false)?;
    let force = ctx.params.bool("force", false)?;
    let dry_run = ctx.params.bool("dry-run", false)?;
    let vdi_map = ctx.params.map("vdi");
    if ctx.params.has("url") && ctx.params.has("filename") {
        return Err(misuse("Invalid arguments. The 'url' and 'filename' parameters should not both be specified."));
    }
    if kind != "default" {
        let username = ctx.params.required("host-username")?.to_string();
        let password = ctx.params.required("host-password")?.to_string();
        let remote = ctx.params.map("remote-config");
        let remote = Value::Struct(remote.into_iter().map(|(k, v)| (k, Value::String(v))).collect());
        let args = vec![s(&kind), s(&username), s(&password), s(&sr), remote];
        ctx.call("VM.import_convert", args)?;
        return Ok(());
    }
    let vms = if let Some(url) = ctx.params.get("url").map(str::to_string) {
        ctx.call_refs("VM.import", vec![s(&url), s(&sr), Value::Bool(restore), Value::Bool(force)])?
    } else {
        let filename = ctx.params.required("filename")?.to_string();
        if !metadata && dry_run {
            return Err(misuse("Only metadata import function support dry-run"));
        }
        let filename = PathBuf::from(archive_name(&filename));
        let handler = if metadata { "/import_metadata" } else { "/import" };
        let mapped: String = vdi_map.iter().map(|(a, b)| format!("&vdi:{}={}", encode(a), encode(b))).collect();
        let path = |session: &str, task: &str| {
            format!(
                "{handler}?session_id={session}&task_id={task}&restore={restore}&force={force}&dry_run={dry_run}&sr_id={}{mapped}",
                encode(&sr)
            )
        };
        let request = Request {
            label: "VM import",
            direction: Direction::Upload(filename),
            path: &path,
            expected: None,
            report_time: false,
        };
        let result = transfer::run(ctx, request)?;
        match result {
            Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            Value::String(t) if t.is_empty() => Vec::new(),
            other => return Err(ctx.wrong_answer("VM import", "an array of VM refs", &other)),
        }
    };
    let mut uuids = Vec::with_capacity(vms.len());
    for vm in &vms {
        uuids.push(ctx.call_string("VM.get_uuid", vec![s(vm)])?);
    }
    if uuids.is_empty() && dry_run {
        uuids.push(NO_VM.to_string());
    }
    ctx.printer.list(&[uuids.join(",")]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ova_xml_name_is_cut_to_its_archive() {
        assert_eq!(archive_name("/backups/vm1/ova.xml"), "/backups/vm1/");
        assert_eq!(archive_name("/backups/vm1/OVA.XML"), "/backups/vm1/");
        assert_eq!(archive_name("vm1.xva"), "vm1.xva");
    }
}
