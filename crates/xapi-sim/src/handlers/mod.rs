//! xapi's HTTP data handlers (`/export_raw_vdi`, `/pool/xmldbdump`, ...):
//! each lives in a module of its own and shares [`context`], which does what
//! xapi's `with_context` does for every handler: credentials, the task, and
//! xapi's error pages. The router is merged after the RPC routes, outside
//! their body limit, so that data bodies stream.

pub mod context;
pub mod xmldb;

use crate::core::Core;
use axum::Router;
use std::sync::Arc;

/// The data handlers' routes.
pub fn router() -> Router<Arc<Core>> {
    Router::new().merge(xmldb::router())
}
