//! XenAPI for Rust: the object model generated from the datamodel, a dynamic
//! [`Value`], and pure XML-RPC / JSON-RPC codecs. Nothing here prints or exits.

pub mod datetime;
pub mod model;
pub mod value;
pub mod wire;

pub use value::Value;

/// The null reference, used for unset ref fields.
pub const NULL_REF: &str = "OpaqueRef:NULL";
