//! The host's clock: `host.get_servertime` and `get_server_localtime`.

use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db};
use std::collections::HashMap;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("host.get_servertime", Handler::Sync(servertime));
    t.insert("host.get_server_localtime", Handler::Sync(server_localtime));
}

/// UTC now, as a datetime ending in `Z`. Every host of the pool shares the
/// simulator's clock; the host must exist (xapi forwards the call to it).
fn servertime(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect(call.class_idx, call.str(0))?;
    Ok(Value::DateTime((db.clock)()))
}

/// The host's wall-clock time in its own time zone. xapi sends it as a
/// datetime without a zone designator (`20261203T22:30:00`, no `Z`).
fn server_localtime(call: &Call, db: &mut Db) -> ApiResult<Value> {
    db.expect(call.class_idx, call.str(0))?;
    let now = xenapi::datetime::parse(&(db.clock)()).unwrap_or(0);
    Ok(Value::DateTime(crate::localtime::wall_clock(now)))
}
