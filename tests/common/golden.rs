//! Golden transcripts: `$ xe ...` lines followed by the exact stdout, an
//! optional `------- stderr -------` section and an optional
//! `[exit status: N]` line (absent means 0).
//!
//! Directives (lines starting `#!`) before or between commands:
//! - `#! tls` — the simulator serves HTTPS, reached as `localhost` (xe never uses TLS for `127.0.0.1`);
//! - `#! no-defaults` — do not point `xe` at the simulator through `XE_EXTRA_ARGS`;
//! - `#! env KEY=VALUE` — set an environment variable for later commands;
//! - `#! file PATH` ... `#! end` — write a file under the test's home directory;
//! - `#! chmod MODE PATH` — change a file's mode (octal);
//! - `#! redact-uuids` — show every uuid in outputs as `[UUID]`;
//! - `#! sim-disable M1,M2` — the simulator answers MESSAGE_METHOD_UNKNOWN to these
//!   methods (`xapi-sim --disable`), like a server that lacks them;
//! - `#! sim-faults [RULES]` — the simulator starts with these fault rules (a
//!   JSON list on one line, as in `xapi-sim --faults`), after those of earlier
//!   `sim-faults` lines; they apply to the whole file;
//! - `#! sim-user NAME:PASSWORD:ROLE` — the simulator also accepts this user,
//!   who has this role (`xapi-sim --user`);
//! - `#! sim-directory JSON` — the simulator's directory for external
//!   authentication (`xapi-sim --directory`), as one line of JSON;
//! - `#! sim-pools N` — the simulator serves N pools (`xapi-sim --pools N`):
//!   the demo pool, and standalone hosts at 127.0.2.11, 127.0.3.11, ...;
//! - `#! stdin TEXT` — the next command reads `TEXT` and a newline on stdin
//!   (otherwise stdin is empty).
//!
//! `$ NAME=$(xe ...)` runs a command and keeps its trimmed stdout as `{NAME}`
//! for later lines; its output section shows only stderr and the exit status.
//!
//! `{port}` and `{home}` are substituted in commands, env values and files.
//! Output is redacted: the home directory becomes `[HOME]`, the port `[PORT]`,
//! SHA-256 fingerprints `[FINGERPRINT]`, `--debug` call times `([MS] ms)`.
//! Lines starting `# ` are comments.
//! `XE_BLESS=1` rewrites the files with the actual output.

// Tests and benchmarks own the terminal and read their switches (XE_BLESS...).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Case {
    command: String,
    expected: String,
}

enum Item {
    Directive(String),
    FileBlock(String, String),
    Comment(String),
    Case(Case),
}

fn parse(text: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_end_matches('\n');
        if let Some(path) = trimmed.strip_prefix("#! file ") {
            let mut body = String::new();
            for l in lines.by_ref() {
                if l.trim_end_matches('\n') == "#! end" {
                    break;
                }
                body.push_str(l);
            }
            items.push(Item::FileBlock(path.to_string(), body));
        } else if let Some(d) = trimmed.strip_prefix("#! ") {
            items.push(Item::Directive(d.to_string()));
        } else if let Some(cmd) = trimmed.strip_prefix("$ ") {
            let mut expected = String::new();
            while let Some(next) = lines.peek() {
                if next.starts_with("$ ") || next.starts_with("#!") || next.starts_with("# ") {
                    break;
                }
                expected.push_str(lines.next().unwrap());
            }
            items.push(Item::Case(Case { command: cmd.to_string(), expected }));
        } else {
            items.push(Item::Comment(line.to_string()));
        }
    }
    items
}

/// Splits a command line like a shell would (xe's own splitter, without the
/// empty word it keeps after a trailing space for completion).
fn split_words(s: &str) -> Vec<String> {
    let mut words = xe::argv::split_shell_line(s);
    // A quoted empty word (`-u ""`) is real; the one after trailing space is not.
    if s.ends_with(char::is_whitespace) || s.is_empty() {
        words.pop();
    }
    words
}

fn render_output(stdout: &str, stderr: &str, code: i32) -> String {
    let mut s = stdout.to_string();
    if !stderr.is_empty() {
        if !s.is_empty() && !s.ends_with('\n') {
            s.push('\n');
        }
        s.push_str("------- stderr -------\n");
        s.push_str(stderr);
        if !s.ends_with('\n') {
            s.push('\n');
        }
    }
    if code != 0 {
        s.push_str(&format!("[exit status: {code}]\n"));
    }
    s
}

fn redact(text: &str, home: &str, port: u16) -> String {
    let mut t = text.replace(home, "[HOME]").replace(&format!(":{port}"), ":[PORT]");
    // SHA-256 fingerprints: 32 colon-separated hex pairs.
    let bytes: Vec<char> = t.chars().collect();
    let mut out = String::with_capacity(t.len());
    let mut i = 0;
    while i < bytes.len() {
        let candidate: String = bytes[i..bytes.len().min(i + 95)].iter().collect();
        if candidate.len() == 95
            && candidate.chars().enumerate().all(|(j, c)| if j % 3 == 2 { c == ':' } else { c.is_ascii_hexdigit() })
        {
            out.push_str("[FINGERPRINT]");
            i += 95;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    t = out;
    redact_millis(&t)
}

/// `(12 ms)` at the end of `--debug` lines becomes `([MS] ms)`.
fn redact_millis(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let body = line.trim_end_matches('\n');
            let cut = body
                .strip_suffix(" ms)")
                .and_then(|b| b.rfind('(').map(|i| (i, &b[i + 1..])))
                .filter(|(_, digits)| !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()));
            match cut {
                Some((i, _)) if body.starts_with("xe: ") => format!("{}([MS] ms){}", &body[..i], &line[body.len()..]),
                _ => line.to_string(),
            }
        })
        .collect()
}

/// Replaces every uuid (8-4-4-4-12 hex) with `[UUID]`.
fn redact_uuid(text: &str) -> String {
    let b = text.as_bytes();
    let shape = [8usize, 4, 4, 4, 12];
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    'scan: while i < b.len() {
        if i + 36 <= b.len() {
            let mut j = i;
            let mut ok = true;
            for (n, len) in shape.iter().enumerate() {
                if !b[j..j + len].iter().all(u8::is_ascii_hexdigit) {
                    ok = false;
                    break;
                }
                j += len;
                if n < 4 {
                    if b[j] != b'-' {
                        ok = false;
                        break;
                    }
                    j += 1;
                }
            }
            if ok {
                out.push_str("[UUID]");
                i += 36;
                continue 'scan;
            }
        }
        let ch = text[i..].chars().next().unwrap_or('?');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Runs one golden file; returns the re-rendered file and whether it matched.
fn run_file(path: &Path) -> (String, bool) {
    let text = std::fs::read_to_string(path).unwrap();
    let items = parse(&text);
    let tls = items.iter().any(|i| matches!(i, Item::Directive(d) if d == "tls"));
    let defaults = !items.iter().any(|i| matches!(i, Item::Directive(d) if d == "no-defaults"));
    let disabled: Vec<String> = items
        .iter()
        .filter_map(|i| match i {
            Item::Directive(d) => d.strip_prefix("sim-disable "),
            _ => None,
        })
        .flat_map(|d| d.split(',').map(|m| m.trim().to_string()))
        .collect();
    let faults: Vec<xapi_sim::faults::Rule> = items
        .iter()
        .filter_map(|i| match i {
            Item::Directive(d) => d.strip_prefix("sim-faults "),
            _ => None,
        })
        .flat_map(|json| {
            xapi_sim::faults::parse_rules(json).unwrap_or_else(|e| panic!("{}: sim-faults: {e}", path.display()))
        })
        .collect();
    let users: Vec<(String, String, String)> = items
        .iter()
        .filter_map(|i| match i {
            Item::Directive(d) => d.strip_prefix("sim-user "),
            _ => None,
        })
        .map(|u| {
            let (name, rest) = u.split_once(':').unwrap_or_else(|| panic!("{}: sim-user NAME:PW:ROLE", path.display()));
            let (password, role) =
                rest.rsplit_once(':').unwrap_or_else(|| panic!("{}: sim-user NAME:PW:ROLE", path.display()));
            (name.to_string(), password.to_string(), role.to_string())
        })
        .collect();
    let directory = items.iter().find_map(|i| match i {
        Item::Directive(d) => d.strip_prefix("sim-directory ").map(|json| {
            xapi_sim::directory::Directory::parse(json)
                .unwrap_or_else(|e| panic!("{}: sim-directory: {e}", path.display()))
        }),
        _ => None,
    });
    let pools: usize = items
        .iter()
        .find_map(|i| match i {
            Item::Directive(d) => d.strip_prefix("sim-pools "),
            _ => None,
        })
        .map_or(1, |n| n.trim().parse().unwrap_or_else(|_| panic!("{}: sim-pools: {n}", path.display())));
    let (_one, _many, port) = if pools > 1 {
        assert!(
            disabled.is_empty() && users.is_empty() && directory.is_none(),
            "{}: sim-pools does not take sim-disable, sim-user or sim-directory",
            path.display()
        );
        let mut opts = xapi_sim::SimOptions { tls, ..xapi_sim::SimOptions::default() }.faults(faults);
        opts.config.time_scale = 0.0;
        let many = xapi_sim::pools::PoolsSim::start(opts, pools).expect("simulator starts on loopback");
        let port = many.addr.port();
        (None, Some(many), port)
    } else {
        let sim = super::start_sim_users(tls, &disabled, faults, &users, directory);
        let port = sim.addr.port();
        (Some(sim), None, port)
    };
    let home = tempdir(path);
    let home_s = home.display().to_string();
    let subst = |s: &str| s.replace("{port}", &port.to_string()).replace("{home}", &home_s);
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    if defaults {
        let extra = if tls {
            format!("server=localhost,port={port},password=xenroot")
        } else {
            format!("server=127.0.0.1,port={port},password=xenroot,nossl=true")
        };
        env.insert("XE_EXTRA_ARGS".into(), extra);
    }
    let redact_uuids = items.iter().any(|i| matches!(i, Item::Directive(d) if d == "redact-uuids"));
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut stdin: Option<String> = None;
    let mut out = String::new();
    let mut ok = true;
    for item in items {
        match item {
            Item::Comment(c) => out.push_str(&c),
            Item::Directive(d) => {
                out.push_str(&format!("#! {d}\n"));
                if let Some(kv) = d.strip_prefix("env ") {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    if v.is_empty() {
                        env.remove(k);
                    } else {
                        env.insert(k.to_string(), subst(v));
                    }
                } else if let Some(text) = d.strip_prefix("stdin ") {
                    stdin = Some(format!("{text}\n"));
                } else if let Some(rest) = d.strip_prefix("chmod ") {
                    let (mode, p) = rest.split_once(' ').unwrap();
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::PermissionsExt;
                        let mode = u32::from_str_radix(mode, 8).unwrap();
                        std::fs::set_permissions(home.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
                    }
                }
            }
            Item::FileBlock(p, body) => {
                out.push_str(&format!("#! file {p}\n{body}#! end\n"));
                let target = home.join(&p);
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::write(&target, subst(&body)).unwrap();
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
                }
            }
            Item::Case(case) => {
                let (capture, command) = match case.command.split_once("=$(") {
                    Some((var, rest))
                        if rest.ends_with(')') && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                    {
                        (Some(var.to_string()), rest[..rest.len() - 1].to_string())
                    }
                    _ => (None, case.command.clone()),
                };
                let mut line = subst(&command);
                for (k, v) in &vars {
                    line = line.replace(&format!("{{{k}}}"), v);
                }
                let words = split_words(&line);
                assert_eq!(words.first().map(String::as_str), Some("xe"), "{}: commands start with xe", path.display());
                let mut child = Command::new(env!("CARGO_BIN_EXE_xe"))
                    .args(&words[1..])
                    .env_clear()
                    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                    .env("HOME", &home)
                    .env("XE_DATA_DIR", home.join(".local/share/xe-rs"))
                    .env("XE_KNOWN_HOSTS", home.join("known_hosts"))
                    .env("RUST_BACKTRACE", "0")
                    .envs(&env)
                    .stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() })
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("xe runs");
                if let (Some(text), Some(mut pipe)) = (stdin.take(), child.stdin.take()) {
                    use std::io::Write;
                    // xe may exit without reading it all.
                    let _ = pipe.write_all(text.as_bytes());
                }
                let output = child.wait_with_output().expect("xe runs");
                let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
                let shown = match &capture {
                    Some(var) => {
                        vars.insert(var.clone(), stdout.trim().to_string());
                        String::new()
                    }
                    None => stdout,
                };
                let actual =
                    render_output(&shown, &String::from_utf8_lossy(&output.stderr), output.status.code().unwrap_or(-1));
                let mut actual = redact(&actual, &home_s, port);
                if redact_uuids {
                    actual = redact_uuid(&actual);
                }
                if actual != case.expected {
                    ok = false;
                    eprintln!(
                        "--- {}\n$ {}\n--- expected\n{}--- actual\n{}",
                        path.display(),
                        case.command,
                        case.expected,
                        actual
                    );
                }
                out.push_str(&format!("$ {}\n{actual}", case.command));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&home);
    (out, ok)
}

fn tempdir(path: &Path) -> PathBuf {
    let stem = path.file_stem().unwrap().to_string_lossy();
    let parent = path.parent().unwrap().file_name().unwrap().to_string_lossy();
    let dir = std::env::temp_dir().join(format!("xe-golden-{}-{parent}-{stem}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "txt") {
            out.push(p);
        }
    }
}

/// Runs every transcript (optionally only those whose path contains `XE_GOLDEN`).
pub fn run_all() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut all = Vec::new();
    files(&root, &mut all);
    let only = std::env::var("XE_GOLDEN").ok();
    let bless = std::env::var_os("XE_BLESS").is_some();
    let mut failed = Vec::new();
    for path in all {
        if only.as_deref().is_some_and(|o| !path.display().to_string().contains(o)) {
            continue;
        }
        let (rendered, ok) = run_file(&path);
        if !ok {
            if bless {
                std::fs::write(&path, rendered).unwrap();
            } else {
                failed.push(path.display().to_string());
            }
        }
    }
    assert!(failed.is_empty(), "golden transcripts differ (rerun with XE_BLESS=1 to rewrite): {failed:#?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(split_words(r#"xe a="b c" 'd e' f\ g"#), vec!["xe", "a=b c", "d e", "f g"]);
        assert_eq!(split_words(r#"xe name-label="x,\\y""#), vec!["xe", r"name-label=x,\y"]);
    }

    #[test]
    fn uuids_are_redacted() {
        assert_eq!(redact_uuid("VM : 3b39ce45-f090-4d74-9fff-0d0a6ced9405 (x)\n"), "VM : [UUID] (x)\n");
        assert_eq!(redact_uuid("no uuid é here"), "no uuid é here");
    }

    #[test]
    fn output_rendering() {
        assert_eq!(render_output("a\n", "b\n", 1), "a\n------- stderr -------\nb\n[exit status: 1]\n");
        assert_eq!(render_output("", "", 0), "");
    }
}
