//! Explicit messages, one function each, in a table keyed by wire name.
//! A message that is neither here nor implicit answers NOT_IMPLEMENTED.
//!
//! Each area's module registers its handlers here and depends only on
//! what lies below dispatch ([`crate::call`], [`crate::db`],
//! [`crate::rules`], [`crate::tasks`], ...), never on `rpc` or on another
//! area's module.

mod auth;
mod certificates;
mod data_sources;
mod event;
mod ha;
mod host;
mod message;
mod network;
mod pool;
mod pool_more;
mod repository;
mod role;
mod session;
mod storage;
mod task;
mod update;
mod vm;

use crate::call::Handler;
use std::collections::HashMap;
use std::sync::OnceLock;

fn table() -> &'static HashMap<&'static str, Handler> {
    static TABLE: OnceLock<HashMap<&'static str, Handler>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = HashMap::new();
        session::register(&mut t);
        auth::register(&mut t);
        certificates::register(&mut t);
        event::register(&mut t);
        data_sources::register(&mut t);
        host::register(&mut t);
        message::register(&mut t);
        task::register(&mut t);
        vm::register(&mut t);
        storage::register(&mut t);
        network::register(&mut t);
        role::register(&mut t);
        pool::register(&mut t);
        pool_more::register(&mut t);
        ha::register(&mut t);
        update::register(&mut t);
        repository::register(&mut t);
        t
    })
}

/// Finds the handler of an explicit message.
pub fn lookup(method: &str) -> Option<Handler> {
    table().get(method).copied()
}
