//! `vm-install`: a new VM from a template. Clone (or copy to a chosen SR),
//! point the template's disk spec at the SR, provision the disks; any failure
//! after the VM exists destroys it again.

use super::CommandSpec;
use crate::connect::Api;
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::{Value, NULL_REF};

pub const SPEC: CommandSpec = CommandSpec { name: "vm-install", help: "", run };

/// Finds the template from `template-uuid=`, `template-name-label=`/`template-name=` or `template=`.
fn template(ctx: &mut Context) -> CmdResult<String> {
    if let Some(u) = ctx.params.get("template-uuid").map(str::to_string) {
        return ctx.lookup_uuid("VM", &u);
    }
    let by_name = ctx.params.get("template-name-label").or_else(|| ctx.params.get("template-name")).map(str::to_string);
    let any = ctx.params.get("template").map(str::to_string);
    if let Some(t) = &any {
        if let Ok(r) = ctx.lookup_uuid("VM", t) {
            return Ok(r);
        }
    }
    let Some(name) = by_name.or(any) else {
        return Err(CliError::failure("Choose the template with template=, template-uuid= or template-name-label="));
    };
    let all = crate::records::fetch_all(ctx, "VM")?;
    let matches: Vec<String> = all
        .iter()
        .filter(|(_, r)| {
            r.get("is_a_template").and_then(Value::as_bool) == Some(true)
                && r.get("is_control_domain").and_then(Value::as_bool) != Some(true)
                && r.get("name_label").and_then(Value::as_str) == Some(name.as_str())
        })
        .map(|(r, _)| r.clone())
        .collect();
    match matches.len() {
        1 => Ok(matches[0].clone()),
        0 => Err(CliError::failure(format!("No template named '{name}' was found"))),
        n => Err(CliError::failure(format!("{n} templates are named '{name}'; use template-uuid= instead"))),
    }
}

fn chosen_sr(ctx: &mut Context) -> CmdResult<Option<String>> {
    let by_uuid = match ctx.params.get("sr-uuid").map(str::to_string) {
        Some(u) => Some(ctx.lookup_uuid("SR", &u)?),
        None => None,
    };
    let Some(label) = ctx.params.get("sr-name-label").map(str::to_string) else { return Ok(by_uuid) };
    let found = ctx.call("SR.get_by_name_label", vec![Value::str(label.as_str())])?;
    let refs: Vec<String> =
        found.as_array().unwrap_or(&[]).iter().filter_map(Value::as_str).map(str::to_string).collect();
    match (refs.as_slice(), by_uuid) {
        ([one], None) => Ok(Some(one.clone())),
        ([one], Some(u)) if *one == u => Ok(Some(u)),
        ([_], Some(_)) => Err(CliError::failure("sr-name-label and sr-uuid name different SRs")),
        ([], _) => Err(CliError::failure(format!("No SR is named '{label}'"))),
        (_, _) => Err(CliError::failure(format!("Several SRs are named '{label}'; use sr-uuid= instead"))),
    }
}

/// Rewrites every `sr="..."` attribute of a disks spec to `sr_uuid`.
pub fn retarget_disks(spec: &str, sr_uuid: &str) -> String {
    let mut out = String::with_capacity(spec.len());
    let mut rest = spec;
    while let Some(i) = rest.find("sr=\"") {
        out.push_str(&rest[..i + 4]);
        rest = &rest[i + 4..];
        let end = rest.find('"').unwrap_or(rest.len());
        out.push_str(sr_uuid);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn run(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("new-name-label")?.to_string();
    let tpl = template(ctx)?;
    let is_template = ctx.call("VM.get_is_a_template", vec![Value::str(tpl.as_str())])?;
    if is_template.as_bool() != Some(true) {
        return Err(CliError::failure("The chosen VM is not a template"));
    }
    let sr = chosen_sr(ctx)?;
    let provision_sr = match &sr {
        Some(s) => Some(s.clone()),
        None => {
            let pools = ctx.call("pool.get_all", vec![])?;
            let pool = pools.as_array().and_then(|a| a.first()).cloned().unwrap_or(Value::str(NULL_REF));
            let d = ctx.call("pool.get_default_SR", vec![pool])?;
            d.as_str().filter(|s| *s != NULL_REF).map(str::to_string)
        }
    };
    let other = ctx.call("VM.get_other_config", vec![Value::str(tpl.as_str())])?;
    let disks = other.get("disks").and_then(Value::as_str).map(str::to_string);
    if disks.is_some() && provision_sr.is_none() {
        return Err(CliError::failure(
            "The template has disks but the pool has no default SR; choose one with sr-uuid=",
        ));
    }
    let new = match &sr {
        Some(s) => ctx
            .call_async("VM.copy", vec![Value::str(tpl.as_str()), Value::str(name.as_str()), Value::str(s.as_str())])?,
        None => ctx.call_async("VM.clone", vec![Value::str(tpl.as_str()), Value::str(name.as_str())])?,
    };
    let result = finish(ctx, &new, provision_sr.as_deref(), disks.as_deref());
    match result {
        Ok(uuid) => {
            ctx.printer.list(&[uuid]);
            Ok(())
        }
        Err(e) => {
            let _ = ctx.call("VM.destroy", vec![new]);
            Err(e)
        }
    }
}

fn finish(ctx: &mut Context, new: &Value, sr: Option<&str>, disks: Option<&str>) -> CmdResult<String> {
    ctx.call("VM.set_name_description", vec![new.clone(), Value::str("Installed via xe CLI")])?;
    if let Some(sr) = sr {
        ctx.call("VM.set_suspend_SR", vec![new.clone(), Value::str(sr)])?;
    }
    if let (Some(spec), Some(sr)) = (disks, sr) {
        let uuid = ctx.call("SR.get_uuid", vec![Value::str(sr)])?;
        let rewritten = retarget_disks(spec, uuid.as_str().unwrap_or(""));
        ctx.call("VM.remove_from_other_config", vec![new.clone(), Value::str("disks")])?;
        ctx.call("VM.add_to_other_config", vec![new.clone(), Value::str("disks"), Value::String(rewritten)])?;
    }
    // The clone is still a template; provisioning creates its disks and makes it a VM.
    Api::call_async(ctx, "VM.provision", vec![new.clone()]).map_err(|e| ctx.describe(e))?;
    if let Some(host) = ctx.params.get("copy-bios-strings-from").map(str::to_string) {
        let h = ctx.lookup_uuid("host", &host)?;
        ctx.call("VM.copy_bios_strings", vec![new.clone(), Value::String(h)])?;
    }
    let uuid = ctx.call("VM.get_uuid", vec![new.clone()])?;
    Ok(uuid.as_str().unwrap_or("").to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn disks_spec_points_at_the_sr() {
        let spec =
            r#"<provision><disk device="0" size="1" sr="" bootable="true"/><disk device="1" sr="old"/></provision>"#;
        assert_eq!(
            super::retarget_disks(spec, "abc"),
            r#"<provision><disk device="0" size="1" sr="abc" bootable="true"/><disk device="1" sr="abc"/></provision>"#
        );
    }
}
