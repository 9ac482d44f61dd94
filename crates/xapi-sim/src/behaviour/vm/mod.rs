//! `VM.*` lifecycle: power states, clone/copy/provision, snapshots, migration, guest agent.
//!
//! Every operation follows xapi's shape: the operation is checked against the
//! VM's power state, kind (template, snapshot, control domain), blocked and
//! current operations, then entered into `current_operations` under the
//! call's task; the simulated work runs unlocked (and can be cancelled); the
//! change is applied atomically and the operation leaves `current_operations`.
//! `allowed_operations` is recomputed whenever either changes. The checks
//! themselves are pool rules ([`crate::rules::vm`]), as are placement and
//! memory accounting.

mod copy;
mod disks;
mod guest;
mod messages;
mod misc;
mod power;

use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db};
use crate::rules::vm::{assert_operation_valid, enter, leave};
use std::collections::HashMap;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    power::register(t);
    copy::register(t);
    misc::register(t);
}

// ---------------------------------------------------------------------------
// Simulated durations, in seconds before `--time-scale`.

pub(super) const START_SECS: f64 = 2.0;
pub(super) const SHUTDOWN_SECS: f64 = 2.0;
pub(super) const HARD_SHUTDOWN_SECS: f64 = 0.5;
pub(super) const REBOOT_SECS: f64 = 3.0;
pub(super) const SUSPEND_SECS: f64 = 3.0;
pub(super) const RESUME_SECS: f64 = 3.0;
pub(super) const PAUSE_SECS: f64 = 0.2;
pub(super) const MIGRATE_SECS: f64 = 3.0;
pub(super) const CLONE_SECS: f64 = 1.0;
pub(super) const COPY_SECS: f64 = 5.0;
pub(super) const SNAPSHOT_SECS: f64 = 1.0;
pub(super) const CHECKPOINT_SECS: f64 = 3.0;
pub(super) const REVERT_SECS: f64 = 2.0;
pub(super) const PROVISION_SECS: f64 = 2.0;
/// Time from domain start to the guest agent's first report.
pub(super) const AGENT_SECS: f64 = 2.0;

/// An operation in progress: the call it serves, with the task it runs under
/// (the caller's for `Async.` calls; for synchronous calls one made for the
/// call and destroyed after it, as xapi does, so that they too show in
/// `current_operations` and can be cancelled).
pub(super) struct Running {
    pub call: Call,
    own_task: bool,
}

impl Running {
    pub fn task(&self) -> &str {
        self.call.task.as_deref().unwrap_or("")
    }
}

/// Checks and marks an operation on every target (the first is the VM the
/// call is about) and runs `prepare` under the same lock.
pub(super) fn begin_op<P>(
    call: &Call,
    targets: &[(&str, &'static str)],
    prepare: impl FnOnce(&mut Db) -> ApiResult<P>,
) -> ApiResult<(Running, P)> {
    call.core.write(|db| {
        for (vm, op) in targets {
            assert_operation_valid(db, vm, op)?;
        }
        let own_task = call.task.is_none();
        let task = match &call.task {
            Some(t) => t.clone(),
            None => crate::tasks::new_task(db, &call.method, "", true),
        };
        for (vm, op) in targets {
            enter(db, vm, op, &task);
        }
        match prepare(db) {
            Ok(p) => Ok((Running { call: call.with_task(task), own_task }, p)),
            Err(e) => {
                for (vm, _) in targets {
                    leave(db, vm, &task);
                }
                if own_task {
                    db.destroy(&task);
                }
                Err(e)
            }
        }
    })
}

/// Applies an operation's result and takes it off its targets, atomically.
pub(super) fn end_op<T>(
    op: &Running,
    targets: &[(&str, &'static str)],
    apply: impl FnOnce(&mut Db) -> ApiResult<T>,
) -> ApiResult<T> {
    end_op_then(op, targets, apply, |_, _| {})
}

/// [`end_op`], then `then` on success once the operation is off its targets
/// (where xapi files the operation's message), in the same commit.
fn end_op_then<T>(
    op: &Running,
    targets: &[(&str, &'static str)],
    apply: impl FnOnce(&mut Db) -> ApiResult<T>,
    then: impl FnOnce(&mut Db, &T),
) -> ApiResult<T> {
    op.call.core.write(|db| {
        let out = apply(db);
        for (vm, _) in targets {
            leave(db, vm, op.task());
        }
        if op.own_task {
            db.destroy(op.task());
        }
        if let Ok(v) = &out {
            then(db, v);
        }
        out
    })
}

/// Runs one VM operation the way xapi does: [`begin_op`], simulate `seconds`
/// of work (cancellable), then `apply` the result atomically, or `undo` what
/// `prepare` reserved when the work or the change failed.
/// `note` says what to file as the operation's message when it succeeds.
async fn run_op<P, T>(
    call: &Call,
    targets: &[(&str, &'static str)],
    seconds: f64,
    prepare: impl FnOnce(&mut Db) -> ApiResult<P>,
    apply: impl FnOnce(&mut Db, P) -> ApiResult<T>,
    undo: impl FnOnce(&mut Db, P),
    note: impl FnOnce(&T) -> messages::Note<'_>,
) -> ApiResult<T>
where
    P: Send + Clone,
{
    let (op, prepared) = begin_op(call, targets, prepare)?;
    let worked = crate::tasks::work(&op.call, seconds, 0.0, 0.9).await;
    let apply = |db: &mut Db| match worked {
        Ok(()) => match apply(db, prepared.clone()) {
            Ok(v) => Ok(v),
            Err(e) => {
                undo(db, prepared);
                Err(e)
            }
        },
        Err(e) => {
            undo(db, prepared);
            Err(e)
        }
    };
    end_op_then(&op, targets, apply, |db, v| messages::file(db, targets[0].0, note(v)))
}

/// Destroys disks an operation left behind; failures are only logged in xapi too.
pub(super) async fn drop_vdis(call: &Call, vdis: Vec<String>) {
    for vdi in vdis {
        let live = call.core.db.read().is(&vdi, "VDI");
        if live {
            let _ = call.api("VDI.destroy", vec![Value::String(vdi)]).await;
        }
    }
}

/// Reports progress between the steps of an operation, and notices a cancel.
pub(super) async fn step(call: &Call, progress: f64) -> ApiResult<()> {
    crate::tasks::work(call, 0.0, progress, progress).await
}

/// The empty result of a void message.
pub(super) fn void() -> Value {
    Value::str("")
}
