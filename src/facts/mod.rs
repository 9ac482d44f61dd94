//! Facts about the real `xe`, generated from its reference tables: command
//! names and parameters, generic classes, record fields, error labels.
//! `generated.rs` is written by `tests/facts_generated.rs` and checked in.

#[rustfmt::skip]
mod generated;
pub mod command_help;
pub mod error_text;

pub use generated::{CLASSES, COMMANDS, ERRORS, FIELDS};

/// Command flag bits, as in xe's command table.
pub mod flag {
    pub const HIDDEN: u16 = 1;
    pub const STANDARD: u16 = 2;
    pub const VM_SELECTORS: u16 = 4;
    pub const HOST_SELECTORS: u16 = 8;
    pub const SR_SELECTORS: u16 = 16;
    pub const NEVER_FORWARD: u16 = 32;
    pub const DEPRECATED: u16 = 64;
}

/// One explicit xe command.
#[derive(Debug)]
pub struct CommandFact {
    pub name: &'static str,
    pub reqd: &'static [&'static str],
    pub optn: &'static [&'static str],
    pub flags: u16,
}

/// Generated-command bits for a class (`<class>-list`, `-param-*`).
pub mod op {
    pub const LIST: u8 = 1;
    pub const PARAM_LIST: u8 = 2;
    pub const PARAM_GET: u8 = 4;
    pub const PARAM_SET: u8 = 8;
    pub const PARAM_ADD: u8 = 16;
    pub const PARAM_REMOVE: u8 = 32;
    pub const PARAM_CLEAR: u8 = 64;
}

/// A class that has generic commands.
#[derive(Debug)]
pub struct ClassFact {
    /// CLI name, e.g. `vm`, `host-cpu`.
    pub cli: &'static str,
    /// Wire class, e.g. `VM`, `host_cpu`.
    pub api: &'static str,
    /// Filters ANDed before the user's, e.g. `is-a-template=false`.
    pub default_filters: &'static [(&'static str, &'static str)],
    /// Default `params=` of `<class>-list`; empty means every non-hidden field.
    pub default_params: &'static [&'static str],
    /// The `get_all_records_where` expression used to list.
    pub server_expr: &'static str,
    /// Whether `<class>-list` shows in plain `xe help`.
    pub standard_list: bool,
    /// Which generated commands exist ([`op`] bits).
    pub ops: u8,
    /// CLI class whose record fields this class uses (`template`/`snapshot` use `vm`).
    pub record_class: &'static str,
}

/// Marker code of a record field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Ro,
    Rw,
    Mro,
    Mrw,
    Sro,
    Srw,
}

impl Access {
    /// The marker as xe prints it, e.g. `( RO)`.
    pub fn marker(self) -> &'static str {
        match self {
            Access::Ro => "( RO)",
            Access::Rw => "( RW)",
            Access::Mro => "(MRO)",
            Access::Mrw => "(MRW)",
            Access::Sro => "(SRO)",
            Access::Srw => "(SRW)",
        }
    }
}

/// Which API call backs a field update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setter {
    Set,
    AddToSet,
    RemoveFromSet,
    AddToMap,
    RemoveFromMap,
    SetInMap,
    SetMap,
    ClearMap,
}

/// One field of an xe record, in record order within its class.
#[derive(Debug)]
pub struct FieldFact {
    /// CLI class (record builder) the field belongs to.
    pub class: &'static str,
    pub name: &'static str,
    /// Where the value comes from: `VM.name_label`, `VM_metrics.memory_actual`,
    /// `VM.get_allowed_VBD_devices()`; several sources joined by `; `.
    pub api: &'static str,
    pub access: Access,
    pub hidden: bool,
    pub expensive: bool,
    pub setters: &'static [(Setter, &'static str)],
    pub deprecated: bool,
    pub case_insensitive: bool,
    /// How the value string is produced (reference table's `render` column).
    pub render: &'static str,
}

/// An API error code and the labels xe prints for its parameters.
#[derive(Debug)]
pub struct ErrorFact {
    pub code: &'static str,
    pub params: &'static [&'static str],
    /// Whether xe knows a description (otherwise it prints the raw code).
    pub described: bool,
}

/// Finds an explicit command.
pub fn command(name: &str) -> Option<&'static CommandFact> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// Finds a generic class by CLI name.
pub fn class(cli: &str) -> Option<&'static ClassFact> {
    CLASSES.iter().find(|c| c.cli == cli)
}

/// The record fields of a CLI record class, in record order.
pub fn fields(record_class: &str) -> impl Iterator<Item = &'static FieldFact> + '_ {
    FIELDS.iter().filter(move |f| f.class == record_class)
}

/// Finds an error's labels.
pub fn error(code: &str) -> Option<&'static ErrorFact> {
    ERRORS.iter().find(|e| e.code == code)
}
