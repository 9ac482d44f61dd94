//! The real [`Source`] of completion values: the server named by the partial
//! command line (with `XE_EXTRA_ARGS` and `~/.xe`, resolved by
//! [`crate::config`] as for a command), reached through
//! [`crate::connect::quiet_records`], and the local file system.
//!
//! One completion asks the server at most once per class, with
//! `<Class>.get_all_records_where` and the class's default filters as the
//! expression, so a request costs three RPCs (login, fetch, logout) however
//! many objects there are.

use super::Source;
use crate::argv::{self, Invocation};
use crate::config;
use crate::facts::{self, ClassFact};
use std::collections::HashMap;
use xenapi::Value;

/// Values from the server and the file system.
pub struct Live {
    invocation: Invocation,
    fetched: HashMap<(&'static str, Vec<String>), Vec<Value>>,
}

impl Live {
    /// A source for the words before the cursor (program name excluded).
    pub fn new(before: &[String]) -> Live {
        Live { invocation: lenient_parse(before), fetched: HashMap::new() }
    }
}

/// Parses what can be parsed: a trailing option without its value is dropped.
fn lenient_parse(words: &[String]) -> Invocation {
    let mut words = words.to_vec();
    while !words.is_empty() {
        if let Ok(inv) = argv::parse(&words) {
            return inv;
        }
        words.pop();
    }
    Invocation::default()
}

/// The `get_all_records_where` expression for a class's default filters
/// (`vm` objects are not templates), in the datamodel's field names.
pub fn class_expression(class: &ClassFact) -> String {
    let mut parts = Vec::new();
    if class.server_expr != "true" && !class.server_expr.is_empty() {
        parts.push(class.server_expr.to_string());
    }
    for (k, v) in class.default_filters {
        let api = facts::fields(class.record_class).find(|f| f.name == *k).map(|f| f.api);
        if let Some((_, field)) = api.and_then(|a| a.split_once('.')) {
            parts.push(format!("field \"{field}\" = \"{v}\""));
        }
    }
    if parts.is_empty() {
        "true".to_string()
    } else {
        parts.join(" and ")
    }
}

impl Source for Live {
    fn records(&mut self, class: &'static ClassFact, fields: &[&str]) -> Vec<Value> {
        let key = (class.cli, fields.iter().map(|f| f.to_string()).collect());
        if let Some(v) = self.fetched.get(&key) {
            return v.clone();
        }
        let env = config::Environment::from_process();
        let records = config::resolve(self.invocation.clone(), &env)
            .ok()
            .and_then(|r| crate::connect::quiet_records(&r.settings, class.api, &class_expression(class), fields))
            .unwrap_or_default();
        self.fetched.insert(key, records.clone());
        records
    }

    fn servers(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        // `host:port FINGERPRINT` lines; IPv6 hosts keep their brackets.
        let pinned = std::fs::read_to_string(config::known_hosts_path()).unwrap_or_default();
        for line in pinned.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let host_port = line.split_whitespace().next().unwrap_or("");
            if let Some((host, _)) = host_port.rsplit_once(':') {
                out.push(host.trim_start_matches('[').trim_end_matches(']').to_string());
            }
        }
        if let Ok(entries) = std::fs::read_dir(config::data_dir().join("sims")) {
            let mut sims: Vec<String> =
                entries.flatten().filter_map(|e| Some(format!("sim://{}", e.file_name().to_str()?))).collect();
            sims.sort();
            out.extend(sims);
        }
        out
    }

    fn files(&mut self, prefix: &str) -> Vec<String> {
        let (dir, base) = match prefix.rfind('/') {
            Some(i) => (&prefix[..=i], &prefix[i + 1..]),
            None => ("", prefix),
        };
        let Ok(entries) = std::fs::read_dir(if dir.is_empty() { "." } else { dir }) else { return Vec::new() };
        let mut out: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                if !name.starts_with(base) || (name.starts_with('.') && !base.starts_with('.')) {
                    return None;
                }
                let is_dir = e.path().is_dir();
                Some(format!("{dir}{name}{}", if is_dir { "/" } else { "" }))
            })
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_filters_become_an_expression() {
        assert_eq!(class_expression(facts::class("vm").unwrap()), "field \"is_a_template\" = \"false\"");
        assert_eq!(
            class_expression(facts::class("template").unwrap()),
            "field \"is_a_template\" = \"true\" and field \"is_a_snapshot\" = \"false\""
        );
        assert_eq!(class_expression(facts::class("sr").unwrap()), "true");
    }

    #[test]
    fn partial_lines_still_give_connection_options() {
        let w = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(lenient_parse(&w("-s h1 vm-start -pw")).globals.server.as_deref(), Some("h1"));
        assert_eq!(lenient_parse(&w("vm-start port=99")).globals.port.as_deref(), Some("99"));
    }
}
