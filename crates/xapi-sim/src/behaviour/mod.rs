//! Explicit messages, one function each, in a table keyed by wire name.
//! A message that is neither here nor implicit answers NOT_IMPLEMENTED.

mod event;
mod host;
mod message;
mod network;
mod session;
pub(crate) mod storage;
pub mod task;
pub(crate) mod vm;

use crate::db::{ApiResult, Db};
use crate::rpc::Call;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use xenapi::Value;

/// A future returned by a handler that waits (events).
pub type BoxFuture = Pin<Box<dyn Future<Output = ApiResult<Value>> + Send>>;

/// How a message is served.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Runs with the database write-locked; its changes commit afterwards.
    Sync(fn(&Call, &mut Db) -> ApiResult<Value>),
    /// Runs unlocked and may wait; takes locks itself.
    Async(fn(Call) -> BoxFuture),
}

fn table() -> &'static HashMap<&'static str, Handler> {
    static TABLE: OnceLock<HashMap<&'static str, Handler>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = HashMap::new();
        session::register(&mut t);
        event::register(&mut t);
        host::register(&mut t);
        message::register(&mut t);
        task::register(&mut t);
        vm::register(&mut t);
        storage::register(&mut t);
        network::register(&mut t);
        t
    })
}

/// Finds the handler of an explicit message.
pub fn lookup(method: &str) -> Option<Handler> {
    table().get(method).copied()
}

/// The pool master's ref, or the null ref on an empty database.
pub fn master(db: &Db) -> String {
    let pool = db.class_index("pool").expect("pool class");
    db.iter(pool)
        .next()
        .and_then(|(_, o)| {
            let pos = db.class(pool).field_pos("master")?;
            o.fields[pos].as_str().map(str::to_string)
        })
        .unwrap_or_else(|| xenapi::NULL_REF.to_string())
}
