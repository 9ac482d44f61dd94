//! xe's argument syntax: global options anywhere on the line (`-s host`,
//! `-pw secret`, `server=host`, `--nossl`), then a command name and its
//! `key=value`, `map:key=value`, `--flag` and bare-word parameters.
//!
//! This module only tokenises; [`crate::config`] decides precedence.

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
}

impl Globals {
    /// Lays `other` over `self`: options `other` sets win.
    pub fn overlay(&mut self, other: Globals) {
        macro_rules! take {
            ($($f:ident),*) => { $( if other.$f.is_some() { self.$f = other.$f; } )* };
        }
        take!(server, port, username, password, passwordfile, nossl, debug, debug_on_fail, traceparent, insecure);
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

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Invocation, ArgError> {
    let mut inv = Invocation::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let value = args.get(i + 1);
        match a.as_str() {
            "-s" | "-h" | "-p" | "-u" | "-pw" | "-pwf" | "--traceparent" => {
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
}
