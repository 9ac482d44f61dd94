//! `secret-create`: a secret is a stored value other objects refer to by
//! uuid (SR and pool settings name their passwords this way). `secret-destroy`
//! is a row of `by_uuid`; listing and the value are generic commands.

use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use xenapi::Value;

pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "secret-create",
    help: "Store a value as a secret and print the secret's UUID.",
    run: Run::Fn(create),
}];

/// `secret.create(value, other_config)`, then prints the new secret's uuid.
fn create(ctx: &mut Context) -> CmdResult {
    let value = ctx.params.required("value")?.to_string();
    let r = ctx.call(
        "secret.create",
        vec![Value::Struct(vec![
            ("value".into(), Value::String(value)),
            ("other_config".into(), Value::Struct(Vec::new())),
        ])],
    )?;
    let r = r.as_str().unwrap_or_default().to_string();
    let uuid = ctx.call("secret.get_uuid", vec![Value::String(r)])?;
    ctx.printer.list(&[uuid.as_str().unwrap_or_default().to_string()]);
    Ok(())
}
