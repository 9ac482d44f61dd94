//! Renders the generated, checked-in files: the completion scripts in
//! `completions/` ([`shells`]) and the man pages in `man/` ([`man`]), all
//! from the command table. Nothing here reads or writes files; the freshness
//! test in `tests/cli.rs` compares [`generated_files`] with the tree.

pub mod man;

use crate::shells::{self, Shell};

/// Every generated file, as (path relative to the repository root, contents).
pub fn generated_files() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        Shell::ALL.iter().map(|s| (format!("completions/{}", shells::file_name(*s)), shells::script(*s))).collect();
    out.extend(man::pages().into_iter().map(|(name, text)| (format!("man/{name}"), text)));
    out
}
