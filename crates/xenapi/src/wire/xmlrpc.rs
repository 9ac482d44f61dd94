//! XML-RPC
