//! xapi's HTTP data handlers (`/export_raw_vdi`, `/pool/xmldbdump`, ...):
//! each lives in a module of its own and shares [`context`], which does what
//! xapi's `with_context` does for every handler: credentials, the task, and
//! xapi's error pages. The router is merged after the RPC routes, outside
//! their body limit, so that data bodies stream.

pub mod audit_log;
pub mod context;
pub mod host_backup;
pub mod host_logs;
pub mod patch_upload;
pub mod raw_vdi;
pub mod rrd;
pub mod wlb;
pub mod xmldb;
pub mod xva_export;
pub mod xva_import;

use crate::core::Core;
use axum::Router;
use std::sync::Arc;

/// The data handlers' routes.
pub fn router() -> Router<Arc<Core>> {
    Router::new()
        .merge(raw_vdi::routes())
        .merge(xva_export::routes())
        .merge(xva_import::routes())
        .merge(xmldb::router())
        .merge(host_logs::routes())
        .merge(host_backup::routes())
        .merge(rrd::routes())
        .merge(audit_log::routes())
        .merge(patch_upload::routes())
        .merge(wlb::routes())
}
