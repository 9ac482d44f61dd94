//! The VM archive handlers' export side.

use crate::core::Core;
use axum::Router;
use std::sync::Arc;

/// The routes of this module.
pub fn routes() -> Router<Arc<Core>> {
    Router::new()
}
