//! Dispatch of one call: `--disable`, `Async.` tasks, [`crate::call::prepare`]'s
//! checks, then the explicit behaviour table or the generic implementation
//! of the datamodel's implicit messages. The top of the simulator's logic:
//! nothing but the transports and `lib` depend on it.

use crate::behaviour;
use crate::call::{self, BoxFuture, Call, Handler};
use crate::core::Core;
use crate::db::{ApiResult, Failure};
use crate::implicit;
use std::sync::Arc;
use xenapi::wire::Response;
use xenapi::Value;

impl Core {
    /// Handles one call by wire name, for any transport. (Implemented here:
    /// `core` knows nothing of dispatch.)
    pub async fn call(self: &Arc<Self>, method: &str, params: Vec<Value>) -> Response {
        self.rpc_count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match dispatch(self, method, params).await {
            Ok(v) => Response::Success(v),
            Err(Failure(e)) => Response::Failure(e),
        }
    }
}

/// Entry point for every transport.
pub async fn dispatch(core: &Arc<Core>, method: &str, params: Vec<Value>) -> ApiResult<Value> {
    if core.config.is_disabled(method) {
        return Err(Failure::new("MESSAGE_METHOD_UNKNOWN", [method]));
    }
    if let Some(inner) = method.strip_prefix("Async.") {
        return crate::tasks::spawn(prepare_async(core, method, inner, params)?);
    }
    let call = prepare(core, method, params)?;
    run(call).await
}

/// Checks an `Async.` call: the message must have an `Async.` form.
fn prepare_async(core: &Arc<Core>, method: &str, inner: &str, params: Vec<Value>) -> ApiResult<Call> {
    let async_form = call::resolve(inner).is_ok_and(|(class, message)| crate::tasks::is_async_capable(class, message));
    if !async_form {
        return Err(Failure::new("MESSAGE_METHOD_UNKNOWN", [method]));
    }
    prepare(core, inner, params)
}

/// An `Async.` call hit by an `error` fault: checked like any other, it
/// answers a task, which fails with `error` instead of running the call.
pub fn fail_async(core: &Arc<Core>, method: &str, params: Vec<Value>, error: Vec<String>) -> Response {
    let inner = method.strip_prefix("Async.").unwrap_or(method);
    let checked = if core.config.is_disabled(method) {
        Err(Failure::new("MESSAGE_METHOD_UNKNOWN", [method]))
    } else {
        prepare_async(core, method, inner, params)
    };
    match checked.and_then(|_| crate::tasks::failed(core, method, error)) {
        Ok(v) => Response::Success(v),
        Err(Failure(e)) => Response::Failure(e),
    }
}

/// [`call::prepare`], for calls that run here.
pub fn prepare(core: &Arc<Core>, method: &str, params: Vec<Value>) -> ApiResult<Call> {
    call::prepare(core, method, params, run_boxed)
}

fn run_boxed(call: Call) -> BoxFuture {
    Box::pin(run(call))
}

/// Runs a prepared call to completion.
pub async fn run(call: Call) -> ApiResult<Value> {
    match behaviour::lookup(&call.method) {
        Some(Handler::Sync(f)) => {
            let core = call.core.clone();
            let mut db = core.db.write();
            let out = f(&call, &mut db);
            core.commit(&mut db)?;
            out
        }
        Some(Handler::Async(f)) => f(call).await,
        None if call.message.implicit => implicit::serve(&call),
        // Explicit setters of plain fields behave like implicit ones unless a
        // behaviour adds rules (xapi validates some, e.g. memory limits).
        None if implicit::is_plain_setter(&call) => implicit::field_message(&call, call.message.name),
        None => Err(Failure::new("NOT_IMPLEMENTED", [call.method.as_str()])),
    }
}
