//! XenAPI for Rust: the object model generated from the datamodel, a dynamic
//! [`Value`], pure XML-RPC / JSON-RPC codecs and, behind the `client` feature,
//! a thin blocking client. Nothing here prints or exits.

#[cfg(feature = "client")]
pub mod client;
pub mod datetime;
pub mod model;
pub mod value;
pub mod wire;

pub use value::Value;

/// The null reference, used for unset ref fields.
pub const NULL_REF: &str = "OpaqueRef:NULL";
