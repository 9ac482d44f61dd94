//! Connection settings from every source, in xe's precedence:
//! command line > `XE_EXTRA_ARGS` > `~/.xe` > defaults; a password file
//! (`-pwf`) is read last and sets both username and password.
//!
//! This is the only module that reads the environment or `~/.xe`.

use crate::argv::{self, Globals, Invocation};
use crate::error::CliError;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the process environment contributes.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub extra_args: Option<String>,
    pub rc_path: Option<PathBuf>,
    pub rc_text: Option<String>,
    /// Whether `~/.xe` can be read by group or others.
    pub rc_shared: bool,
    pub traceparent: Option<String>,
    pub stdin_is_tty: bool,
    /// `XE_MULTIPLE_CONCURRENCY`: operations in flight under `--multiple`.
    pub concurrency: Option<String>,
    /// `XE_TIMEOUT`: seconds to wait for the server (`--timeout` wins).
    pub timeout: Option<String>,
    /// `XE_MAX_VALUE`: the most memory one answer may take.
    pub max_value: Option<String>,
    /// Sources that exist but are not UTF-8 (`XE_EXTRA_ARGS`, `~/.xe`).
    pub not_utf8: Vec<String>,
}

impl Environment {
    /// Reads the real environment.
    #[allow(clippy::disallowed_methods)]
    pub fn from_process() -> Environment {
        let rc_path = dirs::home_dir().map(|h| h.join(".xe"));
        let mut not_utf8 = Vec::new();
        let rc_text = rc_path.as_ref().and_then(|p| std::fs::read(p).ok()).and_then(|bytes| {
            String::from_utf8(bytes).ok().or_else(|| {
                not_utf8.push(rc_path.as_deref().map(|p| p.display().to_string()).unwrap_or_default());
                None
            })
        });
        let rc_shared = rc_path.as_deref().is_some_and(shared_file);
        let mut text = |name: &str| match std::env::var(name) {
            Ok(v) => Some(v),
            Err(std::env::VarError::NotUnicode(_)) => {
                not_utf8.push(name.to_string());
                None
            }
            Err(std::env::VarError::NotPresent) => None,
        };
        let extra_args = text("XE_EXTRA_ARGS");
        let timeout = text("XE_TIMEOUT");
        let max_value = text("XE_MAX_VALUE");
        Environment {
            not_utf8,
            extra_args,
            rc_path,
            rc_text,
            rc_shared,
            traceparent: std::env::var("TRACEPARENT").ok(),
            concurrency: std::env::var("XE_MULTIPLE_CONCURRENCY").ok(),
            timeout,
            max_value,
            stdin_is_tty: std::io::IsTerminal::is_terminal(&std::io::stdin()),
        }
    }
}

#[cfg(unix)]
fn shared_file(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
}

#[cfg(not(unix))]
fn shared_file(_: &Path) -> bool {
    false
}

/// Resolved connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub server: String,
    pub port: u16,
    pub tls: bool,
    pub username: String,
    /// None when no source gave one (the caller may prompt).
    pub password: Option<String>,
    pub debug: bool,
    pub debug_on_fail: bool,
    pub insecure: bool,
    pub traceparent: Option<String>,
    /// Operations in flight at once under `--multiple` (default 8).
    pub concurrency: usize,
    /// Speak XML-RPC only (`--xmlrpc`), as older hosts need.
    pub xmlrpc: bool,
    /// Plain HTTP was chosen only because the server is the literal
    /// `127.0.0.1` (no `--nossl`): an HTTPS answer there switches to HTTPS.
    pub tls_fallback: bool,
    /// `--timeout` or `XE_TIMEOUT`: the longest wait to connect and for
    /// each answer; `None` keeps the client's defaults (10 s and 600 s).
    pub timeout: Option<Duration>,
    /// `XE_MAX_VALUE`: the most memory one answer may take (default 64 MiB).
    pub max_value: usize,
}

/// Seconds as `--timeout` and `XE_TIMEOUT` take them: a positive integer or decimal.
fn parse_seconds(text: &str) -> Option<Duration> {
    let (int, frac) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) {
        return None;
    }
    text.parse::<f64>().ok().and_then(|s| Duration::try_from_secs_f64(s).ok()).filter(|d| !d.is_zero())
}

/// A size as `XE_MAX_VALUE` takes it: bytes, or a number of KiB, MiB or GiB.
fn parse_bytes(text: &str) -> Option<usize> {
    let t = text.trim();
    let (number, unit) = [("GiB", 1usize << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        .iter()
        .find_map(|(suffix, unit)| t.strip_suffix(suffix).map(|n| (n.trim_end(), *unit)))
        .unwrap_or((t, 1));
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse::<usize>().ok()?.checked_mul(unit).filter(|n| *n > 0)
}

/// Settings plus warnings to show the user.
#[derive(Debug)]
pub struct Resolved {
    pub settings: Settings,
    pub invocation: Invocation,
    pub warnings: Vec<String>,
}

/// Splits `~/.xe`: recognised keys become options, others extra arguments.
/// A non-blank line without `=` makes xe ignore the whole file (`None`).
/// Public for the fuzzer (`crates/fuzz`).
pub fn parse_rc(text: &str) -> Option<(Globals, Vec<(String, String)>)> {
    let mut g = Globals::default();
    let mut params = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let (k, v) = line.split_once('=')?;
        if !g.set(k, v) {
            params.push((k.to_string(), v.to_string()));
        }
    }
    Some((g, params))
}

/// Interprets `XE_EXTRA_ARGS` tokens like command-line tokens.
fn parse_extra(text: &str) -> Result<(Globals, Vec<(String, String)>), CliError> {
    let tokens = argv::split_extra_args(text);
    let mut g = Globals::default();
    let mut params = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        match t.as_str() {
            "-s" | "-h" | "-p" | "-u" | "-pw" | "-pwf" | "--timeout" => {
                let v = tokens.get(i + 1).ok_or(CliError::Syntax)?;
                let key = match t.as_str() {
                    "-s" | "-h" => "server",
                    "-p" => "port",
                    "-u" => "username",
                    "-pw" => "password",
                    "--timeout" => {
                        g.timeout = Some(v.clone());
                        i += 2;
                        continue;
                    }
                    _ => "passwordfile",
                };
                g.set(key, v);
                i += 2;
                continue;
            }
            _ if t.starts_with("--timeout=") => g.timeout = Some(t["--timeout=".len()..].to_string()),
            "--nossl" => g.nossl = Some(true),
            "--insecure" => g.insecure = Some(true),
            "--debug" => g.debug = Some(true),
            _ => {
                if let Some(flag) = t.strip_prefix("--") {
                    params.push((flag.to_string(), "true".to_string()));
                } else {
                    let (k, v) = t.split_once('=').unwrap_or((t.as_str(), ""));
                    if !g.set(k, v) {
                        params.push((k.to_string(), v.to_string()));
                    }
                }
            }
        }
        i += 1;
    }
    Ok((g, params))
}

/// Reads a password file: line 1 the username, line 2 the password.
fn read_password_file(path: &str) -> Result<(String, String), CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::failure(format!("Failed to read password file '{path}': {e}")))?;
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(u), Some(p)) => Ok((u.trim_end_matches('\r').to_string(), p.trim_end_matches('\r').to_string())),
        _ => Err(CliError::failure(format!(
            "Password file '{path}' must contain the username on line 1 and the password on line 2"
        ))),
    }
}

/// Combines every source into settings.
pub fn resolve(mut inv: Invocation, env: &Environment) -> Result<Resolved, CliError> {
    let mut warnings = Vec::new();
    // A source that cannot be read as text is refused rather than half used.
    if let Some(source) = env.not_utf8.first() {
        return Err(CliError::failure(format!("{source} is not valid UTF-8")));
    }
    let mut globals = Globals::default();
    let mut trailing: Vec<(String, String)> = Vec::new();
    let mut rc_params = Vec::new();
    if let Some(text) = &env.rc_text {
        match parse_rc(text) {
            Some((g, p)) => {
                if env.rc_shared && g.password.is_some() {
                    let path = env.rc_path.as_deref().map(|p| p.display().to_string()).unwrap_or_default();
                    warnings.push(format!(
                        "Warning: {path} contains a password and can be read by other users; run `chmod 600 {path}`"
                    ));
                }
                globals.overlay(g);
                rc_params = p;
            }
            None => {
                let path = env.rc_path.as_deref().map(|p| p.display().to_string()).unwrap_or_default();
                warnings.push(format!("Warning: ignoring {path}: every line must have the form key=value"));
            }
        }
    }
    if let Some(text) = &env.extra_args {
        let (g, p) = parse_extra(text)?;
        globals.overlay(g);
        trailing.extend(p);
    }
    if env.traceparent.is_some() {
        globals.traceparent = env.traceparent.clone();
    }
    globals.overlay(std::mem::take(&mut inv.globals));
    // Command-line parameters come first, so they win ("first occurrence wins").
    trailing.extend(rc_params);
    inv.params.extend(trailing);

    let server = globals.server.clone().unwrap_or_else(|| "127.0.0.1".to_string());
    // xe talks plain HTTP to the literal 127.0.0.1 (it is the host itself).
    let tls = !globals.nossl.unwrap_or(false) && server != "127.0.0.1" && !server.starts_with("sim://");
    let port = match &globals.port {
        Some(p) => p.parse::<u16>().map_err(|_| CliError::Raw(format!("Invalid port: {p}")))?,
        None if tls => 443,
        None => 80,
    };
    let (mut username, mut password) = (globals.username.clone(), globals.password.clone());
    if let Some(pwf) = &globals.passwordfile {
        let (u, p) = read_password_file(pwf)?;
        username = Some(u);
        password = Some(p);
    }
    let settings = Settings {
        server: server.clone(),
        port,
        tls,
        username: username.unwrap_or_else(|| "root".to_string()),
        password,
        debug: globals.debug.unwrap_or(false),
        debug_on_fail: globals.debug_on_fail.unwrap_or(false),
        insecure: globals.insecure.unwrap_or(false),
        traceparent: globals.traceparent.clone(),
        xmlrpc: inv.params.iter().any(|(k, v)| k == "xmlrpc" && argv::parse_bool(v) == Some(true)),
        concurrency: env.concurrency.as_deref().and_then(|c| c.parse().ok()).filter(|n| *n > 0).unwrap_or(8),
        tls_fallback: !tls && globals.nossl.is_none() && server == "127.0.0.1",
        timeout: match (&globals.timeout, &env.timeout) {
            (Some(t), _) => Some(parse_seconds(t).ok_or_else(|| {
                CliError::failure(format!("--timeout takes a positive number of seconds, not '{t}'"))
            })?),
            (None, Some(t)) => Some(parse_seconds(t).ok_or_else(|| {
                CliError::failure(format!("XE_TIMEOUT must be a positive number of seconds, not '{t}'"))
            })?),
            (None, None) => None,
        },
        max_value: match &env.max_value {
            Some(v) => parse_bytes(v).ok_or_else(|| {
                CliError::failure(format!(
                    "XE_MAX_VALUE must be a number of bytes, optionally with KiB, MiB or GiB (e.g. 256MiB), not '{v}'"
                ))
            })?,
            None => xenapi::client::DEFAULT_MAX_VALUE,
        },
    };
    Ok(Resolved { settings, invocation: inv, warnings })
}

/// Where this tool keeps its own files (known hosts, simulators).
#[allow(clippy::disallowed_methods)]
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XE_DATA_DIR") {
        return PathBuf::from(d);
    }
    dirs::data_local_dir().or_else(dirs::home_dir).unwrap_or_else(std::env::temp_dir).join("xe-rs")
}

/// The file of pinned server certificates.
#[allow(clippy::disallowed_methods)]
pub fn known_hosts_path() -> PathBuf {
    if let Some(p) = std::env::var_os("XE_KNOWN_HOSTS") {
        return PathBuf::from(p);
    }
    dirs::config_dir().or_else(dirs::home_dir).unwrap_or_else(std::env::temp_dir).join("xe-rs").join("known_hosts")
}

/// A completion request in clap_complete's protocol: `COMPLETE=<shell>`
/// (empty or `0` means none) and, for bash, zsh and elvish, the index of the
/// word under the cursor in `_CLAP_COMPLETE_INDEX`. clap_complete's shell
/// adapters read their formatting variables (`_CLAP_IFS`, ...) themselves.
pub struct CompletionRequest {
    pub shell: String,
    pub index: Option<usize>,
}

/// The completion request in the environment, if any.
#[allow(clippy::disallowed_methods)]
pub fn completion_request() -> Option<CompletionRequest> {
    let shell = std::env::var(crate::shells::VAR).ok().filter(|s| !s.is_empty() && s != "0")?;
    let index = std::env::var("_CLAP_COMPLETE_INDEX").ok().and_then(|i| i.parse().ok());
    Some(CompletionRequest { shell, index })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(args: &str) -> Invocation {
        argv::parse(&args.split_whitespace().map(String::from).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn command_line_beats_env_beats_rc() {
        let env = Environment {
            rc_text: Some("server=rc\nport=1\nusername=rcuser\nsr-uuid=abc\n".into()),
            extra_args: Some("server=env,port=2".into()),
            ..Environment::default()
        };
        let r = resolve(inv("vm-list -p 3"), &env).unwrap();
        assert_eq!(r.settings.server, "env");
        assert_eq!(r.settings.port, 3);
        assert_eq!(r.settings.username, "rcuser");
        assert_eq!(r.invocation.params, vec![("sr-uuid".to_string(), "abc".to_string())]);
    }

    #[test]
    fn first_occurrence_wins_for_parameters() {
        let env = Environment { extra_args: Some("sr-uuid=env".into()), ..Environment::default() };
        let r = resolve(inv("vdi-create sr-uuid=cli"), &env).unwrap();
        assert_eq!(r.invocation.params[0], ("sr-uuid".into(), "cli".into()));
    }

    #[test]
    fn bad_rc_line_ignores_the_file() {
        let env = Environment { rc_text: Some("server=x\njunk\n".into()), ..Environment::default() };
        let r = resolve(inv("vm-list"), &env).unwrap();
        assert_eq!(r.settings.server, "127.0.0.1");
        assert_eq!(r.warnings.len(), 1);
    }

    #[test]
    fn defaults_and_ssl_rules() {
        let r = resolve(inv("vm-list -s host1"), &Environment::default()).unwrap();
        assert!(r.settings.tls);
        assert_eq!(r.settings.port, 443);
        let r = resolve(inv("vm-list -s host1 --nossl"), &Environment::default()).unwrap();
        assert_eq!((r.settings.tls, r.settings.port), (false, 80));
        let r = resolve(inv("vm-list"), &Environment::default()).unwrap();
        assert_eq!((r.settings.server.as_str(), r.settings.tls), ("127.0.0.1", false));
        assert_eq!(r.settings.password, None);
    }

    #[test]
    fn timeouts_and_limits() {
        let env = |timeout: Option<&str>, max: Option<&str>| Environment {
            timeout: timeout.map(String::from),
            max_value: max.map(String::from),
            ..Environment::default()
        };
        let r = resolve(inv("vm-list"), &env(None, None)).unwrap().settings;
        assert_eq!((r.timeout, r.max_value), (None, 64 << 20));
        let r = resolve(inv("vm-list"), &env(Some("2.5"), Some("1GiB"))).unwrap().settings;
        assert_eq!((r.timeout, r.max_value), (Some(Duration::from_millis(2500)), 1 << 30));
        let r = resolve(inv("vm-list --timeout 7"), &env(Some("2"), Some("512 KiB"))).unwrap().settings;
        assert_eq!((r.timeout, r.max_value), (Some(Duration::from_secs(7)), 512 << 10));
        let r =
            resolve(inv("vm-list"), &Environment { extra_args: Some("--timeout,3".into()), ..env(None, Some("100")) });
        let r = r.unwrap().settings;
        assert_eq!((r.timeout, r.max_value), (Some(Duration::from_secs(3)), 100));
        for bad in ["0", "-1", "1e3", "abc", "", ".5", "5.", "1.2.3", "99999999999999999999999"] {
            let e = resolve(inv("vm-list"), &env(Some(bad), None)).unwrap_err();
            assert_eq!(e.to_string(), format!("Error: XE_TIMEOUT must be a positive number of seconds, not '{bad}'"));
        }
        let e = resolve(inv("vm-list --timeout x"), &env(None, None)).unwrap_err();
        assert_eq!(e.to_string(), "Error: --timeout takes a positive number of seconds, not 'x'");
        for bad in ["0", "1.5MiB", "MiB", "1TiB", "-1", "x", "99999999999GiB"] {
            let e = resolve(inv("vm-list"), &env(None, Some(bad))).unwrap_err();
            assert!(e.to_string().starts_with("Error: XE_MAX_VALUE must be a number of bytes"), "{bad}: {e}");
        }
    }

    #[test]
    fn password_file_overrides_everything() {
        let dir = std::env::temp_dir().join(format!("xe-pwf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pw");
        std::fs::write(&f, "admin\nsecret\n").unwrap();
        let r = resolve(inv(&format!("vm-list -u x -pw y -pwf {}", f.display())), &Environment::default()).unwrap();
        assert_eq!((r.settings.username.as_str(), r.settings.password.as_deref()), ("admin", Some("secret")));
        std::fs::write(&f, "only-user").unwrap();
        assert!(resolve(inv(&format!("vm-list -pwf {}", f.display())), &Environment::default()).is_err());
    }
}
