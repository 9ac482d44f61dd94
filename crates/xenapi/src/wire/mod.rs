//! Pure encoders and decoders for the two XenAPI wire formats. No I/O.

pub mod jsonrpc;
pub mod xmlrpc;

use crate::Value;

/// The outcome of one call as both formats carry it: a value, or an error
/// code with its string parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    Success(Value),
    Failure(Vec<String>),
}

/// A decoding failure: the bytes are not a well-formed message of the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}
