//! The pool's rules: what the state of a pool must satisfy and what follows
//! from it, as plain functions of the database. Behaviours apply them after
//! every change; the fixtures build pools that satisfy them. Nothing here
//! knows calls, sessions or the wire.

pub mod pool;
