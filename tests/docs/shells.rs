//! Completion in real shells, against a simulator served over loopback:
//! bash (its completion function called with `COMP_WORDS` split at `=` as
//! readline splits them, and an interactive bash driven through zsh's `zpty`,
//! pressing Tab), zsh (interactive, through `zpty`) and fish (`complete -C`).
//! A missing shell skips its test with a note; CI installs all three.

// Tests and benchmarks own the terminal and read their switches (XE_BLESS...).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use crate::common;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A simulator, a private home and the environment a shell needs.
struct Setup {
    sim: xapi_sim::Sim,
    home: PathBuf,
    /// `uuid` of the demo pool's `web01`.
    web01: String,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let sim = common::start_sim(false);
        let home = std::env::temp_dir().join(format!("xe-completion-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        let mut s = Setup { sim, home, web01: String::new() };
        let out = s
            .command(env!("CARGO_BIN_EXE_xe"), true)
            .args(["vm-list", "name-label=web01", "params=uuid", "--minimal"])
            .output()
            .unwrap();
        s.web01 = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(s.web01.len(), 36, "web01 uuid: {out:?}");
        s
    }

    /// `XE_EXTRA_ARGS` for the simulator, or for a port nobody listens on.
    fn extra_args(&self, reachable: bool) -> String {
        let port = if reachable {
            self.sim.addr.port()
        } else {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        format!("server=127.0.0.1,port={port},password=xenroot")
    }

    /// A command with `xe` first on PATH, a private HOME, and XE_EXTRA_ARGS.
    fn command(&self, program: &str, reachable: bool) -> Command {
        let bin = Path::new(env!("CARGO_BIN_EXE_xe")).parent().unwrap().to_path_buf();
        let path = std::env::join_paths(
            std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .unwrap();
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", path)
            .env("HOME", &self.home)
            .env("XE_DATA_DIR", self.home.join("data"))
            .env("XE_KNOWN_HOSTS", self.home.join("known_hosts"))
            .env("XE_EXTRA_ARGS", self.extra_args(reachable))
            .env("RUST_BACKTRACE", "0")
            .env("TERM", "dumb")
            .env("LANG", "C.UTF-8")
            .stdin(std::process::Stdio::null());
        c
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn have(shell: &str) -> bool {
    let args: &[&str] = if shell == "timeout" { &["5", "true"] } else { &["-c", "true"] };
    let found = Command::new(shell).args(args).output().is_ok_and(|o| o.status.success());
    if !found {
        println!("note: {shell} is not installed; skipping its completion test (CI installs it)");
    }
    found
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Splits `--- <case>` sections of a shell's output.
fn sections(out: &str) -> Vec<(String, Vec<String>)> {
    let mut v: Vec<(String, Vec<String>)> = Vec::new();
    for line in out.lines() {
        match line.strip_prefix("--- ") {
            Some(case) => v.push((case.to_string(), Vec::new())),
            None => {
                if let Some(last) = v.last_mut() {
                    last.1.push(line.to_string());
                }
            }
        }
    }
    v
}

fn case<'a>(s: &'a [(String, Vec<String>)], name: &str) -> &'a [String] {
    &s.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no case {name:?} in {s:?}")).1
}

/// The bash cases: (COMP_CWORD, COMP_LINE, COMP_WORDS as readline splits them).
const BASH_CASES: &[(usize, &str, &[&str])] = &[
    (1, "xe vm-st", &["xe", "vm-st"]),
    (2, "xe vdi-create ", &["xe", "vdi-create", ""]),
    (2, "xe vm-start ", &["xe", "vm-start", ""]),
    (3, "xe vm-start uuid=", &["xe", "vm-start", "uuid", "="]),
    (4, "xe vm-start vm=we", &["xe", "vm-start", "vm", "=", "we"]),
    (4, "xe vm-list power-state=r", &["xe", "vm-list", "power-state", "=", "r"]),
    (4, "xe vm-list params=uuid,name-", &["xe", "vm-list", "params", "=", "uuid,name-"]),
];

fn bash_script() -> String {
    let mut s = format!("source '{}'\n", root().join("completions/xe.bash").display());
    s.push_str(
        "t() { local cword=$1 line=$2; shift 2; COMP_WORDS=(\"$@\"); COMP_CWORD=$cword; COMP_LINE=$line; \
         COMP_POINT=${#line}; COMPREPLY=(); cur=${COMP_WORDS[COMP_CWORD]}; [[ $cur == [=:] ]] && cur=; \
         _clap_complete_xe xe \"$cur\" \"${COMP_WORDS[COMP_CWORD-1]}\"; \
         printf '%s\\n' \"--- $line\" \"${COMPREPLY[@]}\"; }\n",
    );
    for (cword, line, words) in BASH_CASES {
        let words: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        s.push_str(&format!("t {cword} '{line}' {}\n", words.join(" ")));
    }
    s
}

#[test]
fn bash_completes_commands_parameters_and_server_values() {
    if !have("bash") {
        return;
    }
    let setup = Setup::new("bash");
    let out = setup.command("bash", true).args(["--norc", "--noprofile", "-c", &bash_script()]).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(stderr.is_empty(), "stderr: {stderr}");
    let s = sections(&stdout);
    assert_eq!(case(&s, "xe vm-st"), ["vm-start"]);
    assert_eq!(&case(&s, "xe vdi-create ")[..3], ["sr-uuid=", "name-label=", "virtual-size="], "required first");
    let start = case(&s, "xe vm-start ");
    assert!(start.iter().any(|c| c == "vm=") && start.iter().any(|c| c == "force=") && start.iter().any(|c| c == "-s"));
    // bash split `uuid=` into `uuid` and `=`; readline replaces only what follows the `=`.
    assert!(case(&s, "xe vm-start uuid=").contains(&setup.web01), "{s:?}");
    assert_eq!(case(&s, "xe vm-start vm=we"), ["web01"]);
    assert_eq!(case(&s, "xe vm-list power-state=r"), ["running"]);
    assert_eq!(case(&s, "xe vm-list params=uuid,name-"), ["uuid,name-label", "uuid,name-description"]);

    let out = setup.command("bash", false).args(["--norc", "--noprofile", "-c", &bash_script()]).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(stderr.is_empty(), "stderr: {stderr}");
    let s = sections(&stdout);
    assert!(case(&s, "xe vm-start uuid=").is_empty(), "no values without a server: {s:?}");
    assert_eq!(case(&s, "xe vm-st"), ["vm-start"], "commands still complete");
}

/// Drives an interactive bash (readline) through zsh's zpty: each line is
/// typed, Tab pressed, and a key bound with `bind -x` prints the line.
const BASH_DRIVER: &str = r#"
zmodload zsh/zpty || exit 3
rc=$1; shift
zpty -b z "bash --noprofile --rcfile '$rc' -i"
zpty -w z "echo READ""Y"
zpty -r z out '*READY*' || exit 4
for line in "$@"; do
  zpty -w -n z "$line"$'\t'
  sleep 0.3
  zpty -w -n z $'\C-xd'
  zpty -r z out '*<<BUFFER:*>>*' || exit 5
  print -r -- "--- $line"
  print -r -- "${out//$'\r'/}"
done
zpty -d z
"#;

/// The rc file of the interactive bash: list at once, no pager, our script.
fn bashrc() -> String {
    format!(
        "PS1='% '\nstty rows 1000 columns 160\nbind 'set show-all-if-ambiguous on'\n\
         bind 'set completion-query-items 0'\nbind 'set page-completions off'\n\
         bind 'set enable-bracketed-paste off'\nsource '{}'\n\
         bind -x '\"\\C-xd\": printf \"\\n<<BUFFER:%s>>\\n\" \"$READLINE_LINE\"; READLINE_LINE='\n",
        root().join("completions/xe.bash").display()
    )
}

/// Tab in a real readline, where bash itself splits words at `=` and `:`.
#[test]
fn bash_readline_inserts_values_after_the_equals_sign() {
    if !have("bash") || !have("zsh") || !have("timeout") {
        return;
    }
    let setup = Setup::new("readline");
    let rc = setup.home.join("bashrc");
    std::fs::write(&rc, bashrc()).unwrap();
    let driver = setup.home.join("drive-bash.zsh");
    std::fs::write(&driver, BASH_DRIVER).unwrap();
    let lines = [
        "xe vm-st",
        "xe vm-start uuid=",
        "xe vm-start vm=we",
        "xe vm-list power-state=r",
        "xe vm-list params=uuid,name-",
    ];
    let out = setup
        .command("timeout", true)
        .arg("60")
        .args(["zsh", "-f"])
        .arg(&driver)
        .arg(&rc)
        .args(lines)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "bash driver failed: {:?}\n{stdout}\n{stderr}", out.status);
    let s = sections(&stdout);
    assert_eq!(buffer(case(&s, "xe vm-st")), "xe vm-start ");
    let uuids = case(&s, "xe vm-start uuid=").join("\n");
    assert_eq!(buffer(case(&s, "xe vm-start uuid=")), "xe vm-start uuid=");
    assert!(uuids.contains(&setup.web01) && !uuids.contains(&format!("={}", setup.web01)), "{uuids}");
    assert_eq!(buffer(case(&s, "xe vm-start vm=we")), "xe vm-start vm=web01 ");
    assert_eq!(buffer(case(&s, "xe vm-list power-state=r")), "xe vm-list power-state=running ");
    let params = case(&s, "xe vm-list params=uuid,name-").join("\n");
    assert!(params.contains("uuid,name-label") && params.contains("uuid,name-description"), "{params}");
}

/// Drives an interactive zsh through zpty: each line is typed, Tab pressed,
/// and a widget prints `<<BUFFER:...>>`; the screen text is printed per line.
const ZSH_DRIVER: &str = r#"
zmodload zsh/zpty || exit 3
compdir=$1; shift
zpty -b z 'zsh -f -i'
zpty -w z "PS1='%% '; unsetopt zle_bracketed_paste 2>/dev/null; setopt no_beep"
zpty -w z "fpath=($compdir \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z "stty rows 1000 columns 160; LISTMAX=100000"
zpty -w z "__dump() { print -r -- ''; print -r -- \"<<BUFFER:\$BUFFER>>\"; zle send-break }; zle -N __dump; bindkey '^Xd' __dump"
zpty -w z "print READY"
zpty -r z out '*READY*READY*' || exit 4
for line in "$@"; do
  zpty -w -n z "$line"$'\t'
  sleep 0.3
  zpty -w -n z $'\C-xd'
  zpty -r z out '*<<BUFFER:*>>*' || exit 5
  print -r -- "--- $line"
  print -r -- "${out//$'\r'/}"
done
zpty -d z
"#;

fn zsh_run(setup: &Setup, reachable: bool, lines: &[&str]) -> Vec<(String, Vec<String>)> {
    let driver = setup.home.join("drive.zsh");
    std::fs::write(&driver, ZSH_DRIVER).unwrap();
    let out = setup
        .command("timeout", reachable)
        .arg("60")
        .args(["zsh", "-f"])
        .arg(&driver)
        .arg(root().join("completions"))
        .args(lines)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "zsh driver failed: {:?}\n{stdout}\n{stderr}", out.status);
    sections(&stdout)
}

fn buffer(lines: &[String]) -> String {
    lines.iter().find_map(|l| l.split("<<BUFFER:").nth(1)).and_then(|r| r.split(">>").next()).unwrap_or("").to_string()
}

#[test]
fn zsh_completes_commands_parameters_and_server_values() {
    if !have("zsh") || !have("timeout") {
        return;
    }
    let setup = Setup::new("zsh");
    let lines = [
        "xe vm-st",
        "xe vdi-create ",
        "xe vm-start ",
        "xe vm-start uuid=",
        "xe vm-list power-state=",
        "xe vm-list params=uuid,name-",
        "xe vm-start vm",
    ];
    let s = zsh_run(&setup, true, &lines);
    assert_eq!(buffer(case(&s, "xe vm-st")), "xe vm-start ");
    assert_eq!(buffer(case(&s, "xe vm-start vm")), "xe vm-start vm=", "no space after `=`");
    let screen = |name: &str| case(&s, name).join("\n");
    let vdi = screen("xe vdi-create ");
    assert!(
        vdi.lines().any(|l| l.contains("sr-uuid=") && l.contains("virtual-size=") && l.contains("-- required")),
        "required parameters are described: {vdi}"
    );
    let start = screen("xe vm-start ");
    assert!(start.contains("vm=") && start.contains("force=") && start.contains("selector"), "{start}");
    let uuids = screen("xe vm-start uuid=");
    assert!(
        uuids.lines().any(|l| l.contains(&setup.web01) && l.contains("web01")),
        "uuids are listed with their names: {uuids}"
    );
    let states = screen("xe vm-list power-state=");
    assert!(["halted", "running", "suspended", "paused"].iter().all(|v| states.contains(v)), "{states}");
    let params = screen("xe vm-list params=uuid,name-");
    assert!(params.contains("uuid,name-label") && params.contains("uuid,name-description"), "{params}");

    let s = zsh_run(&setup, false, &["xe vm-start uuid="]);
    let screen = case(&s, "xe vm-start uuid=").join("\n");
    assert_eq!(buffer(case(&s, "xe vm-start uuid=")), "xe vm-start uuid=");
    assert!(!screen.contains(&setup.web01) && !screen.to_lowercase().contains("error"), "{screen}");
}

#[test]
fn fish_completes_commands_parameters_and_server_values() {
    if !have("fish") {
        return;
    }
    let setup = Setup::new("fish");
    let lines =
        ["xe vm-st", "xe vdi-create ", "xe vm-start uuid=", "xe vm-list power-state=", "xe vm-list params=uuid,name-"];
    let mut script = format!("source '{}'\n", root().join("completions/xe.fish").display());
    for l in lines {
        script.push_str(&format!("echo '--- {l}'; complete -C '{l}'\n"));
    }
    let run = |reachable: bool| {
        let out = setup.command("fish", reachable).args(["--no-config", "-c", &script]).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(stderr.is_empty(), "stderr: {stderr}");
        sections(&stdout)
    };
    let s = run(true);
    let values = |name: &str| -> Vec<String> {
        case(&s, name).iter().map(|l| l.split('\t').next().unwrap_or("").to_string()).collect()
    };
    assert_eq!(values("xe vm-st"), ["vm-start"]);
    assert_eq!(&values("xe vdi-create ")[..3], ["sr-uuid=", "name-label=", "virtual-size="]);
    assert!(case(&s, "xe vm-start uuid=").contains(&format!("uuid={}\tweb01", setup.web01)), "{s:?}");
    assert_eq!(
        values("xe vm-list power-state="),
        ["power-state=halted", "power-state=paused", "power-state=running", "power-state=suspended"]
    );
    assert_eq!(values("xe vm-list params=uuid,name-"), ["params=uuid,name-label", "params=uuid,name-description"]);

    let s = run(false);
    assert!(case(&s, "xe vm-start uuid=").is_empty(), "{s:?}");
}

/// The engine itself: values in a bounded number of RPCs, and silence when the server is away.
#[test]
fn complete_makes_three_rpcs_and_is_silent_without_a_server() {
    let setup = Setup::new("engine");
    let ask = |reachable: bool| {
        setup
            .command(env!("CARGO_BIN_EXE_xe"), reachable)
            .args(["__complete", "zsh", "2", "--", "xe", "vm-start", "uuid="])
            .output()
            .unwrap()
    };
    let count = || setup.sim.core.rpc_count.load(std::sync::atomic::Ordering::Relaxed);
    let before = count();
    let out = ask(true);
    let rpcs = count() - before;
    let (stdout, stderr) = text(&out);
    assert!(stdout.contains(&format!("uuid={}\tweb01\n", setup.web01)), "{stdout}");
    assert!(stderr.is_empty());
    assert!(rpcs <= 3, "{rpcs} RPCs for one completion (login, fetch, logout)");
    let out = ask(false);
    assert!(out.status.success());
    assert_eq!(text(&out), (String::new(), String::new()), "no values and nothing on stderr");
    let bad = setup.command(env!("CARGO_BIN_EXE_xe"), true).args(["__complete", "nosuchshell"]).output().unwrap();
    assert_eq!(text(&bad), (String::new(), String::new()));
}

/// Over HTTPS, completion trusts only certificates already pinned (by a normal
/// command, which says so); it never pins one itself.
#[test]
fn complete_over_tls_needs_a_pinned_certificate_and_never_pins() {
    let setup = Setup::new("tls");
    let tls = common::start_sim(true);
    let extra = format!("server=localhost,port={},password=xenroot", tls.addr.port());
    let known_hosts = setup.home.join("known_hosts");
    let run = |args: &[&str]| {
        let mut c = setup.command(env!("CARGO_BIN_EXE_xe"), true);
        c.env("XE_EXTRA_ARGS", &extra).args(args).output().unwrap()
    };
    let complete = ["__complete", "zsh", "2", "--", "xe", "vm-start", "uuid="];
    let out = run(&complete);
    assert_eq!(text(&out), (String::new(), String::new()), "an unknown certificate gives no values");
    assert!(!known_hosts.exists(), "completion pinned a certificate");
    let pinned = run(&["vm-list", "name-label=web01", "params=uuid", "--minimal"]);
    assert!(text(&pinned).1.contains("Pinned the certificate"), "{:?}", text(&pinned));
    let out = run(&complete);
    assert!(text(&out).0.contains("\tweb01\n"), "{:?}", text(&out));
}
