//! The sessions of directory users, by subject identifier (SID).

use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::CmdResult;
use crate::output::record::{Field, Record};
use xenapi::Value;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "session-subject-identifier-list",
        help: "List the subject identifiers of the directory users logged in to the pool.",
        run: Run::Fn(list),
    },
    CommandSpec {
        name: "session-subject-identifier-logout",
        help: "End every session of the directory user with this subject identifier.",
        run: Run::Fn(logout),
    },
    CommandSpec {
        name: "session-subject-identifier-logout-all",
        help: "End every session of every directory user.",
        run: Run::Fn(logout_all),
    },
    PASSWORD_CHANGE,
];

fn list(ctx: &mut Context) -> CmdResult {
    let sids = ctx.call_refs("session.get_all_subject_identifiers", vec![])?;
    let records: Vec<Record> =
        sids.into_iter().map(|sid| Record { fields: vec![Field::plain("subject-identifier ( RO)", sid)] }).collect();
    ctx.printer.records(&records);
    Ok(())
}

fn logout(ctx: &mut Context) -> CmdResult {
    let sid = ctx.params.required("subject-identifier")?.to_string();
    ctx.call("session.logout_subject_identifier", vec![Value::String(sid)])?;
    Ok(())
}

fn logout_all(ctx: &mut Context) -> CmdResult {
    for sid in ctx.call_refs("session.get_all_subject_identifiers", vec![])? {
        ctx.call("session.logout_subject_identifier", vec![Value::String(sid)])?;
    }
    Ok(())
}

/// `user-password-change new= [old=]`: the password of the session's user.
pub const PASSWORD_CHANGE: CommandSpec = CommandSpec {
    name: "user-password-change",
    help: "Change the password of the user logged in.",
    run: Run::Fn(password_change),
};

fn password_change(ctx: &mut Context) -> CmdResult {
    let old = ctx.params.get("old").unwrap_or("").to_string();
    let new = ctx.params.required("new")?.to_string();
    ctx.call("session.change_password", vec![Value::String(old), Value::String(new)])?;
    Ok(())
}
