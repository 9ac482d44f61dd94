//! xe's argument syntax: global options anywhere on the line (`-s host`,
//! `-pw secret`, `server=host`, `--nossl`), then a command name and its
//! `key=value`, `map:key=value`, `--flag` and bare-word parameters.
//!
//! A [`clap::Command`] is the parser of record. xe's grammar is older than
//! clap's, so [`normalise`] first rewrites the line token by token into
//! spellings clap reads without ambiguity: `-s host` and `server=host` become
//! `--server=host`, `-p 80` becomes `--port=80` (checked by clap, a bad value
//! is xe's bad-port case) and `port=80` `--port-setting=80` (checked later by
//! `config`, as xe does), every other `--name` becomes `--flag=name`; a
//! single-dash word clap does not know is left for clap to refuse, and so is
//! a `key=value` before the command. [`command`] then builds the parser
//! lazily: the root with the connection options, plus only the subcommand
//! named on the line, which takes the same options (they may follow the
//! command) and its parameters as a trailing list. Every option is a
//! last-one-wins setting, and clap's indices put flags and `key=value`
//! parameters back in line order, where the first occurrence of a key wins.
//! [`tree`] builds the whole command list, for clap's suggestions.
//!
//! This module only reads the line; [`crate::config`] decides precedence.

use clap::{Arg, ArgAction, ArgMatches};

/// Connection options as given by one source (command line, `XE_EXTRA_ARGS`, `~/.xe`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Globals {
    pub server: Option<String>,
    pub port: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub passwordfile: Option<String>,
    pub nossl: Option<bool>,
    pub debug: Option<bool>,
    pub debug_on_fail: Option<bool>,
    pub traceparent: Option<String>,
    pub insecure: Option<bool>,
    /// `--timeout N`: seconds, checked by `config`.
    pub timeout: Option<String>,
}

impl Globals {
    /// Lays `other` over `self`: options `other` sets win.
    pub fn overlay(&mut self, other: Globals) {
        macro_rules! take {
            ($($f:ident),*) => { $( if other.$f.is_some() { self.$f = other.$f; } )* };
        }
        take!(
            server,
            port,
            username,
            password,
            passwordfile,
            nossl,
            debug,
            debug_on_fail,
            traceparent,
            insecure,
            timeout
        );
    }

    /// Applies a `key=value` option; returns false when `key` is not a connection option.
    pub fn set(&mut self, key: &str, value: &str) -> bool {
        let v = Some(value.to_string());
        match key {
            "server" => self.server = v,
            "port" => self.port = v,
            "username" => self.username = v,
            "password" => self.password = v,
            "passwordfile" => self.passwordfile = v,
            "nossl" => self.nossl = Some(parse_bool(value).unwrap_or(false)),
            "debug" => self.debug = Some(parse_bool(value).unwrap_or(false)),
            "debugonfail" => self.debug_on_fail = Some(parse_bool(value).unwrap_or(false)),
            "traceparent" => self.traceparent = v,
            _ => return false,
        }
        true
    }
}

/// The parsed command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    pub command: Option<String>,
    /// Parameters in the order given; the first occurrence of a key wins.
    pub params: Vec<(String, String)>,
    pub globals: Globals,
    pub help: bool,
    pub version: bool,
}

/// Why a command line could not be parsed (xe prints `Syntax error: `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    Syntax,
    /// A bad `-p` value: xe prints a message and the usage, and exits 0.
    BadPort(String),
}

/// Accepts xe's spellings of booleans, case-insensitively.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" | "on" => Some(true),
        "false" | "f" | "no" | "n" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// Clap's ids (and long names) for the options. Users never type these
/// spellings: [`normalise`] writes them.
mod id {
    pub const SERVER: &str = "server";
    /// `-p`, checked when read.
    pub const PORT: &str = "port";
    /// `port=`, checked by `config`.
    pub const PORT_SETTING: &str = "port-setting";
    pub const USERNAME: &str = "username";
    pub const PASSWORD: &str = "password";
    pub const PASSWORDFILE: &str = "passwordfile";
    pub const TRACEPARENT: &str = "traceparent";
    pub const NOSSL: &str = "nossl";
    pub const DEBUG: &str = "debug";
    pub const DEBUG_ON_FAIL: &str = "debug-on-fail";
    pub const INSECURE: &str = "insecure";
    /// `--timeout N`, ours: only that spelling, since `timeout=` is a parameter of some commands.
    pub const TIMEOUT: &str = "timeout";
    pub const HELP: &str = "help";
    pub const VERSION: &str = "version";
    /// Any other `--name`: the parameter `name=true`.
    pub const FLAG: &str = "flag";
    /// A subcommand's `key=value` and bare-word parameters.
    pub const PARAMS: &str = "params";
}

/// xe's options that take the next word as their value, as clap options.
fn valued_option(word: &str) -> Option<&'static str> {
    Some(match word {
        "-s" | "-h" => id::SERVER,
        "-p" => id::PORT,
        "-u" => id::USERNAME,
        "-pw" => id::PASSWORD,
        "-pwf" => id::PASSWORDFILE,
        "--traceparent" => id::TRACEPARENT,
        "--timeout" => id::TIMEOUT,
        _ => return None,
    })
}

/// The keys of `key=value` words that set a connection option (the keys
/// [`Globals::set`] takes), as clap options.
fn setting(key: &str) -> Option<&'static str> {
    Some(match key {
        "server" => id::SERVER,
        "port" => id::PORT_SETTING,
        "username" => id::USERNAME,
        "password" => id::PASSWORD,
        "passwordfile" => id::PASSWORDFILE,
        "nossl" => id::NOSSL,
        "debug" => id::DEBUG,
        "debugonfail" => id::DEBUG_ON_FAIL,
        "traceparent" => id::TRACEPARENT,
        _ => return None,
    })
}

/// Rewrites xe's words into clap's spellings (see the module comment) and
/// finds the command name: the first word that is neither an option, an
/// option's value nor a `key=value` setting.
pub fn normalise(args: &[String]) -> (Vec<String>, Option<String>) {
    let mut out = Vec::with_capacity(args.len());
    let mut command: Option<String> = None;
    let mut words = args.iter();
    while let Some(w) = words.next() {
        if let Some(opt) = valued_option(w) {
            out.push(match words.next() {
                Some(v) => format!("--{opt}={v}"),
                // Without its value: clap refuses the option.
                None => format!("--{opt}"),
            });
            continue;
        }
        match w.as_str() {
            "--nossl" | "--debug" | "--debug-on-fail" | "--insecure" | "--help" | "--version" => out.push(w.clone()),
            _ if w.starts_with("--timeout=") => out.push(w.clone()),
            "-help" => out.push(format!("--{}", id::HELP)),
            "-version" => out.push(format!("--{}", id::VERSION)),
            _ if w.starts_with("--") => out.push(format!("--{}={}", id::FLAG, &w[2..])),
            // An unknown single-dash option: clap refuses it.
            _ if w.starts_with('-') && w.len() > 1 => out.push(w.clone()),
            _ => {
                let (k, v) = w.split_once('=').unwrap_or((w.as_str(), ""));
                // Before the command only `key=value` words can be settings.
                let key_value = command.is_some() || w.contains('=');
                match setting(k).filter(|_| key_value) {
                    Some(opt) => out.push(format!("--{opt}={v}")),
                    None => {
                        if command.is_none() && !w.contains('=') {
                            command = Some(w.clone());
                        }
                        // A parameter before the command: clap refuses it.
                        out.push(w.clone());
                    }
                }
            }
        }
    }
    (out, command)
}

/// The connection options, help and version, and `--flag=name`: on the
/// root and on the subcommand, as they may stand before or after the command.
fn with_options(cmd: clap::Command) -> clap::Command {
    let text = |id: &'static str| Arg::new(id).long(id).action(ArgAction::Set).require_equals(true);
    let switch = |id: &'static str| {
        text(id)
            .num_args(0..=1)
            .default_missing_value("true")
            .value_parser(|s: &str| Ok::<bool, std::convert::Infallible>(parse_bool(s).unwrap_or(false)))
    };
    let flag = |id: &'static str| Arg::new(id).long(id).action(ArgAction::SetTrue);
    cmd.disable_help_flag(true)
        .disable_version_flag(true)
        .args_override_self(true)
        .arg(text(id::SERVER))
        .arg(
            text(id::PORT)
                .value_parser(|s: &str| s.parse::<u16>().map(|_| s.to_string()))
                .overrides_with(id::PORT_SETTING),
        )
        .arg(text(id::PORT_SETTING).overrides_with(id::PORT))
        .arg(text(id::USERNAME))
        .arg(text(id::PASSWORD))
        .arg(text(id::PASSWORDFILE))
        .arg(text(id::TRACEPARENT))
        .arg(text(id::TIMEOUT))
        .arg(switch(id::NOSSL))
        .arg(switch(id::DEBUG))
        .arg(switch(id::DEBUG_ON_FAIL))
        .arg(flag(id::INSECURE))
        .arg(flag(id::HELP))
        .arg(flag(id::VERSION))
        .arg(Arg::new(id::FLAG).long(id::FLAG).action(ArgAction::Append).require_equals(true))
}

/// The root command: the connection options, no subcommands yet.
fn root() -> clap::Command {
    with_options(clap::Command::new("xe").no_binary_name(true).disable_help_subcommand(true))
}

/// One xe command: the options, then its parameters in line order.
pub fn subcommand(name: &str) -> clap::Command {
    with_options(clap::Command::new(name.to_string())).arg(Arg::new(id::PARAMS).action(ArgAction::Append).num_args(0..))
}

/// The parser of one command line: the root plus only the subcommand
/// `command` names. Every name gets a subcommand, known or not, so the rest
/// of the line is still read with xe's grammar (xe reports a syntax error,
/// `--help` or a bad password file before an unknown command); dispatch
/// decides whether the command exists.
pub fn command(command: Option<&str>) -> clap::Command {
    let root = root();
    match command {
        Some(name) => root.subcommand(subcommand(name)),
        None => root,
    }
}

/// The parser with every command in `names`, for clap's suggestions.
pub fn tree<'a>(names: impl IntoIterator<Item = &'a str>) -> clap::Command {
    root().subcommands(names.into_iter().map(subcommand))
}

/// Clap's closest match in `tree` for an unknown command name.
pub fn suggestion(tree: clap::Command, name: &str) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    // Clap suggests a command whose Jaro similarity to the name is above
    // 0.7; for a name of n characters and a command of m <= n that is at
    // most (m/n + 2)/3, so a name ten times longer than every command gets
    // none, and is not compared (which takes time linear in its length).
    let longest = tree.get_subcommands().map(|c| c.get_name().chars().count()).max().unwrap_or(0);
    if name.chars().count() >= 10 * longest {
        return None;
    }
    let err = tree.try_get_matches_from([name]).err()?;
    match err.get(ContextKind::SuggestedSubcommand) {
        // Clap lists similar names from the least to the most similar.
        Some(ContextValue::Strings(names)) => names.last().cloned(),
        Some(ContextValue::String(name)) => Some(name.clone()),
        _ => None,
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Invocation, ArgError> {
    let (words, name) = normalise(args);
    let matches = command(name.as_deref()).try_get_matches_from(&words).map_err(refusal)?;
    let sub = matches.subcommand().map(|(_, m)| m);
    // What follows the command was said last, so it wins.
    let levels: Vec<&ArgMatches> = sub.into_iter().chain([&matches]).collect();
    let text = |id: &str| levels.iter().find_map(|m| m.get_one::<String>(id)).cloned();
    let switch = |id: &str| levels.iter().find_map(|m| m.get_one::<bool>(id)).copied();
    let flag = |id: &str| levels.iter().any(|m| m.get_flag(id));
    let globals = Globals {
        server: text(id::SERVER),
        // `-p` and `port=` override each other on one side of the command.
        port: levels.iter().find_map(|m| m.get_one::<String>(id::PORT).or(m.get_one(id::PORT_SETTING))).cloned(),
        username: text(id::USERNAME),
        password: text(id::PASSWORD),
        passwordfile: text(id::PASSWORDFILE),
        nossl: switch(id::NOSSL),
        debug: switch(id::DEBUG),
        debug_on_fail: switch(id::DEBUG_ON_FAIL),
        traceparent: text(id::TRACEPARENT),
        insecure: flag(id::INSECURE).then_some(true),
        timeout: text(id::TIMEOUT),
    };
    let mut params = in_order(&matches, false);
    if let Some(sub) = sub {
        params.extend(in_order(sub, true));
    }
    Ok(Invocation {
        command: matches.subcommand_name().map(str::to_string),
        params,
        globals,
        help: flag(id::HELP),
        version: flag(id::VERSION),
    })
}

/// The `--name` flags (`name=true`) and, on a subcommand, the parameters
/// (split at the first `=`; a bare word is `word=`), in line order.
fn in_order(m: &ArgMatches, has_params: bool) -> Vec<(String, String)> {
    let mut items: Vec<(usize, (String, String))> = Vec::new();
    if let (Some(names), Some(at)) = (m.get_many::<String>(id::FLAG), m.indices_of(id::FLAG)) {
        items.extend(at.zip(names.map(|n| (n.clone(), "true".to_string()))));
    }
    if has_params {
        if let (Some(words), Some(at)) = (m.get_many::<String>(id::PARAMS), m.indices_of(id::PARAMS)) {
            let split = |w: &String| {
                let (k, v) = w.split_once('=').unwrap_or((w.as_str(), ""));
                (k.to_string(), v.to_string())
            };
            items.extend(at.zip(words.map(split)));
        }
    }
    items.sort_by_key(|(at, _)| *at);
    items.into_iter().map(|(_, kv)| kv).collect()
}

/// Maps clap's refusal to xe's: a bad `-p` value, or a syntax error.
fn refusal(e: clap::Error) -> ArgError {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match (e.kind(), e.get(ContextKind::InvalidValue)) {
        (ErrorKind::ValueValidation, Some(ContextValue::String(v))) => ArgError::BadPort(v.clone()),
        _ => ArgError::Syntax,
    }
}

/// Splits `XE_EXTRA_ARGS`: comma-separated, `\,` keeps a comma, then every
/// remaining backslash is dropped.
pub fn split_extra_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                cur.push(',');
                chars.next();
            }
            '\\' => {}
            ',' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.into_iter().filter(|t| !t.is_empty()).collect()
}

/// Splits a command line into words like a shell (quotes and backslashes);
/// the last word is the one under the cursor, empty after a space.
pub fn split_shell_line(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    cur.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                cur.push(n);
                            }
                        }
                        q => cur.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    words.push(cur);
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Invocation {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn globals_anywhere_and_params_in_order() {
        let inv = p("vm-list -s host1 power-state=running -pw secret --minimal params=uuid -u admin");
        assert_eq!(inv.command.as_deref(), Some("vm-list"));
        assert_eq!(inv.globals.server.as_deref(), Some("host1"));
        assert_eq!(inv.globals.password.as_deref(), Some("secret"));
        assert_eq!(inv.globals.username.as_deref(), Some("admin"));
        assert_eq!(
            inv.params,
            vec![
                ("power-state".into(), "running".into()),
                ("minimal".into(), "true".into()),
                ("params".into(), "uuid".into())
            ]
        );
    }

    #[test]
    fn timeout_is_an_option_only_when_spelled_with_dashes() {
        let inv = p("--timeout 5 vbd-unplug uuid=x timeout=30");
        assert_eq!(inv.globals.timeout.as_deref(), Some("5"));
        assert_eq!(inv.params, vec![("uuid".into(), "x".into()), ("timeout".into(), "30".into())]);
        assert_eq!(p("vm-list --timeout=0.5").globals.timeout.as_deref(), Some("0.5"));
    }

    #[test]
    fn h_means_server_and_help_is_spelled_out() {
        let inv = p("-h myhost vm-list");
        assert_eq!(inv.globals.server.as_deref(), Some("myhost"));
        assert!(p("vm-list --help").help);
        assert!(p("-help").help);
    }

    #[test]
    fn key_value_globals_and_bare_words() {
        let inv = p("server=h port=8080 nossl=true vm-start vm=a other-config:x=y=z bare");
        assert_eq!(inv.globals.server.as_deref(), Some("h"));
        assert_eq!(inv.globals.port.as_deref(), Some("8080"));
        assert_eq!(inv.globals.nossl, Some(true));
        assert_eq!(inv.command.as_deref(), Some("vm-start"));
        assert_eq!(inv.params[1], ("other-config:x".into(), "y=z".into()));
        assert_eq!(inv.params[2], ("bare".into(), "".into()));
    }

    #[test]
    fn syntax_errors() {
        let v = |s: &str| parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>());
        assert_eq!(v("vm-list -x 1"), Err(ArgError::Syntax));
        assert_eq!(v("vm-list -s"), Err(ArgError::Syntax));
        assert_eq!(v("a=b"), Err(ArgError::Syntax));
        assert_eq!(v("vm-list -p http"), Err(ArgError::BadPort("http".into())));
    }

    #[test]
    fn extra_args_split_on_unescaped_commas() {
        assert_eq!(split_extra_args(r"server=a,password=x\,y,port=1"), vec!["server=a", "password=x,y", "port=1"]);
        assert_eq!(split_extra_args(r"a=b\\c"), vec!["a=bc"]);
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("Yes"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }

    /// The hand-written tokeniser clap replaced, kept as the reference the
    /// parser must agree with.
    fn reference(args: &[String]) -> Result<Invocation, ArgError> {
        let mut inv = Invocation::default();
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            let value = args.get(i + 1);
            match a.as_str() {
                "-s" | "-h" | "-p" | "-u" | "-pw" | "-pwf" | "--traceparent" | "--timeout" => {
                    let v = value.ok_or(ArgError::Syntax)?.clone();
                    match a.as_str() {
                        "-s" | "-h" => inv.globals.server = Some(v),
                        "-p" => {
                            if v.parse::<u16>().is_err() {
                                return Err(ArgError::BadPort(v));
                            }
                            inv.globals.port = Some(v)
                        }
                        "-u" => inv.globals.username = Some(v),
                        "-pw" => inv.globals.password = Some(v),
                        "-pwf" => inv.globals.passwordfile = Some(v),
                        "--timeout" => inv.globals.timeout = Some(v),
                        _ => inv.globals.traceparent = Some(v),
                    }
                    i += 2;
                    continue;
                }
                "--nossl" => inv.globals.nossl = Some(true),
                "--debug" => inv.globals.debug = Some(true),
                "--debug-on-fail" => inv.globals.debug_on_fail = Some(true),
                "--insecure" => inv.globals.insecure = Some(true),
                "-help" | "--help" => inv.help = true,
                "-version" | "--version" => inv.version = true,
                _ if a.starts_with("--timeout=") => inv.globals.timeout = Some(a["--timeout=".len()..].to_string()),
                _ => {
                    if let Some(flag) = a.strip_prefix("--") {
                        // Any `--name` is the parameter `name=true`.
                        push(&mut inv, flag.to_string(), "true".to_string());
                    } else if a.starts_with('-') && a.len() > 1 {
                        return Err(ArgError::Syntax);
                    } else if inv.command.is_none() && !is_global_assignment(a) {
                        if a.contains('=') {
                            return Err(ArgError::Syntax);
                        }
                        inv.command = Some(a.clone());
                    } else {
                        let (k, v) = a.split_once('=').unwrap_or((a.as_str(), ""));
                        if !inv.globals.set(k, v) {
                            push(&mut inv, k.to_string(), v.to_string());
                        }
                    }
                }
            }
            i += 1;
        }
        Ok(inv)
    }

    fn is_global_assignment(a: &str) -> bool {
        a.split_once('=').is_some_and(|(k, _)| Globals::default().set(k, ""))
    }

    fn push(inv: &mut Invocation, k: String, v: String) {
        inv.params.push((k, v));
    }

    /// Every line over a vocabulary of xe's token classes, up to three
    /// words, and pseudo-random longer ones: clap's reading equals the
    /// hand-written one, errors included.
    #[test]
    fn clap_agrees_with_the_reference_tokeniser() {
        const WORDS: &[&str] = &[
            "vm-list",
            "help",
            "-",
            "",
            "a=b",
            "m:k=v=w",
            "bare",
            "server=h",
            "port=x",
            "port=80",
            "nossl=no",
            "debug",
            "-s",
            "-h",
            "-p",
            "80",
            "abc",
            "-u",
            "-pw",
            "-pwf",
            "--traceparent",
            "--timeout",
            "--timeout=2.5",
            "--timeout=",
            "timeout=3",
            "--nossl",
            "--debug",
            "--debug-on-fail",
            "--insecure",
            "-help",
            "--help",
            "-version",
            "--version",
            "--minimal",
            "--",
            "--a=b",
            "--server",
            "-x",
            "-1",
            "-p=1",
            "--flag=x",
            "traceparent=t",
            "debugonfail=1",
            "=",
            "=v",
        ];
        let check = |line: &[&str]| {
            let args: Vec<String> = line.iter().map(|s| s.to_string()).collect();
            assert_eq!(parse(&args), reference(&args), "{line:?}");
        };
        for a in WORDS {
            check(&[a]);
            for b in WORDS {
                check(&[a, b]);
                for c in ["vm-list", "-p", "80", "--minimal", "a=b", "-x", "server=h", "port=1", "-s", "nossl"] {
                    check(&[a, b, c]);
                }
            }
        }
        let mut seed: u64 = 0x5eed;
        for _ in 0..3000 {
            let mut line = Vec::new();
            for _ in 0..3 + seed % 6 {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                line.push(WORDS[(seed >> 33) as usize % WORDS.len()]);
            }
            check(&line);
        }
    }

    #[test]
    fn settings_are_the_keys_globals_take() {
        for key in [
            "server",
            "port",
            "username",
            "password",
            "passwordfile",
            "nossl",
            "debug",
            "debugonfail",
            "traceparent",
            "x",
        ] {
            assert_eq!(setting(key).is_some(), Globals::default().set(key, ""), "{key}");
        }
    }

    #[test]
    fn suggestions_come_from_the_tree() {
        assert_eq!(suggestion(tree(["vm-start", "vm-list", "sr-list"]), "vm-strat").as_deref(), Some("vm-start"));
        assert_eq!(suggestion(tree(["vm-start"]), "zzzzzzzz"), None);
        // Up to ten times the longest name, clap may still find one; from there on it cannot.
        let long = |n: usize| format!("vm-start{}", "x".repeat(n - 8));
        assert_eq!(suggestion(tree(["vm-start"]), &long(79)).as_deref(), Some("vm-start"));
        assert_eq!(suggestion(tree(["vm-start"]), &long(80)), None);
    }
}
