//! `dotxe`: the `~/.xe` parser, and settings resolved from it. An input is
//! the file's text, optionally followed by a NUL and the text of
//! `XE_EXTRA_ARGS`.
//!
//! Properties: no panic; the file is used exactly when every non-blank line
//! has a `=`, each line then being a setting or a parameter, in order; and
//! with the file as the only source, the settings are the file's (or the
//! defaults), a bad `port=` being the only refusal. Files naming a password
//! file are parsed but not resolved (resolving reads that file).

use super::{Outcome, Target};
use crate::rng::fnv;
use xe::argv::{self, Globals};
use xe::config::{self, Environment};

pub struct DotXe;

const DICTIONARY: &[&str] = &[
    "\n",
    "\r\n",
    "=",
    "server=",
    "port=",
    "port=443\n",
    "port=65536\n",
    "username=",
    "password=",
    "nossl=",
    "nossl=true\n",
    "debug=",
    "debugonfail=",
    "traceparent=",
    "sr-uuid=",
    "other-config:k=",
    " ",
    "\t",
    "#",
    "\u{0}",
    "\u{1}",
    "\u{feff}",
    "\u{2028}",
    ",",
    "\\,",
    "-s,",
    "-p,",
    "--nossl,",
    "--minimal,",
];

const SEEDS: &[&str] = &[
    "server=pool.example.com\nusername=root\npassword=secret\n",
    "server=h\nport=8443\nnossl=true\ndebug=1\n",
    "sr-uuid=abc\nother-config:k=v=w\n\n   \nserver=x\n",
    "junk\nserver=x\n",
    "server=rc\nport=1\nusername=rcuser\nsr-uuid=abc\n\0server=env,port=2",
    "port=x\n",
    "\r\nserver=a\r\n",
    "=\n==\n",
    "traceparent=00-abc-def-01\ndebugonfail=yes\n\0-s,host,--nossl,--minimal,a\\,b=c",
    "",
];

impl Target for DotXe {
    fn name(&self) -> &'static str {
        "dotxe"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn dictionary(&self) -> Vec<Vec<u8>> {
        super::tokens(DICTIONARY)
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        let (rc, extra) = match input.iter().position(|&b| b == 0) {
            Some(i) => (&input[..i], Some(&input[i + 1..])),
            None => (input, None),
        };
        let Ok(text) = std::str::from_utf8(rc) else {
            // xe refuses a file that is not UTF-8 before parsing it.
            let env = Environment { not_utf8: vec!["~/.xe".into()], ..Environment::default() };
            return match config::resolve(invocation(), &env) {
                Err(_) => Ok(1),
                Ok(_) => Err("settings resolved from a ~/.xe that is not UTF-8".to_string()),
            };
        };
        let extra = extra.map(|e| String::from_utf8_lossy(e).into_owned());
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let parsed = config::parse_rc(text);
        match &parsed {
            None if lines.iter().all(|l| l.contains('=')) => return Err("a file of key=value lines is ignored".into()),
            Some(_) if !lines.iter().all(|l| l.contains('=')) => {
                return Err("a file with a line without `=` is used".into());
            }
            Some((_, params)) => {
                let want: Vec<(String, String)> = lines
                    .iter()
                    .filter_map(|l| l.split_once('='))
                    .filter(|(k, v)| !Globals::default().set(k, v))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                if *params != want {
                    return Err(format!("parameters {params:?}, the lines give {want:?}"));
                }
            }
            None => {}
        }
        let _ = extra.as_deref().map(argv::split_extra_args);
        let reads_file = |t: &str| t.contains("passwordfile") || t.contains("-pwf");
        if reads_file(text) || extra.as_deref().is_some_and(reads_file) {
            return Ok(fnv(b"password file") ^ u64::from(parsed.is_some()));
        }
        let env = Environment { rc_text: Some(text.to_string()), extra_args: extra.clone(), ..Environment::default() };
        let resolved = config::resolve(invocation(), &env);
        if extra.is_none() {
            let g = parsed.as_ref().map(|(g, _)| g.clone()).unwrap_or_default();
            let bad_port = g.port.as_deref().is_some_and(|p| p.parse::<u16>().is_err());
            match &resolved {
                Err(_) if bad_port => {}
                Err(e) => return Err(format!("settings refused: {e:?}")),
                Ok(_) if bad_port => return Err(format!("port {:?} accepted", g.port)),
                Ok(r) => {
                    let s = &r.settings;
                    let fine = s.server == g.server.as_deref().unwrap_or("127.0.0.1")
                        && g.port.as_deref().is_none_or(|p| p.parse() == Ok(s.port))
                        && s.username == g.username.as_deref().unwrap_or("root")
                        && s.password == g.password
                        && r.invocation.params == parsed.as_ref().map(|(_, p)| p.clone()).unwrap_or_default()
                        && r.warnings.len() == usize::from(parsed.is_none());
                    if !fine {
                        return Err(format!("file {g:?} resolved as {s:?}, warnings {:?}", r.warnings));
                    }
                }
            }
        }
        let kind = format!("{} {} {}", parsed.is_some(), resolved.is_ok(), lines.len().min(4));
        Ok(fnv(kind.as_bytes()))
    }
}

/// The command line the settings are resolved for.
fn invocation() -> argv::Invocation {
    argv::parse(&["vm-list".to_string()]).unwrap_or_default()
}
