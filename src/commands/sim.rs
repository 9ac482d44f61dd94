//! `sim://NAME` servers: a background `xapi-sim` per name, started on first
//! use (loopback only, state and generated credentials kept 0600 under the
//! user's data dir), reused afterwards, and stopped with `xe sim-stop`.

use super::{CommandSpec, ExtraSpec};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use crate::output::Printer;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const STOP: ExtraSpec = ExtraSpec {
    spec: CommandSpec {
        name: "sim-stop",
        help: "Stop the background simulated pool started for sim://NAME (name defaults to demo).",
        run: stop,
    },
    reqd: &[],
    optn: &["name", "purge"],
};

pub const LIST: ExtraSpec = ExtraSpec {
    spec: CommandSpec { name: "sim-list", help: "List the simulated pools started with sim://NAME.", run: list },
    reqd: &[],
    optn: &[],
};

/// How to reach a running simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimInfo {
    pub pid: u32,
    pub port: u16,
    pub username: String,
    pub password: String,
}

fn sims_dir() -> PathBuf {
    crate::config::data_dir().join("sims")
}

fn check_name(name: &str) -> CmdResult<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(CliError::failure(format!(
            "Invalid simulator name '{name}': use letters, digits, '-' and '_' (e.g. sim://demo)"
        )));
    }
    Ok(())
}

fn read_info(dir: &Path) -> Option<SimInfo> {
    let text = std::fs::read_to_string(dir.join("info")).ok()?;
    let mut pid = None;
    let mut port = None;
    let mut username = None;
    let mut password = None;
    for line in text.lines() {
        match line.split_once('=') {
            Some(("pid", v)) => pid = v.parse().ok(),
            Some(("port", v)) => port = v.parse().ok(),
            Some(("username", v)) => username = Some(v.to_string()),
            Some(("password", v)) => password = Some(v.to_string()),
            _ => {}
        }
    }
    Some(SimInfo { pid: pid?, port: port?, username: username?, password: password? })
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)?.write_all(text.as_bytes())
}

fn alive(info: &SimInfo) -> bool {
    Path::new(&format!("/proc/{}", info.pid)).exists()
        && std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], info.port).into(), Duration::from_millis(500)).is_ok()
}

fn random_password() -> String {
    let mut bytes = [0u8; 12];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).is_ok();
    if !ok {
        let t = Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id());
        bytes.copy_from_slice(&t.to_le_bytes()[..12]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The simulator binary: beside this executable (and one level up, for test
/// binaries in `target/*/deps`), else on PATH.
fn sim_binary() -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(2) {
            let candidate = dir.join("xapi-sim");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from("xapi-sim")
}

/// Returns the simulator for `name` if it is running; never starts one (shell completion).
pub fn running(name: &str) -> Option<SimInfo> {
    check_name(name).ok()?;
    read_info(&sims_dir().join(name)).filter(alive)
}

/// Returns the simulator for `name`, starting it when it is not running.
pub fn ensure_running(name: &str, printer: &mut Printer) -> CmdResult<SimInfo> {
    check_name(name)?;
    let dir = sims_dir().join(name);
    if let Some(info) = read_info(&dir).filter(alive) {
        return Ok(info);
    }
    std::fs::create_dir_all(&dir).map_err(|e| CliError::failure(format!("cannot create {}: {e}", dir.display())))?;
    let password = random_password();
    let log_path = dir.join("log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| CliError::failure(format!("cannot create {}: {e}", log_path.display())))?;
    let mut cmd = std::process::Command::new(sim_binary());
    cmd.arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--state")
        .arg(dir.join("state"))
        .arg("--user")
        .arg(format!("root:{password}"))
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(|e| CliError::failure(e.to_string()))?)
        .stderr(log);
    // Its own process group, so a Ctrl-C at the terminal does not stop it.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd
        .spawn()
        .map_err(|e| CliError::failure(format!("cannot start the simulator ({}): {e}", sim_binary().display())))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let port = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(port) = text
            .lines()
            .find_map(|l| l.split("http://127.0.0.1:").nth(1))
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse::<u16>().ok())
        {
            break port;
        }
        if Instant::now() > deadline {
            return Err(CliError::failure(format!("the simulator did not start; see {}", log_path.display())));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let info = SimInfo { pid: child.id(), port, username: "root".into(), password };
    write_private(
        &dir.join("info"),
        &format!("pid={}\nport={}\nusername={}\npassword={}\n", info.pid, info.port, info.username, info.password),
    )
    .map_err(|e| CliError::failure(format!("cannot write {}: {e}", dir.join("info").display())))?;
    printer.warn(&format!(
        "Started simulated pool '{name}' at http://127.0.0.1:{port}/ (state in {}); stop it with `xe sim-stop name={name}`",
        dir.display()
    ));
    Ok(info)
}

fn stop(ctx: &mut Context) -> CmdResult {
    let name = ctx.params.get("name").unwrap_or("demo").to_string();
    check_name(&name)?;
    let dir = sims_dir().join(&name);
    let Some(info) = read_info(&dir) else {
        return Err(CliError::failure(format!("No simulated pool named '{name}' is running")));
    };
    if Path::new(&format!("/proc/{}", info.pid)).exists() {
        let _ = std::process::Command::new("kill").arg(info.pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{}", info.pid)).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = std::fs::remove_file(dir.join("info"));
    if ctx.params.flag("purge") {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

fn list(ctx: &mut Context) -> CmdResult {
    let mut names = Vec::new();
    if let Ok(entries) = std::fs::read_dir(sims_dir()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(info) = read_info(&e.path()).filter(alive) {
                names.push(format!("{name} http://127.0.0.1:{}/", info.port));
            }
        }
    }
    names.sort();
    ctx.printer.list(&names);
    Ok(())
}
