//! Shell completion: `xe __complete <shell> <cword> [--line TEXT] -- <words...>`
//! prints candidates for the word at index `cword` of `words` (`words[0]` is
//! the program), one per line as `value\tdescription`. The scripts in
//! `completions/` (rendered by [`crate::shells`]) are thin shims that
//! call it.
//!
//! The engine knows xe's grammar ([`crate::argv`]): global options, then a
//! command, then `key=value`, `map:key=value` and `--flag` words. It offers
//! command names (grouped by prefix like the real xe's bash completion),
//! parameters (`name=`, required first; maps as `name:`), global options, and
//! values: uuids and names from the server, enum spellings from the
//! datamodel, field names for `params=`, files for `filename=`.
//!
//! It never prints errors and never prompts: any failure, e.g. an unreachable
//! server or bad credentials, means fewer candidates. Values from the server
//! cost one `get_all_records_where` (see [`values`]).

pub mod dynamic;
pub mod values;

use crate::commands::help;
use crate::facts::{self, Access, ClassFact, FieldFact};
use xenapi::model::{Schema, Type};
use xenapi::Value;

pub use crate::shells::Shell;

/// One completion: the whole word and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub value: String,
    pub description: String,
}

impl Candidate {
    fn new(value: impl Into<String>, description: impl Into<String>) -> Candidate {
        Candidate { value: value.into(), description: description.into() }
    }
}

/// Where values come from: the server (or a fake in tests) and the file system.
pub trait Source {
    /// The API records of a generic class, after its default filters (e.g.
    /// templates are not VMs), with at least the API fields `fields`; empty
    /// when the server cannot be reached.
    fn records(&mut self, class: &'static ClassFact, fields: &[&str]) -> Vec<Value>;
    /// Paths that start with `prefix`; directories end with `/`.
    fn files(&mut self, prefix: &str) -> Vec<String>;
    /// Servers this user has talked to (pinned hosts, `sim://` simulators).
    fn servers(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// Connection options that take a value, with what they are.
const VALUE_OPTIONS: &[(&str, &str)] = &[
    ("-s", "server host name or address"),
    ("-p", "server port"),
    ("-u", "user name"),
    ("-pw", "password"),
    ("-pwf", "password file: user on line 1, password on line 2"),
    ("--traceparent", "W3C trace context header"),
    ("--timeout", "seconds to wait for the server"),
];

/// Flags accepted anywhere on the line.
const GLOBAL_FLAGS: &[(&str, &str)] = &[
    ("--nossl", "plain HTTP"),
    ("--insecure", "accept any server certificate"),
    ("--debug", "client debug output on stderr"),
    ("--debug-on-fail", "debug output only when the command fails"),
];

/// Output flags, once a command is given.
const OUTPUT_FLAGS: &[(&str, &str)] =
    &[("--minimal", "values only, comma-separated"), ("--json", "records as JSON"), ("--table", "records as a table")];

/// Command parameters that are booleans although no record field says so.
const BOOLEAN_PARAMS: &[&str] = &[
    "force",
    "paused",
    "live",
    "shared",
    "multiple",
    "sharable",
    "read-only",
    "bootable",
    "unpluggable",
    "preserve",
    "metadata",
    "dry-run",
    "include-snapshots",
    "preserve-power-state",
    "progress",
    "all",
    "auto-enable",
    "copy",
];

/// Answers one `__complete` request (the arguments after `__complete`) with
/// values from the server the line points at.
pub fn run(args: &[String]) -> String {
    run_with(args, &mut |before| Box::new(values::Live::new(before)))
}

/// Answers a request with the source `make` builds from the words before the cursor.
pub fn run_with(args: &[String], make: &mut dyn FnMut(&[String]) -> Box<dyn Source>) -> String {
    let Some(req) = Request::parse(args) else { return String::new() };
    let mut source = make(&req.before);
    let cands = complete(&req.before, &req.cur, source.as_mut());
    render(req.shell, &req.cur, &req.shell_cur, &cands)
}

/// A parsed request: the words before the cursor word, and the cursor word.
struct Request {
    shell: Shell,
    before: Vec<String>,
    /// The whole word under the cursor, as xe will see it.
    cur: String,
    /// The part of it the shell replaces (bash splits words at `=` and `:`).
    shell_cur: String,
}

impl Request {
    fn parse(args: &[String]) -> Option<Request> {
        let shell = Shell::parse(args.first()?)?;
        let cword: usize = args.get(1)?.parse().ok()?;
        let mut i = 2;
        let mut line = None;
        if args.get(i).map(String::as_str) == Some("--line") {
            line = Some(args.get(i + 1)?.clone());
            i += 2;
        }
        if args.get(i).map(String::as_str) != Some("--") {
            return None;
        }
        let words = &args[i + 1..];
        if let Some(line) = line {
            // bash: COMP_WORDS is split at COMP_WORDBREAKS; split the line ourselves.
            let mut split = crate::argv::split_shell_line(&line);
            let cur = split.pop().unwrap_or_default();
            let before = split.into_iter().skip(1).collect();
            let shell_cur = words.get(cword).cloned().unwrap_or_default();
            return Some(Request { shell, before, cur, shell_cur });
        }
        let cur = words.get(cword).cloned().unwrap_or_default();
        let before = words.iter().take(cword).skip(1).cloned().collect();
        Some(Request { shell, before, shell_cur: cur.clone(), cur })
    }
}

/// Formats candidates for a shell: `value\tdescription` lines. bash gets
/// values relative to its own current word and escaped for its line editor.
fn render(shell: Shell, cur: &str, shell_cur: &str, cands: &[Candidate]) -> String {
    // Right after `=` or `:`, COMP_WORDS ends with that break character, but
    // readline replaces only the (empty) text after it.
    let shell_cur = if shell == Shell::Bash && !shell_cur.is_empty() && shell_cur.chars().all(|c| "=:".contains(c)) {
        ""
    } else {
        shell_cur
    };
    let strip = match shell {
        Shell::Bash if cur.ends_with(shell_cur) => &cur[..cur.len() - shell_cur.len()],
        _ => "",
    };
    let quoted = shell_cur.starts_with(['\'', '"']);
    let mut out = String::new();
    for c in cands {
        let mut value = c.value.strip_prefix(strip).unwrap_or(&c.value).to_string();
        if shell == Shell::Bash && !quoted {
            value = bash_escape(&value);
        }
        let description: String =
            c.description.chars().map(|ch| if ch.is_control() { ' ' } else { ch }).collect::<String>();
        out.push_str(&value.replace(['\t', '\n'], " "));
        if !description.is_empty() {
            out.push('\t');
            out.push_str(description.trim());
        }
        out.push('\n');
    }
    out
}

fn bash_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if " \t'\"\\$`&;|<>()!*?[]{}#~".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// What the words before the cursor say.
#[derive(Debug, Default)]
struct Line {
    command: Option<String>,
    /// Parameter keys already given (`--flag` counts as `flag`).
    typed: Vec<String>,
    /// A connection option still waiting for its value (`-pwf`).
    pending: Option<String>,
}

fn analyse(before: &[String]) -> Line {
    let mut line = Line::default();
    let mut i = 0;
    while i < before.len() {
        let a = before[i].as_str();
        if VALUE_OPTIONS.iter().any(|(o, _)| *o == a) || a == "-h" {
            if i + 1 >= before.len() {
                line.pending = Some(a.to_string());
            }
            i += 2;
            continue;
        }
        if let Some(flag) = a.strip_prefix("--") {
            line.typed.push(flag.to_string());
        } else if a.starts_with('-') {
            // An unknown switch: xe would refuse the line; ignore it here.
        } else if line.command.is_none() && !a.contains('=') {
            line.command = Some(a.to_string());
        } else {
            line.typed.push(a.split_once('=').map_or(a, |(k, _)| k).to_string());
        }
        i += 1;
    }
    line
}

/// Candidates for the word `cur` after the words `before` (program name excluded).
pub fn complete(before: &[String], cur: &str, source: &mut dyn Source) -> Vec<Candidate> {
    let line = analyse(before);
    let mut out = match (&line.pending, &line.command) {
        (Some(opt), _) => option_value(opt, cur, source),
        (None, None) if cur.starts_with('-') => global_options(false),
        (None, None) => match cur.split_once('=') {
            Some(("passwordfile", v)) => files("passwordfile=", v, source),
            Some(("server", _)) => servers("server=", source),
            Some(_) => Vec::new(),
            None => command_names(cur),
        },
        (None, Some(cmd)) => after_command(cmd, &line, cur, source),
    };
    out.retain(|c| c.value.starts_with(cur));
    let mut seen = std::collections::HashSet::new();
    out.retain(|c| seen.insert(c.value.clone()));
    out
}

fn option_value(opt: &str, cur: &str, source: &mut dyn Source) -> Vec<Candidate> {
    match opt {
        "-pwf" => files("", cur, source),
        "-s" | "-h" => servers("", source),
        _ => Vec::new(),
    }
}

fn servers(prefix: &str, source: &mut dyn Source) -> Vec<Candidate> {
    source.servers().into_iter().map(|s| Candidate::new(format!("{prefix}{s}"), "server")).collect()
}

fn global_options(with_output: bool) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = VALUE_OPTIONS.iter().map(|(o, d)| Candidate::new(*o, *d)).collect();
    out.extend(GLOBAL_FLAGS.iter().map(|(o, d)| Candidate::new(*o, *d)));
    if with_output {
        out.extend(OUTPUT_FLAGS.iter().map(|(o, d)| Candidate::new(*o, *d)));
    }
    out
}

/// Every command name this xe knows, sorted.
fn all_commands() -> Vec<String> {
    let mut names = help::all_command_names();
    names.push("help".to_string());
    names.sort();
    names.dedup();
    names
}

/// The first sentence of our description of a command.
fn summary(name: &str) -> String {
    let d = help::description(name);
    match d.find(". ") {
        Some(i) => d[..i].to_string(),
        None => d.trim_end_matches('.').to_string(),
    }
}

/// Command names, grouped by the text before the first `-` while more than
/// one group matches (as the real xe's bash completion does).
fn command_names(cur: &str) -> Vec<Candidate> {
    let names: Vec<String> = all_commands().into_iter().filter(|n| n.starts_with(cur)).collect();
    let group = |n: &str| n.split('-').next().unwrap_or(n).to_string();
    let mut groups: Vec<(String, Vec<&String>)> = Vec::new();
    for n in &names {
        let g = group(n);
        match groups.iter_mut().find(|(k, _)| *k == g) {
            Some((_, members)) => members.push(n),
            None => groups.push((g, vec![n])),
        }
    }
    if cur.contains('-') || groups.len() <= 1 {
        return names.iter().map(|n| Candidate::new(n.clone(), summary(n))).collect();
    }
    groups
        .into_iter()
        .map(|(g, members)| match members.as_slice() {
            [only] => Candidate::new(only.to_string(), summary(only)),
            _ => Candidate::new(format!("{g}-"), format!("{} commands", members.len())),
        })
        .collect()
}

fn after_command(cmd: &str, line: &Line, cur: &str, source: &mut dyn Source) -> Vec<Candidate> {
    if cur.starts_with('-') {
        let mut out = global_options(true);
        if let Some((reqd, optn)) = help::command_params(cmd) {
            for p in reqd.iter().chain(&optn).filter(|p| BOOLEAN_PARAMS.contains(&p.as_str())) {
                out.push(Candidate::new(format!("--{p}"), format!("{p}=true")));
            }
        }
        return out;
    }
    if cmd == "help" && !cur.contains('=') {
        return command_names(cur);
    }
    if cmd == "completion" && !cur.contains('=') {
        return Shell::ALL.iter().map(|s| Candidate::new(s.name(), "print the completion script")).collect();
    }
    match cur.split_once('=') {
        Some((key, value)) => value_candidates(cmd, key, value, source),
        None => {
            let mut out = parameters(cmd, &line.typed);
            if cur.is_empty() {
                out.extend(global_options(true));
            }
            out
        }
    }
}

/// `name=` for every parameter not given yet, required first; maps as `name:`.
fn parameters(cmd: &str, typed: &[String]) -> Vec<Candidate> {
    let Some((reqd, optn)) = help::command_params(cmd) else { return Vec::new() };
    let mut out = Vec::new();
    let mut push = |name: &str, what: &str| {
        let word = if name.ends_with(':') { name.to_string() } else { format!("{name}=") };
        if name.ends_with(':') || !typed.iter().any(|t| t == name) {
            out.push(Candidate::new(word, what));
        }
    };
    for p in &reqd {
        push(p, "required");
    }
    for p in &optn {
        let selector = match p.as_str() {
            "<vm-selectors>" => Some(("vm", "vm-list")),
            "<host-selectors>" => Some(("host", "host-list")),
            "<sr-selectors>" => Some(("sr", "sr-list")),
            _ => None,
        };
        match selector {
            Some((class, list)) => {
                push(class, &format!("{class} name or uuid (selector)"));
                if let Some((_, fields)) = help::command_params(list) {
                    for f in fields.iter().filter(|f| *f != "params" && *f != "database:") {
                        push(f, "filter");
                    }
                }
            }
            None if p.ends_with(':') => push(p, "map: name:key=value"),
            None => push(p, ""),
        }
    }
    out
}

/// The generic class a command is about: the longest prefix of its name
/// that names a class (`vm-start` → `vm`, `host-cpu-list` → `host-cpu`).
pub fn command_class(cmd: &str) -> Option<&'static ClassFact> {
    let segments: Vec<&str> = cmd.split('-').collect();
    (1..segments.len()).rev().find_map(|n| facts::class(&segments[..n].join("-")))
}

/// The class whose uuids a `*-uuid` key takes (`vm-uuid`, `into-vdi-uuid`, `suspend-SR-uuid`).
fn uuid_class(cmd: &str, key: &str) -> Option<&'static ClassFact> {
    if key == "uuid" {
        return command_class(cmd);
    }
    let base = key.strip_suffix("-uuid")?.to_ascii_lowercase();
    facts::class(&base)
        .or_else(|| base.rsplit('-').next().and_then(facts::class))
        .or_else(|| base.split('-').next().and_then(facts::class))
}

/// The class whose names a key takes (`vm=`, `on=`, `sr-name-label=`).
fn name_class(cmd: &str, key: &str) -> Option<&'static ClassFact> {
    let cli = match key {
        "vm" => "vm",
        "host" | "on" => "host",
        "sr" | "sr-name-label" => "sr",
        "template" | "template-name" | "template-name-label" => "template",
        "name-label" => return command_class(cmd),
        _ => return None,
    };
    facts::class(cli)
}

fn value_candidates(cmd: &str, key: &str, value: &str, source: &mut dyn Source) -> Vec<Candidate> {
    let prefix = format!("{key}=");
    if key == "server" {
        return servers(&prefix, source);
    }
    if key == "filename" || key == "file-name" || key == "passwordfile" || key.ends_with("-filename") {
        return files(&prefix, value, source);
    }
    if let Some(class) = uuid_class(cmd, key) {
        return object_values(source, class, &prefix, "uuid");
    }
    if let Some(class) = name_class(cmd, key) {
        return object_values(source, class, &prefix, "name_label");
    }
    let class = command_class(cmd);
    let record_class = class.map(|c| c.record_class).unwrap_or("");
    match key {
        "params" => {
            let done = value.rfind(',').map(|i| &value[..=i]).unwrap_or("");
            let given: Vec<&str> = done.split(',').collect();
            let mut out = Vec::new();
            if done.is_empty() {
                out.push(Candidate::new(format!("{prefix}all"), "every field"));
            }
            for f in facts::fields(record_class).filter(|f| !f.hidden && !given.contains(&f.name)) {
                out.push(Candidate::new(format!("{prefix}{done}{}", f.name), field_kind(f)));
            }
            return out;
        }
        "param-name" => {
            let settable_only = cmd.ends_with("-param-add") || cmd.ends_with("-param-remove");
            return facts::fields(record_class)
                .filter(|f| !settable_only || matches!(f.access, Access::Srw | Access::Mrw))
                .filter(|f| !f.hidden || cmd.ends_with("-param-get"))
                .map(|f| Candidate::new(format!("{prefix}{}", f.name), field_kind(f)))
                .collect();
        }
        _ => {}
    }
    let field = facts::fields(record_class).find(|f| f.name == key);
    // A command's own parameter and `param-set` take the datamodel's names
    // (`vdi-create type=user`, `actions-after-crash=coredump_and_restart`);
    // filters compare with xe's spellings (`power-state=running`).
    let own = cmd.ends_with("-param-set")
        || facts::command(cmd).is_some_and(|c| c.reqd.contains(&key) || c.optn.contains(&key));
    if let Some(values) = field.and_then(|f| enum_values(f, own)) {
        return values.into_iter().map(|v| Candidate::new(format!("{prefix}{v}"), "")).collect();
    }
    if field.is_some_and(|f| field_type(f) == Some(Type::Bool)) || BOOLEAN_PARAMS.contains(&key) {
        return ["true", "false"].iter().map(|v| Candidate::new(format!("{prefix}{v}"), "")).collect();
    }
    // Filters of `-list` commands and selectors: the values the objects have.
    if let (Some(class), Some(f)) = (class, field) {
        if let Some(Type::String | Type::Int) = field_type(f) {
            let api_field = f.api.split_once('.').map(|(_, n)| n).unwrap_or(f.api).to_string();
            let mut out = Vec::new();
            for rec in source.records(class, &[api_field.as_str()]) {
                if let Some(v) = rec.get(&api_field).filter(|v| !matches!(v, Value::Nil)) {
                    out.push(Candidate::new(format!("{prefix}{v}"), ""));
                }
            }
            return out;
        }
    }
    Vec::new()
}

/// `(RO)`, `(MRW)`...: what kind of field it is, as xe's markers say.
fn field_kind(f: &FieldFact) -> String {
    f.access.marker().trim_start_matches('(').trim_end_matches(')').trim().to_string()
}

/// The datamodel type of the field behind a record field, when it is a plain field of the class.
fn field_type(f: &FieldFact) -> Option<Type> {
    let first = f.api.split(';').next()?.trim();
    let (class, name) = first.split_once('.')?;
    if name.ends_with(')') {
        return None;
    }
    Schema::get().class(class)?.field(name).map(|fd| fd.ty.clone())
}

/// An enum field's values from the datamodel: wire names, or xe's spellings.
fn enum_values(f: &FieldFact, wire: bool) -> Option<Vec<String>> {
    let Type::Enum(name) = field_type(f)? else { return None };
    let def = Schema::get().enum_def(&name)?;
    if wire {
        return Some(def.values.iter().map(|v| v.to_string()).collect());
    }
    let converter = f.render.split("enum:").nth(1).map(|r| r.split_whitespace().next().unwrap_or(r)).unwrap_or("");
    Some(def.values.iter().map(|v| crate::render::enum_text(converter, v)).collect())
}

/// The API fields that identify an object: its uuid, then what names it.
const NAME_FIELDS: [&str; 6] = ["uuid", "name_label", "device", "number", "userdevice", "name"];

/// `key=<uuid>` described by name, or `key=<name>` described by uuid.
fn object_values(source: &mut dyn Source, class: &'static ClassFact, prefix: &str, field: &str) -> Vec<Candidate> {
    let mut out = Vec::new();
    for rec in source.records(class, &NAME_FIELDS) {
        let text = |k: &str| rec.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let uuid = text("uuid");
        let name = NAME_FIELDS[1..]
            .iter()
            .map(|k| rec.get(k).map(|v| v.to_string()).unwrap_or_default())
            .find(|s| !s.is_empty())
            .unwrap_or_default();
        let (value, description) = if field == "uuid" { (uuid, name) } else { (text(field), uuid) };
        if !value.is_empty() {
            out.push(Candidate::new(format!("{prefix}{value}"), description));
        }
    }
    out
}

fn files(prefix: &str, typed: &str, source: &mut dyn Source) -> Vec<Candidate> {
    source.files(typed).into_iter().map(|p| Candidate::new(format!("{prefix}{p}"), "")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two VMs and one template; counts the fetches.
    #[derive(Default)]
    struct Fake {
        fetches: usize,
    }

    impl Source for Fake {
        fn records(&mut self, class: &'static ClassFact, _: &[&str]) -> Vec<Value> {
            self.fetches += 1;
            let rec = |uuid: &str, name: &str| {
                Value::Struct(vec![
                    ("uuid".into(), Value::str(uuid)),
                    ("name_label".into(), Value::str(name)),
                    ("power_state".into(), Value::str("Running")),
                ])
            };
            match class.cli {
                "vm" => vec![rec("aaaa-1", "web01"), rec("bbbb-2", "db 01")],
                "sr" => vec![rec("cccc-3", "Local storage")],
                _ => vec![],
            }
        }

        fn files(&mut self, prefix: &str) -> Vec<String> {
            ["dir/", "file.xva"].iter().map(|f| f.to_string()).filter(|f| f.starts_with(prefix)).collect()
        }

        fn servers(&mut self) -> Vec<String> {
            vec!["pool1.example.com".into(), "sim://demo".into()]
        }
    }

    fn values(before: &str, cur: &str) -> Vec<String> {
        let words: Vec<String> = before.split_whitespace().map(String::from).collect();
        complete(&words, cur, &mut Fake::default()).into_iter().map(|c| c.value).collect()
    }

    #[test]
    fn commands_group_by_prefix_until_one_group_is_left() {
        let v = values("", "v");
        assert!(v.contains(&"vm-".to_string()) && v.contains(&"vdi-".to_string()), "{v:?}");
        assert!(!v.iter().any(|c| c == "vm-start"));
        assert_eq!(values("", "vm-st"), vec!["vm-start"]);
        assert!(values("-s host", "vm-").contains(&"vm-shutdown".to_string()));
    }

    #[test]
    fn parameters_required_first_and_not_repeated() {
        let v = values("vdi-create", "");
        assert_eq!(v[0], "sr-uuid=");
        assert!(v.contains(&"sm-config:".to_string()));
        assert!(v.contains(&"-s".to_string()));
        let v = values("vdi-create sr-uuid=x", "");
        assert!(!v.contains(&"sr-uuid=".to_string()));
        let v = values("vm-start", "");
        assert!(v.contains(&"vm=".to_string()) && v.contains(&"power-state=".to_string()));
    }

    #[test]
    fn uuids_names_enums_fields_and_files() {
        let mut fake = Fake::default();
        let c = complete(&["vm-start".to_string()], "uuid=", &mut fake);
        assert_eq!(c[0], Candidate::new("uuid=aaaa-1", "web01"));
        assert_eq!(fake.fetches, 1);
        assert_eq!(values("vdi-create", "sr-uuid=c"), vec!["sr-uuid=cccc-3"]);
        assert_eq!(values("vm-start", "vm=d"), vec!["vm=db 01"]);
        assert_eq!(values("vm-list", "power-state=r"), vec!["power-state=running"]);
        assert_eq!(values("vm-shutdown", "power-state=h"), vec!["power-state=halted"]);
        assert_eq!(values("vdi-create", "type=u"), vec!["type=user"]);
        assert_eq!(values("vm-list", "params=uuid,name-l"), vec!["params=uuid,name-label"]);
        assert_eq!(values("vm-export", "filename=f"), vec!["filename=file.xva"]);
        assert_eq!(values("vm-list", "name-label="), vec!["name-label=web01", "name-label=db 01"]);
        assert_eq!(values("-pwf", ""), vec!["dir/", "file.xva"]);
        assert_eq!(values("vm-list -s", "sim"), vec!["sim://demo"]);
        assert_eq!(values("", "server=p"), vec!["server=pool1.example.com"]);
        assert_eq!(values("vm-shutdown", "force="), vec!["force=true", "force=false"]);
    }

    #[test]
    fn bash_gets_values_after_its_word_break_escaped() {
        let args = |line: &str, words: &[&str]| {
            let mut a: Vec<String> = vec!["bash".into(), (words.len() - 1).to_string(), "--line".into(), line.into()];
            a.push("--".into());
            a.extend(words.iter().map(|w| w.to_string()));
            run_with(&a, &mut |_| Box::new(Fake::default()))
        };
        assert_eq!(args("xe vm-start vm=", &["xe", "vm-start", "vm", "="]), "web01\taaaa-1\ndb\\ 01\tbbbb-2\n");
        assert_eq!(args("xe vm-start uuid=a", &["xe", "vm-start", "uuid", "=", "a"]), "aaaa-1\tweb01\n");
        let req: Vec<String> = ["zsh", "2", "--", "xe", "vm-start", "vm="].iter().map(|s| s.to_string()).collect();
        let zsh = run_with(&req, &mut |_| Box::new(Fake::default()));
        assert_eq!(zsh, "vm=web01\taaaa-1\nvm=db 01\tbbbb-2\n");
    }

    #[test]
    fn line_splitting_follows_shell_quotes() {
        assert_eq!(
            crate::argv::split_shell_line("xe vm-list name-label='a b' x"),
            vec!["xe", "vm-list", "name-label=a b", "x"]
        );
        assert_eq!(crate::argv::split_shell_line("xe vm-list "), vec!["xe", "vm-list", ""]);
        assert_eq!(crate::argv::split_shell_line(r#"xe "a\"b" c\ d"#), vec!["xe", "a\"b", "c d"]);
    }

    #[test]
    fn classes_of_commands_and_keys() {
        assert_eq!(command_class("vm-start").map(|c| c.cli), Some("vm"));
        assert_eq!(command_class("host-cpu-list").map(|c| c.cli), Some("host-cpu"));
        assert_eq!(uuid_class("vbd-create", "vdi-uuid").map(|c| c.cli), Some("vdi"));
        assert_eq!(uuid_class("vm-resume", "suspend-SR-uuid").map(|c| c.cli), Some("sr"));
        assert_eq!(uuid_class("snapshot-revert", "uuid").map(|c| c.cli), Some("snapshot"));
    }
}
