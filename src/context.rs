//! The [`Context`] every command gets: parameters, the printer, and a lazily
//! opened session with a per-command cache of records fetched by class.

use crate::argv::parse_bool;
use crate::config::Settings;
use crate::connect::Connector;
use crate::error::{CliError, CmdResult};
use crate::output::Printer;
use crate::render::RefLookup;
use std::collections::{HashMap, HashSet};
use xenapi::wire::jsonrpc::RawRecords;
use xenapi::{Value, NULL_REF};

/// Keys that are never filters or fields (xe's standard keys, plus ours).
pub const STANDARD_KEYS: &[&str] = &[
    "server",
    "password",
    "port",
    "username",
    "minimal",
    "force",
    "multiple",
    "all",
    "message-priority",
    "trace",
    "params",
    "json",
    "table",
    "insecure",
    "progress",
    "debug",
    "xmlrpc",
];

/// Whether a parameter key is one of the standard keys (or `database:*`).
pub fn is_standard_key(k: &str) -> bool {
    STANDARD_KEYS.contains(&k) || k.starts_with("database:")
}

/// Reads a boolean command parameter the way xe does.
pub fn xe_bool(name: &str, v: &str) -> CmdResult<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Ok(true),
        "false" | "f" | "no" | "n" | "0" => Ok(false),
        _ => Err(CliError::failure(format!(
            "Failed to parse parameter '{name}': Expected 'true','t','yes','y','1','false','f','no','n','0' got {v}"
        ))),
    }
}

/// A command's parameters; the first occurrence of a key wins.
#[derive(Debug, Clone, Default)]
pub struct Params {
    items: Vec<(String, String)>,
}

impl Params {
    pub fn new(items: Vec<(String, String)>) -> Params {
        Params { items }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.items.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn has(&self, key: &str) -> bool {
        self.items.iter().any(|(k, _)| k == key)
    }

    /// A boolean parameter, absent meaning false.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).and_then(parse_bool).unwrap_or(false)
    }

    /// Puts `key=value` first, so it wins over any later occurrence.
    pub fn set(&mut self, key: &str, value: &str) {
        self.items.insert(0, (key.to_string(), value.to_string()));
    }

    /// The value of whichever of `keys` comes first on the command line.
    pub fn first_of(&self, keys: &[&str]) -> Option<&str> {
        self.items.iter().find(|(k, _)| keys.contains(&k.as_str())).map(|(_, v)| v.as_str())
    }

    /// A boolean parameter as xe reads one (`true t yes y 1` / `false f no n 0`,
    /// any case); anything else is an error naming the parameter.
    pub fn bool(&self, key: &str, default: bool) -> CmdResult<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => xe_bool(key, v),
        }
    }

    /// A required parameter.
    pub fn required(&self, key: &str) -> CmdResult<&str> {
        self.get(key).ok_or_else(|| CliError::MissingParam(key.to_string()))
    }

    /// Every value of a parameter given several times, in the order given.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.items.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// Every parameter, first occurrences only, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut seen: Vec<&str> = Vec::new();
        self.items.iter().filter_map(move |(k, v)| {
            if seen.contains(&k.as_str()) {
                None
            } else {
                seen.push(k);
                Some((k.as_str(), v.as_str()))
            }
        })
    }

    /// Entries of a map parameter: `name:key=value` (and legacy `name-key=value`).
    pub fn map(&self, name: &str) -> Vec<(String, String)> {
        self.iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(name)?;
                let mut chars = rest.chars();
                let sep = chars.next()?;
                let key = chars.as_str();
                ((sep == ':' || sep == '-') && !key.is_empty()).then(|| (key.to_string(), v.to_string()))
            })
            .collect()
    }
}

/// Error parameters shown at most (a server may send any number).
const MAX_ERROR_PARAMS: usize = 64;

/// Longest error parameter shown whole, in bytes.
const MAX_ERROR_PARAM_LEN: usize = 1024;

/// An error parameter as shown: one longer than 1 KiB is cut, with a
/// marker saying how long it was, so one odd error stays readable.
pub fn cut_param(p: &str) -> String {
    if p.len() <= MAX_ERROR_PARAM_LEN {
        return p.to_string();
    }
    let mut end = MAX_ERROR_PARAM_LEN;
    while !p.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... [cut: {} bytes in all]", &p[..end], p.len())
}

/// Everything a command needs.
pub struct Context {
    pub settings: Settings,
    pub printer: Printer,
    pub params: Params,
    pub command: String,
    connector: Connector,
    /// Records fetched with `<Class>.get_all_records`, by class.
    all: HashMap<String, HashMap<String, Value>>,
    /// Uuid and name-label by ref of every object of a class, when known
    /// without its records (see [`Context::know_all`]).
    known: HashMap<String, HashMap<String, Names>>,
    /// The classes in `all` whose records hold only some members, and which
    /// (see [`Context::prefetch`]); anything wanting others fetches them whole.
    partial: HashMap<String, HashSet<String>>,
}

/// An object's uuid and name-label, as far as its record has them.
type Names = (Option<String>, Option<String>);

impl Context {
    pub fn new(settings: Settings, printer: Printer, params: Params, command: String) -> Context {
        let connector = Connector::new(settings.clone());
        Context {
            settings,
            printer,
            params,
            command,
            connector,
            all: HashMap::new(),
            known: HashMap::new(),
            partial: HashMap::new(),
        }
    }

    /// Makes the command's session local to the host it reaches
    /// (`session.slave_local_login_with_password`), for the commands that
    /// run on a pool member itself; before any call.
    pub fn use_local_session(&mut self) {
        self.connector.use_local_session();
    }

    /// The server (address or name) the command talks to.
    pub fn server(&self) -> String {
        self.connector.server()
    }

    /// Calls a XenAPI method with the session prepended.
    pub fn call(&mut self, method: &str, args: Vec<Value>) -> CmdResult<Value> {
        match self.connector.call(&mut self.printer, method, args) {
            Ok(v) => Ok(v),
            Err(crate::connect::CallError::Api(code, params)) => Err(self.api_error(&code, params)),
            Err(crate::connect::CallError::Cli(e)) => Err(e),
        }
    }

    /// Calls a method that the server may hold for up to `wait` before it
    /// answers (`event.from`): the read timeout counts from then on.
    pub fn call_waiting(&mut self, method: &str, args: Vec<Value>, wait: std::time::Duration) -> CmdResult<Value> {
        match self.connector.call_waiting(&mut self.printer, method, args, wait) {
            Ok(v) => Ok(v),
            Err(crate::connect::CallError::Api(code, params)) => Err(self.api_error(&code, params)),
            Err(crate::connect::CallError::Cli(e)) => Err(e),
        }
    }

    /// Calls a records method keeping only the record members `keep` accepts.
    pub fn call_projected(&mut self, method: &str, args: Vec<Value>, keep: &dyn Fn(&str) -> bool) -> CmdResult<Value> {
        match self.connector.call_projected(&mut self.printer, method, args, keep) {
            Ok(v) => Ok(v),
            Err(crate::connect::CallError::Api(code, params)) => Err(self.api_error(&code, params)),
            Err(crate::connect::CallError::Cli(e)) => Err(e),
        }
    }

    /// Calls a records method keeping the records (their members `keep`
    /// accepts) as text, each decoded when used.
    pub fn call_records(
        &mut self,
        method: &str,
        args: Vec<Value>,
        keep: &dyn Fn(&str) -> bool,
    ) -> CmdResult<RawRecords> {
        match self.connector.call_records(&mut self.printer, method, args, keep) {
            Ok(v) => Ok(v),
            Err(crate::connect::CallError::Api(code, params)) => Err(self.api_error(&code, params)),
            Err(crate::connect::CallError::Cli(e)) => Err(e),
        }
    }

    /// Calls an `Async.` method and waits for its task, showing progress on a terminal.
    pub fn call_async(&mut self, method: &str, args: Vec<Value>) -> CmdResult<Value> {
        match self.connector.call_async(&mut self.printer, method, args) {
            Ok(v) => Ok(v),
            Err(crate::connect::CallError::Api(code, params)) => Err(self.api_error(&code, params)),
            Err(crate::connect::CallError::Cli(e)) => Err(e),
        }
    }

    /// Calls a method whose answer is a map (`get_all_records`, `get_record`):
    /// its members; any other answer is an error naming the method.
    pub fn call_map(&mut self, method: &str, args: Vec<Value>) -> CmdResult<Vec<(String, Value)>> {
        match self.call(method, args)? {
            Value::Struct(m) => Ok(m),
            other => Err(self.wrong_answer(method, "a map", &other)),
        }
    }

    /// Calls a method whose answer is a record (`get_record`), checked to be a map.
    pub fn call_record(&mut self, method: &str, args: Vec<Value>) -> CmdResult<Value> {
        self.call_map(method, args).map(Value::Struct)
    }

    /// Calls a method whose answer is a list of refs (`get_all`, `get_by_name_label`).
    pub fn call_refs(&mut self, method: &str, args: Vec<Value>) -> CmdResult<Vec<String>> {
        match self.call(method, args)? {
            Value::Array(items) if items.iter().all(|i| matches!(i, Value::String(_))) => {
                Ok(items.into_iter().filter_map(|i| if let Value::String(s) = i { Some(s) } else { None }).collect())
            }
            other => Err(self.wrong_answer(method, "a list of refs", &other)),
        }
    }

    /// Calls a method whose answer is a string (`get_by_uuid`, `get_uuid`).
    pub fn call_string(&mut self, method: &str, args: Vec<Value>) -> CmdResult<String> {
        match self.call(method, args)? {
            Value::String(s) => Ok(s),
            other => Err(self.wrong_answer(method, "a string", &other)),
        }
    }

    /// The error for an answer of the wrong type.
    pub fn wrong_answer(&self, method: &str, expected: &str, got: &Value) -> CliError {
        crate::connect::wrong_answer(&self.connector.server(), method, expected, got)
    }

    /// The session's connection and ref, for the data transfers of [`crate::commands::transfer`].
    pub fn data_link(&mut self) -> CmdResult<(xenapi::client::Connection, String)> {
        self.connector.data_link(&mut self.printer)
    }

    /// Waits for a task (destroying it) and returns its result or its error.
    pub fn wait_task(&mut self, task: &str) -> CmdResult<Value> {
        match self.connector.wait_task(&mut self.printer, task) {
            Ok(v) => Ok(v),
            Err(e) => Err(self.describe(e)),
        }
    }

    /// A worker handle on this command's session, for `--multiple`.
    pub fn worker(&mut self) -> CmdResult<crate::connect::Worker> {
        self.connector.worker(&mut self.printer)
    }

    /// Turns a raw call error into what the user sees.
    pub fn describe(&mut self, e: crate::connect::CallError) -> CliError {
        match e {
            crate::connect::CallError::Api(code, params) => self.api_error(&code, params),
            crate::connect::CallError::Cli(e) => e,
        }
    }

    /// Logs out if a session was opened.
    pub fn finish(&mut self) {
        self.connector.logout();
    }

    /// Builds the printable form of an API error: refs shown as `uuid (name)`.
    pub fn api_error(&mut self, code: &str, params: Vec<String>) -> CliError {
        let labels = crate::facts::error(code).map(|f| f.params).unwrap_or(&[]);
        let mut shown = Vec::with_capacity(params.len().min(MAX_ERROR_PARAMS + 1));
        let extra = params.len().saturating_sub(MAX_ERROR_PARAMS);
        let params: Vec<String> = params.into_iter().take(MAX_ERROR_PARAMS).map(|p| cut_param(&p)).collect();
        for (i, p) in params.iter().enumerate() {
            if p.starts_with("OpaqueRef:") && p != NULL_REF {
                let hint = labels.get(i).copied().unwrap_or("");
                shown.push(self.describe_ref(hint, p).unwrap_or_else(|| p.clone()));
            } else {
                shown.push(p.clone());
            }
        }
        if extra > 0 {
            shown.push(format!("({extra} more parameters not shown)"));
        }
        CliError::Api { code: code.to_string(), params: shown }
    }

    /// `uuid (name)` for a ref, trying the class the label suggests first.
    fn describe_ref(&mut self, hint: &str, r: &str) -> Option<String> {
        const CLASSES: &[&str] = &[
            "VM", "host", "SR", "VDI", "VBD", "VIF", "network", "PIF", "PBD", "pool", "task", "Bond", "VLAN", "SM",
            "console",
        ];
        // Labels that name a class of their own (tried only when named).
        let named = match hint.trim() {
            "update" => Some("pool_update"),
            "patch" => Some("pool_patch"),
            _ => None,
        };
        let hinted = CLASSES.iter().find(|c| c.eq_ignore_ascii_case(hint.trim()));
        let order: Vec<&str> = named
            .into_iter()
            .chain(hinted.copied())
            .chain(CLASSES.iter().filter(|c| Some(*c) != hinted).copied())
            .collect();
        for class in order {
            let Ok(uuid) = self.connector.call(&mut self.printer, &format!("{class}.get_uuid"), vec![Value::str(r)])
            else {
                continue;
            };
            let uuid = uuid.as_str().unwrap_or("").to_string();
            let name = self
                .connector
                .call(&mut self.printer, &format!("{class}.get_name_label"), vec![Value::str(r)])
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            return Some(if name.is_empty() { uuid } else { format!("{uuid} ({name})") });
        }
        None
    }

    /// All records of a class, fetched once per command.
    pub fn all_records(&mut self, class: &str) -> CmdResult<&HashMap<String, Value>> {
        if !self.all.contains_key(class) || self.partial.contains_key(class) {
            let map = self.call_map(&format!("{class}.get_all_records"), vec![])?.into_iter().collect();
            self.all.insert(class.to_string(), map);
            self.partial.remove(class);
        }
        Ok(&self.all[class])
    }

    /// Fetches the records of a class once, keeping only the members
    /// `members` names besides the uuid and name-label: for what a listing
    /// renders of related objects (a large pool's VBDs, VDIs and metrics
    /// whole cost more than the listing itself). Whatever wants other
    /// members gets the class fetched whole ([`Context::all_records`],
    /// [`Context::record`], [`Context::record_member`]).
    pub fn prefetch(&mut self, class: &str, members: &[String]) -> CmdResult<()> {
        if self.all.contains_key(class) {
            return Ok(());
        }
        let keep: HashSet<String> =
            members.iter().cloned().chain(["uuid".to_string(), "name_label".to_string()]).collect();
        let method = format!("{class}.get_all_records");
        let map = match self.call_projected(&method, vec![], &|k: &str| keep.contains(k))? {
            Value::Struct(m) => m.into_iter().collect(),
            other => return Err(self.wrong_answer(&method, "a map of records", &other)),
        };
        self.all.insert(class.to_string(), map);
        self.partial.insert(class.to_string(), keep);
        Ok(())
    }

    /// The cached records of a class if they hold `member` (or every member, for `None`),
    /// fetching the class whole when they do not.
    fn cached(&mut self, class: &str, member: Option<&str>) -> Option<&HashMap<String, Value>> {
        let enough = match (self.partial.get(class), member) {
            (None, _) => true,
            (Some(keep), Some(m)) => keep.contains(m),
            (Some(_), None) => false,
        };
        if !enough {
            // On failure the partial records stay, and are not used for this.
            let _ = self.all_records(class);
            if self.partial.contains_key(class) {
                return None;
            }
        }
        self.all.get(class)
    }

    /// One record by ref, from the cache when present.
    pub fn record(&mut self, class: &str, r: &str) -> Option<Value> {
        if r == NULL_REF || r.is_empty() {
            return None;
        }
        if let Some(m) = self.cached(class, None) {
            return m.get(r).cloned();
        }
        // A lookup for display: a failure (or a broken answer) shows as missing.
        self.call_record(&format!("{class}.get_record"), vec![Value::str(r)]).ok()
    }

    /// One member of a record by ref (what `record(class, r)?.get(name)` gives),
    /// copying only that member out of the cache.
    pub fn record_member(&mut self, class: &str, r: &str, name: &str) -> Option<Value> {
        if r == NULL_REF || r.is_empty() {
            return None;
        }
        if let Some(m) = self.cached(class, Some(name)) {
            return m.get(r).and_then(|rec| rec.get(name)).cloned();
        }
        match self.call(&format!("{class}.get_record"), vec![Value::str(r)]).ok()? {
            Value::Struct(members) => members.into_iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Records what rendering refs to objects of `class` needs (uuid and
    /// name-label by ref) from a list of *all* its objects already fetched,
    /// e.g. by a `<class>-list` whose own fields refer to its class: the
    /// lookups then need no `<class>.get_all_records`. Does nothing once the
    /// class's records are cached.
    pub fn know_all(&mut self, class: &str, objects: &[(String, Value)]) {
        self.know_all_of(class, objects.iter().map(|(r, rec)| (r.as_str(), rec)));
    }

    /// Like [`Context::know_all`] for records kept as text.
    pub fn know_all_records(&mut self, class: &str, objects: &mut RawRecords) {
        let names = |k: &str| k == "uuid" || k == "name_label";
        let mut recs: Vec<(String, Value)> = Vec::with_capacity(objects.len());
        objects.each_record(Some(&names), |r, rec| recs.push((r.to_string(), rec)));
        self.know_all(class, &recs);
    }

    fn know_all_of<'a>(&mut self, class: &str, objects: impl Iterator<Item = (&'a str, &'a Value)>) {
        if self.all.contains_key(class) {
            return;
        }
        let names = objects
            .map(|(r, rec)| {
                let text = |k: &str| rec.get(k).and_then(Value::as_str).map(str::to_string);
                (r.to_string(), (text("uuid"), text("name_label")))
            })
            .collect();
        self.known.insert(class.to_string(), names);
    }

    /// Looks up the object whose uuid the required parameter `key` gives.
    pub fn lookup_param(&mut self, class: &str, key: &str) -> CmdResult<String> {
        let uuid = self.params.required(key)?.to_string();
        self.lookup_uuid(class, &uuid)
    }

    /// Looks an object up by uuid; unknown uuids give xe's UUID_INVALID error.
    pub fn lookup_uuid(&mut self, class: &str, uuid: &str) -> CmdResult<String> {
        self.call_string(&format!("{class}.get_by_uuid"), vec![Value::str(uuid)])
    }
}

impl crate::connect::Api for Context {
    fn call(&mut self, method: &str, args: Vec<Value>) -> Result<Value, crate::connect::CallError> {
        self.connector.call(&mut self.printer, method, args)
    }

    fn call_async(&mut self, method: &str, args: Vec<Value>) -> Result<Value, crate::connect::CallError> {
        self.connector.call_async(&mut self.printer, method, args)
    }

    fn server(&self) -> String {
        self.connector.server()
    }
}

impl RefLookup for Context {
    fn uuid(&mut self, class: &str, r: &str) -> Option<String> {
        if r == NULL_REF || r.is_empty() {
            return None;
        }
        if let Some(known) = self.known.get(class) {
            return known.get(r).and_then(|(uuid, _)| uuid.clone());
        }
        // Records fetched in part hold the uuid.
        let recs = if self.all.contains_key(class) { &self.all[class] } else { self.all_records(class).ok()? };
        recs.get(r).and_then(|rec| rec.get("uuid")).and_then(Value::as_str).map(str::to_string)
    }

    fn name_label(&mut self, class: &str, r: &str) -> Option<String> {
        if r == NULL_REF || r.is_empty() {
            return None;
        }
        if let Some(known) = self.known.get(class) {
            return known.get(r).and_then(|(_, name)| name.clone());
        }
        // Records fetched in part hold the name-label.
        let recs = if self.all.contains_key(class) { &self.all[class] } else { self.all_records(class).ok()? };
        recs.get(r).and_then(|rec| rec.get("name_label")).and_then(Value::as_str).map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_error_parameters_are_cut() {
        assert_eq!(cut_param("short"), "short");
        let long = "é".repeat(700);
        let cut = cut_param(&long);
        assert!(cut.ends_with("... [cut: 1400 bytes in all]"), "{cut}");
        assert!(cut.len() < 1100);
    }

    #[test]
    fn strict_booleans_take_xe_spellings_only() {
        let p = Params::new(vec![("a".into(), "Yes".into()), ("b".into(), "0".into()), ("c".into(), "on".into())]);
        assert_eq!(p.bool("a", false), Ok(true));
        assert_eq!(p.bool("b", true), Ok(false));
        assert_eq!(p.bool("absent", true), Ok(true));
        assert_eq!(
            p.bool("c", false),
            Err(CliError::failure(
                "Failed to parse parameter 'c': Expected 'true','t','yes','y','1','false','f','no','n','0' got on"
            ))
        );
    }

    #[test]
    fn first_occurrence_wins_and_maps_parse() {
        let p = Params::new(vec![
            ("a".into(), "1".into()),
            ("a".into(), "2".into()),
            ("device-config:server".into(), "s".into()),
            ("device-config-serverpath".into(), "/p".into()),
        ]);
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.iter().count(), 3);
        assert_eq!(
            p.map("device-config"),
            vec![("server".to_string(), "s".to_string()), ("serverpath".to_string(), "/p".to_string())]
        );
    }
}
