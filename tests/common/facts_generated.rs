//! Regenerates `src/facts/generated.rs` from the xe CLI reference tables and
//! fails when the checked-in file is stale. The regeneration runs only where
//! `../shared/reference/xe-cli` exists beside the workspace; `XE_BLESS=1`
//! rewrites the file. The integrity tests below check the checked-in statics
//! and run everywhere.

// Tests and benchmarks own the terminal and read their switches (XE_BLESS...).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use xe::facts::{self, flag, op, Access, Setter, CLASSES, COMMANDS, ERRORS, FIELDS};

fn reference_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference/xe-cli"))
}

fn target_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/facts/generated.rs")
}

/// A TSV table: header names and rows of verbatim fields.
struct Table {
    name: &'static str,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn read(name: &'static str) -> Table {
        let path = reference_dir().join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut lines = text.lines();
        let header: Vec<String> = lines.next().expect("header line").split('\t').map(str::to_string).collect();
        let rows: Vec<Vec<String>> =
            lines.filter(|l| !l.is_empty()).map(|l| l.split('\t').map(str::to_string).collect::<Vec<_>>()).collect();
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r.len(), header.len(), "{name} row {}: {} columns, expected {}", i + 2, r.len(), header.len());
        }
        Table { name, header, rows }
    }

    fn col(&self, column: &str) -> usize {
        self.header.iter().position(|h| h == column).unwrap_or_else(|| panic!("{}: no column {column}", self.name))
    }
}

/// `a,b,c` -> `&["a", "b", "c"]`; empty -> `&[]`. Items are kept verbatim.
fn str_slice(list: &str) -> String {
    if list.is_empty() {
        return "&[]".to_string();
    }
    let items: Vec<String> = list.split(',').map(|s| format!("{s:?}")).collect();
    format!("&[{}]", items.join(", "))
}

/// Splits on commas that are not inside parentheses (`Deprecated(use x, y)`).
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn command_flags(flags: &str) -> String {
    if flags.is_empty() {
        return "0".to_string();
    }
    let bits: Vec<&str> = split_top_level(flags)
        .into_iter()
        .map(|f| match f {
            "Hidden" => "HIDDEN",
            "Standard" => "STANDARD",
            "Vm_selectors" => "VM_SELECTORS",
            "Host_selectors" => "HOST_SELECTORS",
            "Sr_selectors" => "SR_SELECTORS",
            "Neverforward" => "NEVER_FORWARD",
            f if f.starts_with("Deprecated(") => "DEPRECATED",
            f => panic!("unknown command flag {f:?}"),
        })
        .collect();
    bits.join(" | ")
}

fn class_ops(ops: &str) -> String {
    let bits: Vec<&str> = ops
        .split(',')
        .map(|o| match o {
            "list" => "LIST",
            "param-list" => "PARAM_LIST",
            "param-get" => "PARAM_GET",
            "param-set" => "PARAM_SET",
            "param-add" => "PARAM_ADD",
            "param-remove" => "PARAM_REMOVE",
            "param-clear" => "PARAM_CLEAR",
            o => panic!("unknown generated op {o:?}"),
        })
        .collect();
    bits.join(" | ")
}

fn yes(v: &str, what: &str) -> bool {
    match v {
        "y" => true,
        "n" => false,
        v => panic!("{what}: expected y/n, got {v:?}"),
    }
}

fn access(v: &str) -> &'static str {
    match v {
        "RO" => "Ro",
        "RW" => "Rw",
        "MRO" => "Mro",
        "MRW" => "Mrw",
        "SRO" => "Sro",
        "SRW" => "Srw",
        v => panic!("unknown access marker {v:?}"),
    }
}

fn setters(v: &str) -> String {
    if v.is_empty() {
        return "&[]".to_string();
    }
    let items: Vec<String> = v
        .split("; ")
        .map(|s| {
            let (kind, call) = s.split_once('=').unwrap_or_else(|| panic!("bad setter {s:?}"));
            let kind = match kind {
                "set" => "Set",
                "add_to_set" => "AddToSet",
                "remove_from_set" => "RemoveFromSet",
                "add_to_map" => "AddToMap",
                "remove_from_map" => "RemoveFromMap",
                "set_in_map" => "SetInMap",
                "set_map" => "SetMap",
                "clear_map" => "ClearMap",
                k => panic!("unknown setter kind {k:?}"),
            };
            format!("({kind}, {call:?})")
        })
        .collect();
    format!("&[{}]", items.join(", "))
}

fn render(commands: &Table, classes: &Table, fields: &Table, errors: &Table) -> String {
    let mut out = String::new();
    out.push_str("// @generated from the xe CLI reference tables (commands.tsv, generic-classes.tsv,\n");
    out.push_str("// record-fields.tsv, errors.tsv) by tests/common/facts_generated.rs. Facts only (names,\n");
    out.push_str("// parameters, flags, labels). Do not edit by hand:\n");
    out.push_str("// run `XE_BLESS=1 cargo test --test cli facts`.\n\n");
    out.push_str("use super::flag::*;\nuse super::op::*;\nuse super::Access::*;\nuse super::Setter::*;\n");
    out.push_str("use super::{Access, ClassFact, CommandFact, ErrorFact, FieldFact, Setter};\n\n");

    // Commands.
    let (name, reqd, optn, flags) = (
        commands.col("command"),
        commands.col("required_params"),
        commands.col("optional_params"),
        commands.col("flags"),
    );
    out.push_str("pub static COMMANDS: &[CommandFact] = &[\n");
    for r in &commands.rows {
        writeln!(
            out,
            "    CommandFact {{ name: {:?}, reqd: {}, optn: {}, flags: {} }},",
            r[name],
            str_slice(&r[reqd]),
            str_slice(&r[optn]),
            command_flags(&r[flags])
        )
        .unwrap();
    }
    out.push_str("];\n\n");

    // Record classes present in record-fields.tsv, and the class each record builder fills.
    let field_class = fields.col("cli_class");
    let record_classes: BTreeSet<&str> = fields.rows.iter().map(|r| r[field_class].as_str()).collect();
    let (cli, api, filters, params, expr, std_list, record_fn, ops) = (
        classes.col("cli_class"),
        classes.col("api_class"),
        classes.col("default_filters"),
        classes.col("default_list_params"),
        classes.col("list_server_expr"),
        classes.col("standard_list"),
        classes.col("record_fn"),
        classes.col("generated_ops_static"),
    );
    let mut by_record_fn: BTreeMap<&str, &str> = BTreeMap::new();
    for r in &classes.rows {
        if record_classes.contains(r[cli].as_str()) {
            let prev = by_record_fn.insert(r[record_fn].as_str(), r[cli].as_str());
            assert!(prev.is_none(), "record builder {} backs two record classes", r[record_fn]);
        }
    }
    out.push_str("pub static CLASSES: &[ClassFact] = &[\n");
    for r in &classes.rows {
        let default_filters: Vec<String> = if r[filters].is_empty() {
            Vec::new()
        } else {
            r[filters]
                .split(',')
                .map(|f| {
                    let (k, v) = f.split_once('=').unwrap_or_else(|| panic!("bad default filter {f:?}"));
                    format!("({k:?}, {v:?})")
                })
                .collect()
        };
        let default_params = if r[params] == "(all fields)" { "&[]".to_string() } else { str_slice(&r[params]) };
        let record_class = by_record_fn
            .get(r[record_fn].as_str())
            .unwrap_or_else(|| panic!("class {}: no record-fields rows for {}", r[cli], r[record_fn]));
        writeln!(
            out,
            "    ClassFact {{ cli: {:?}, api: {:?}, default_filters: &[{}], default_params: {default_params}, server_expr: {:?}, standard_list: {}, ops: {}, record_class: {record_class:?} }},",
            r[cli],
            r[api],
            default_filters.join(", "),
            r[expr],
            yes(&r[std_list], "standard_list"),
            class_ops(&r[ops]),
        )
        .unwrap();
    }
    out.push_str("];\n\n");

    // Record fields.
    let (fname, fapi, facc, fhid, fexp, fset, fdep, fci, frender, fpos) = (
        fields.col("cli_field"),
        fields.col("api_source"),
        fields.col("access"),
        fields.col("hidden"),
        fields.col("expensive"),
        fields.col("setter"),
        fields.col("deprecated"),
        fields.col("case_insensitive"),
        fields.col("render"),
        fields.col("pos"),
    );
    out.push_str("const H: u8 = 1; // hidden\nconst E: u8 = 2; // expensive\n");
    out.push_str("const D: u8 = 4; // deprecated\nconst I: u8 = 8; // case-insensitive\n\n");
    out.push_str("#[allow(clippy::too_many_arguments)]\n");
    out.push_str("const fn f(\n    class: &'static str,\n    name: &'static str,\n    api: &'static str,\n");
    out.push_str("    access: Access,\n    bits: u8,\n    setters: &'static [(Setter, &'static str)],\n");
    out.push_str("    render: &'static str,\n) -> FieldFact {\n");
    out.push_str("    FieldFact {\n        class,\n        name,\n        api,\n        access,\n");
    out.push_str("        hidden: bits & H != 0,\n        expensive: bits & E != 0,\n        setters,\n");
    out.push_str(
        "        deprecated: bits & D != 0,\n        case_insensitive: bits & I != 0,\n        render,\n    }\n}\n\n",
    );
    out.push_str("/// `f(class, name, api, access, H|E|D|I bits, setters, render)`, in record order.\n");
    out.push_str("pub static FIELDS: &[FieldFact] = &[\n");
    let mut last: Option<(&str, usize)> = None;
    let mut seen_classes: BTreeSet<&str> = BTreeSet::new();
    for r in &fields.rows {
        let class = r[field_class].as_str();
        let pos: usize = r[fpos].parse().unwrap_or_else(|_| panic!("bad pos {:?}", r[fpos]));
        match last {
            Some((c, p)) if c == class => assert_eq!(pos, p + 1, "{class}.{}: pos out of order", r[fname]),
            _ => {
                assert!(seen_classes.insert(class), "record class {class} is not contiguous");
                assert_eq!(pos, 1, "{class}: first pos is not 1");
            }
        }
        last = Some((class, pos));
        let mut bits = Vec::new();
        for (col, letter, what) in
            [(fhid, "H", "hidden"), (fexp, "E", "expensive"), (fdep, "D", "deprecated"), (fci, "I", "ci")]
        {
            if yes(&r[col], what) {
                bits.push(letter);
            }
        }
        let bits = if bits.is_empty() { "0".to_string() } else { bits.join(" | ") };
        writeln!(
            out,
            "    f({class:?}, {:?}, {:?}, {}, {bits}, {}, {:?}),",
            r[fname],
            r[fapi],
            access(&r[facc]),
            setters(&r[fset]),
            r[frender]
        )
        .unwrap();
    }
    out.push_str("];\n\n");

    // Errors.
    let (code, eparams, source) = (errors.col("code"), errors.col("params"), errors.col("source"));
    out.push_str("pub static ERRORS: &[ErrorFact] = &[\n");
    for r in &errors.rows {
        let described = match r[source].as_str() {
            "datamodel_errors" => true,
            "api_errors_only" => false,
            s => panic!("unknown error source {s:?}"),
        };
        writeln!(
            out,
            "    ErrorFact {{ code: {:?}, params: {}, described: {described} }},",
            r[code],
            str_slice(&r[eparams])
        )
        .unwrap();
    }
    out.push_str("];\n");
    out
}

#[test]
fn generated_facts_are_fresh() {
    let dir = reference_dir();
    if !dir.is_dir() {
        eprintln!("skipping: {} not found", dir.display());
        return;
    }
    let want = render(
        &Table::read("commands.tsv"),
        &Table::read("generic-classes.tsv"),
        &Table::read("record-fields.tsv"),
        &Table::read("errors.tsv"),
    );
    let target = target_path();
    let have = std::fs::read_to_string(&target).unwrap_or_default();
    if have != want {
        if std::env::var_os("XE_BLESS").is_some() {
            std::fs::write(&target, want).unwrap();
            return;
        }
        panic!("{} is stale; regenerate it with `XE_BLESS=1 cargo test --test cli facts`", target.display());
    }
}

// Integrity of the checked-in statics (no reference files needed).

const GENERATED_OPS: [(u8, &str); 7] = [
    (op::LIST, "list"),
    (op::PARAM_LIST, "param-list"),
    (op::PARAM_GET, "param-get"),
    (op::PARAM_SET, "param-set"),
    (op::PARAM_ADD, "param-add"),
    (op::PARAM_REMOVE, "param-remove"),
    (op::PARAM_CLEAR, "param-clear"),
];

#[test]
fn counts_match_upstream_stats() {
    assert_eq!(COMMANDS.len(), 387, "explicit commands");
    assert_eq!(COMMANDS.iter().filter(|c| c.flags & flag::HIDDEN != 0).count(), 29, "hidden commands");
    assert_eq!(CLASSES.len(), 55, "generic classes");
    assert_eq!(FIELDS.len(), 775, "record fields");
    assert_eq!(ERRORS.len(), 635, "error codes");
    assert_eq!(ERRORS.iter().filter(|e| e.described).count(), 603, "datamodel error codes");
    let flag_count = |bit: u16| COMMANDS.iter().filter(|c| c.flags & bit != 0).count();
    assert_eq!(flag_count(flag::DEPRECATED), 5);
    assert_eq!(flag_count(flag::HOST_SELECTORS), 39);
    assert_eq!(flag_count(flag::NEVER_FORWARD), 18);
    assert_eq!(flag_count(flag::SR_SELECTORS), 4);
    assert_eq!(flag_count(flag::STANDARD), 41);
    assert_eq!(flag_count(flag::VM_SELECTORS), 51);
    let per_op: Vec<usize> =
        GENERATED_OPS.iter().map(|(bit, _)| CLASSES.iter().filter(|c| c.ops & bit != 0).count()).collect();
    assert_eq!(per_op, [55, 55, 55, 33, 25, 25, 40], "generated commands per op");
    assert_eq!(facts::fields("vm").count(), 109, "vm record fields");
}

#[test]
fn help_all_lists_646_distinct_names() {
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut total = 0;
    for c in COMMANDS.iter().filter(|c| c.flags & flag::HIDDEN == 0) {
        names.insert(c.name.to_string());
        total += 1;
    }
    for class in CLASSES {
        for (bit, suffix) in GENERATED_OPS {
            if class.ops & bit != 0 {
                names.insert(format!("{}-{suffix}", class.cli));
                total += 1;
            }
        }
    }
    assert_eq!(total, 646);
    assert_eq!(names.len(), 646, "explicit and generated command names clash");
    let plain = COMMANDS.iter().filter(|c| c.flags & flag::STANDARD != 0 && c.flags & flag::HIDDEN == 0).count()
        + CLASSES.iter().filter(|c| c.standard_list).count();
    assert_eq!(plain, 43, "commands listed by plain `xe help`");
}

#[test]
fn command_names_are_unique() {
    let mut seen = BTreeSet::new();
    for c in COMMANDS {
        assert!(seen.insert(c.name), "duplicate command {}", c.name);
        assert!(!c.name.is_empty() && !c.name.contains(char::is_whitespace), "bad command name {:?}", c.name);
        for p in c.reqd.iter().chain(c.optn) {
            assert!(!p.is_empty(), "{}: empty parameter name", c.name);
        }
    }
}

#[test]
fn class_names_are_unique_and_records_exist() {
    let mut seen = BTreeSet::new();
    for c in CLASSES {
        assert!(seen.insert(c.cli), "duplicate class {}", c.cli);
        assert!(
            facts::fields(c.record_class).next().is_some(),
            "{}: record class {} has no fields",
            c.cli,
            c.record_class
        );
        assert_eq!(c.ops & (op::LIST | op::PARAM_LIST | op::PARAM_GET), op::LIST | op::PARAM_LIST | op::PARAM_GET);
    }
    for (cli, record) in [("template", "vm"), ("snapshot", "vm"), ("network", "network"), ("host-cpu", "host-cpu")] {
        assert_eq!(facts::class(cli).unwrap().record_class, record);
    }
}

/// Default `params=` names upstream lists that match no field of the record
/// (stale or misspelt names); kept verbatim and silently dropped at runtime.
const UNMATCHED_DEFAULT_PARAMS: &[(&str, &str)] = &[
    ("snapshot", "snapshot_of"),
    ("snapshot", "snapshot_time"),
    ("host-crashdump", "host"),
    ("role", "subroles"),
    ("pvs-proxy", "cache-sr-uuid"),
    ("network-sriov", "physical-pif"),
    ("network-sriov", "logical-pif"),
    ("network-sriov", "configuration-mode"),
    ("cluster-host", "pif"),
    ("repository", "up-to-date"),
    ("vtpm", "profile"),
];

#[test]
fn default_params_name_record_fields() {
    let mut unmatched = Vec::new();
    for c in CLASSES {
        for p in c.default_params {
            if !facts::fields(c.record_class).any(|f| f.name == *p) {
                unmatched.push((c.cli, *p));
            }
        }
        for (k, _) in c.default_filters {
            assert!(facts::fields(c.record_class).any(|f| f.name == *k), "{}: default filter {k}", c.cli);
        }
    }
    assert_eq!(unmatched, UNMATCHED_DEFAULT_PARAMS, "default params that match no record field");
}

#[test]
fn generated_ops_follow_the_runtime_rule() {
    for c in CLASSES {
        let visible: Vec<_> = facts::fields(c.record_class).filter(|f| !f.hidden).collect();
        let has = |kinds: &[Setter]| visible.iter().any(|f| f.setters.iter().any(|(k, _)| kinds.contains(k)));
        let mut want = op::LIST | op::PARAM_LIST | op::PARAM_GET;
        if has(&[Setter::Set, Setter::AddToMap, Setter::SetInMap, Setter::SetMap]) {
            want |= op::PARAM_SET;
        }
        if has(&[Setter::AddToSet, Setter::AddToMap]) {
            want |= op::PARAM_ADD | op::PARAM_REMOVE;
        }
        let collection =
            visible.iter().any(|f| matches!(f.access, Access::Mro | Access::Mrw | Access::Sro | Access::Srw));
        if has(&[Setter::Set]) || collection {
            want |= op::PARAM_CLEAR;
        }
        assert_eq!(c.ops, want, "{}: generated ops", c.cli);
    }
}

#[test]
fn fields_are_grouped_and_unique_per_class() {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut names: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut current = "";
    for f in FIELDS {
        if f.class != current {
            assert!(done.insert(f.class), "fields of {} are not contiguous", f.class);
            current = f.class;
        }
        assert!(names.insert((f.class, f.name)), "duplicate field {}.{}", f.class, f.name);
        assert!(!f.api.is_empty() && !f.render.is_empty(), "{}.{}: empty api/render", f.class, f.name);
    }
    assert_eq!(done.len(), 54, "record builders");
    assert_eq!(FIELDS[0].name, "uuid");
}

#[test]
fn error_codes_are_unique() {
    let mut seen = BTreeSet::new();
    for e in ERRORS {
        assert!(seen.insert(e.code), "duplicate error code {}", e.code);
        assert!(e.code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'), "{}", e.code);
    }
    // Labels are kept verbatim, including spaces and trailing spaces.
    assert_eq!(facts::error("HOST_IS_SLAVE").unwrap().params, ["Master IP address"]);
    assert_eq!(facts::error("VDI_TOO_SMALL").unwrap().params, ["vdi", "minimum size"]);
    assert_eq!(
        facts::error("UPDATE_PRECHECK_FAILED_OUT_OF_SPACE").unwrap().params,
        ["update", "available_space", "required_space "]
    );
}
