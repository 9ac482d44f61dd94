//! `argv`: xe's argument grammar, parsed only (no command runs). An input
//! is a command line, its words separated by NUL bytes (which no argument
//! can hold), each made UTF-8 as `xe` insists.
//!
//! Properties: no panic; the command clap reads is the one `normalise`
//! found; a bad port names a `-p` value that is no port; and a parsed line
//! written back in xe's canonical spelling (settings as `key=value`, then
//! the command, then its parameters, `--name` for `name=true`) parses to the
//! same invocation. The command's lookups (`resolve`, required parameters,
//! now and then clap's suggestion from the whole command tree) and the
//! other word splitters (`XE_EXTRA_ARGS`, the completion's shell line) run
//! on the same words.

use super::{Outcome, Target};
use crate::rng::{fnv, Rng};
use xe::argv::{self, ArgError, Invocation};

#[derive(Default)]
pub struct Argv {
    /// The whole command tree, built once (and checked by clap then), for the suggestions.
    tree: Option<clap::Command>,
    thorough: bool,
}

/// Words with a meaning of their own to xe's grammar.
const WORDS: &[&str] = &[
    "--minimal",
    "--multiple",
    "--force",
    "--help",
    "-help",
    "--version",
    "-version",
    "--nossl",
    "--debug",
    "--debug-on-fail",
    "--insecure",
    "--",
    "-",
    "",
    "-s",
    "-h",
    "-p",
    "-u",
    "-pw",
    "-pwf",
    "--traceparent",
    "-x",
    "-p=1",
    "--a=b",
    "--flag=x",
    "server=h",
    "port=80",
    "port=x",
    "username=u",
    "password=p",
    "nossl=true",
    "debug=1",
    "debugonfail=yes",
    "traceparent=00-x",
    "=",
    "=v",
    "params=all",
    "other-config:key=v=w",
    "device-config:",
    "name-label=\"quoted value\"",
    "name-label='single'",
    "uuid=",
    "vm=ünïcödé",
    "host=\u{1F600}",
    "sr-uuid=\u{0}",
    "help",
    "80",
    "65536",
    "bare",
];

/// A plausible line: settings and flags around a real command and its parameters.
fn line(rng: &mut Rng) -> Vec<String> {
    let fact = rng.pick(xe::facts::COMMANDS);
    let mut words = Vec::new();
    for _ in 0..rng.below(3) {
        match rng.below(4) {
            0 => words.extend(["-s".to_string(), "host1".to_string()]),
            1 => words.extend(["-p".to_string(), rng.pick(&["443", "80", "x"]).to_string()]),
            2 => words.push("server=h".to_string()),
            _ => words.push(rng.pick(WORDS).to_string()),
        }
    }
    words.push(fact.name.to_string());
    for p in fact.reqd.iter().chain(fact.optn.iter().take(3)) {
        if rng.one_in(3) {
            continue;
        }
        let value = rng.pick(&["x", "", "a=b", "OpaqueRef:NULL", "true", "1 GiB", "é"]);
        words.push(if p.ends_with(':') { format!("{p}k={value}") } else { format!("{p}={value}") });
    }
    for _ in 0..rng.below(3) {
        words.push(rng.pick(WORDS).to_string());
    }
    words
}

fn join(words: &[String]) -> Vec<u8> {
    words.join("\0").into_bytes()
}

/// The words of an input.
pub fn words(input: &[u8]) -> Vec<String> {
    input.split(|&b| b == 0).map(|w| String::from_utf8_lossy(w).into_owned()).collect()
}

/// Options spelled `--name` that are not the parameter `name=true`.
const OPTIONS: &[&str] = &["nossl", "debug", "debug-on-fail", "insecure", "help", "version", "traceparent", "timeout"];

/// The invocation in xe's canonical spelling.
fn render(inv: &Invocation) -> Vec<String> {
    let g = &inv.globals;
    let mut out = Vec::new();
    let text = [
        ("server", &g.server),
        ("port", &g.port),
        ("username", &g.username),
        ("password", &g.password),
        ("passwordfile", &g.passwordfile),
        ("traceparent", &g.traceparent),
    ];
    for (k, v) in text {
        if let Some(v) = v {
            out.push(format!("{k}={v}"));
        }
    }
    for (k, v) in [("nossl", g.nossl), ("debug", g.debug), ("debugonfail", g.debug_on_fail)] {
        if let Some(b) = v {
            out.push(format!("{k}={b}"));
        }
    }
    if g.insecure == Some(true) {
        out.push("--insecure".to_string());
    }
    if let Some(t) = &g.timeout {
        out.push("--timeout".to_string());
        out.push(t.clone());
    }
    if inv.help {
        out.push("--help".to_string());
    }
    if inv.version {
        out.push("--version".to_string());
    }
    out.extend(inv.command.clone());
    for (k, v) in &inv.params {
        out.push(if v == "true" && !OPTIONS.contains(&k.as_str()) {
            format!("--{k}")
        } else if v.is_empty() && !(k.starts_with('-') && k.len() > 1) {
            k.clone()
        } else {
            format!("{k}={v}")
        });
    }
    out
}

impl Target for Argv {
    fn name(&self) -> &'static str {
        "argv"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        let mut rng = Rng::new(41);
        let mut seeds: Vec<Vec<u8>> = (0..160).map(|_| join(&line(&mut rng))).collect();
        seeds.push(join(&[
            "vm-list".into(),
            "power-state=running".into(),
            "params=uuid,name-label".into(),
            "--minimal".into(),
        ]));
        seeds.push(join(&[
            "-h".into(),
            "h".into(),
            "vm-start".into(),
            "vm=a".into(),
            "--multiple".into(),
            "--force".into(),
        ]));
        seeds
    }

    fn dictionary(&self) -> Vec<Vec<u8>> {
        let mut d: Vec<Vec<u8>> = WORDS.iter().map(|w| format!("\0{w}").into_bytes()).collect();
        d.extend(xe::facts::COMMANDS.iter().step_by(7).map(|c| format!("\0{}", c.name).into_bytes()));
        d.extend([&b"\0"[..], b"=", b":", b"\"", b"'", b"\\", b",", b" ", b"\xff", b"\xe2\x82"].map(<[u8]>::to_vec));
        d
    }

    fn thorough(&mut self) {
        self.thorough = true;
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        let args = words(input);
        let parsed = argv::parse(&args);
        let (_, name) = argv::normalise(&args);
        match &parsed {
            Ok(inv) => {
                if inv.command != name {
                    return Err(format!(
                        "clap read the command {:?}, normalise found {name:?} in {args:?}",
                        inv.command
                    ));
                }
                let again = render(inv);
                let reparsed = argv::parse(&again);
                if reparsed.as_ref() != Ok(inv) {
                    return Err(format!(
                        "{args:?} parses as {inv:?}; written back as {again:?} it parses as {reparsed:?}"
                    ));
                }
                if let Some(name) = &inv.command {
                    let _ = xe::commands::resolve(name);
                    let _ = xe::commands::required_params(name);
                    // What `commands::suggestion` does, on a tree built once (cloning it
                    // costs some 20 ms in a debug build): in a run, for one input in 64.
                    if self.thorough || fnv(input) % 64 == 0 {
                        let tree = self.tree.get_or_insert_with(|| {
                            let names = xe::commands::help::all_command_names();
                            let mut tree = argv::tree(names.iter().map(String::as_str));
                            tree.build();
                            tree
                        });
                        let _ = argv::suggestion(tree.clone(), name);
                    }
                }
            }
            Err(ArgError::BadPort(p)) => {
                if !args.windows(2).any(|w| w[0] == "-p" && w[1] == *p) || p.parse::<u16>().is_ok() {
                    return Err(format!("bad port {p:?} reported for {args:?}"));
                }
            }
            Err(ArgError::Syntax) => {}
        }
        let line = args.join(" ");
        let _ = argv::split_extra_args(&args.join(","));
        let _ = argv::split_shell_line(&line);
        let kind = match &parsed {
            Ok(inv) => format!("ok {} {} {}", inv.command.is_some(), inv.params.len().min(4), inv.help),
            Err(e) => format!("{e:?}").chars().take(12).collect(),
        };
        let known = name.filter(|n| xe::commands::resolve(n).is_some()).unwrap_or_default();
        Ok(fnv(kind.as_bytes()) ^ fnv(known.as_bytes()).rotate_left(7))
    }
}
