//! Subjects: directory users and groups admitted to the pool, and their
//! roles. `subject-add` resolves a name through the pool's external
//! authentication (`auth.get_subject_identifier`) before creating the
//! subject; `subject-list` and the parameter commands are generic.

use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::Value;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "subject-add",
        help: "Admit a user or group of the external directory to the pool, by name; prints the subject's UUID.",
        run: Run::Fn(add),
    },
    CommandSpec { name: "subject-remove", help: "Remove a subject from the pool.", run: Run::Fn(remove) },
    CommandSpec {
        name: "subject-role-add",
        help: "Give a subject a role, by role name or UUID.",
        run: Run::Fn(role_add),
    },
    CommandSpec {
        name: "subject-role-remove",
        help: "Take a role away from a subject, by role name or UUID.",
        run: Run::Fn(role_remove),
    },
];

fn add(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.required("subject-name")?.to_string();
    let sid = ctx.call_string("auth.get_subject_identifier", vec![Value::String(name)])?;
    let record = Value::Struct(vec![
        ("subject_identifier".into(), Value::String(sid)),
        ("other_config".into(), Value::Struct(Vec::new())),
    ]);
    let r = ctx.call_string("subject.create", vec![record])?;
    let uuid = ctx.call_string("subject.get_uuid", vec![Value::String(r)])?;
    ctx.printer.list(&[uuid]);
    Ok(())
}

fn remove(ctx: &mut Context) -> CmdResult {
    let r = ctx.lookup_param("subject", "subject-uuid")?;
    ctx.call("subject.destroy", vec![Value::String(r)])?;
    Ok(())
}

/// The subject (`uuid=`) and the role (`role-uuid=` or `role-name=`, exactly
/// one), as xe finds them. A name no role has gives the null ref, which the
/// server refuses with ROLE_NOT_FOUND, as with the real xe.
fn subject_and_role(ctx: &mut Context) -> CmdResult<(String, String)> {
    let role_uuid = ctx.params.get("role-uuid").unwrap_or("").to_string();
    let role_name = ctx.params.get("role-name").unwrap_or("").to_string();
    let role = match (role_uuid.is_empty(), role_name.is_empty()) {
        (true, true) => return Err(CliError::failure("Required parameter not found: role-uuid or role-name")),
        (false, false) => return Err(CliError::failure("Parameters role-uuid and role-name cannot be used together")),
        (false, true) => ctx.lookup_uuid("role", &role_uuid)?,
        (true, false) => {
            let found = ctx.call_refs("role.get_by_name_label", vec![Value::String(role_name)])?;
            found.into_iter().next().unwrap_or_else(|| xenapi::NULL_REF.to_string())
        }
    };
    let subject = ctx.lookup_param("subject", "uuid")?;
    Ok((subject, role))
}

fn role_add(ctx: &mut Context) -> CmdResult {
    let (subject, role) = subject_and_role(ctx)?;
    ctx.call("subject.add_to_roles", vec![Value::String(subject), Value::String(role)])?;
    Ok(())
}

fn role_remove(ctx: &mut Context) -> CmdResult {
    let (subject, role) = subject_and_role(ctx)?;
    ctx.call("subject.remove_from_roles", vec![Value::String(subject), Value::String(role)])?;
    Ok(())
}
