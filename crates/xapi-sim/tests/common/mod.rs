//! Helpers shared by the simulator's integration tests: a core with the demo
//! pool and calls by wire name, as a transport would make them.

#![allow(dead_code)]

use std::sync::Arc;
use xapi_sim::server::{build_core, SimOptions};
use xapi_sim::Core;
use xenapi::wire::Response;
use xenapi::Value;

pub mod wire;

/// A core with the demo pool and instant operations.
pub fn core() -> Arc<Core> {
    core_with(SimOptions::default())
}

/// A core built from `opts`, with instant operations.
pub fn core_with(mut opts: SimOptions) -> Arc<Core> {
    opts.config.time_scale = 0.0;
    build_core(&opts).expect("core")
}

/// Calls a method; failures come back as xapi's error list.
pub async fn call(core: &Arc<Core>, method: &str, params: Vec<Value>) -> Result<Value, Vec<String>> {
    match core.call(method, params).await {
        Response::Success(v) => Ok(v),
        Response::Failure(e) => Err(e),
    }
}

/// Calls a method that must succeed.
pub async fn ok(core: &Arc<Core>, method: &str, params: Vec<Value>) -> Value {
    match call(core, method, params).await {
        Ok(v) => v,
        Err(e) => panic!("{method} failed: {e:?}"),
    }
}

/// Calls a method that must fail, returning the error list.
pub async fn fails(core: &Arc<Core>, method: &str, params: Vec<Value>) -> Vec<String> {
    match call(core, method, params).await {
        Ok(v) => panic!("{method} succeeded with {v:?}"),
        Err(e) => e,
    }
}

/// Logs in as the default user and returns the session ref.
pub async fn login(core: &Arc<Core>) -> Value {
    ok(core, "session.login_with_password", vec![s("root"), s("xenroot"), s("2.21"), s("tests")]).await
}

pub fn s(text: &str) -> Value {
    Value::str(text)
}

/// Turns `["A", "b"]` into an owned error list for comparisons.
pub fn err(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

/// The ref of the first VM with this name label.
pub async fn vm(core: &Arc<Core>, session: &Value, name: &str) -> Value {
    let found = ok(core, "VM.get_by_name_label", vec![session.clone(), s(name)]).await;
    found.as_array().and_then(|a| a.first()).cloned().unwrap_or_else(|| panic!("no VM named {name}"))
}
