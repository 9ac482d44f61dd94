//! Simulator processes behind `sim://NAME`: one background `xapi-sim` per
//! name, started on first use (loopback only, state and generated
//! credentials kept 0600 under the user's data dir), reused afterwards,
//! listed and stopped by `xe sim-list` / `xe sim-stop`. It needs only the
//! settings and the printer, so `connect` can start one without going
//! through the command layer.

use crate::error::CliError;
use crate::output::Printer;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How to reach a running simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimInfo {
    pub pid: u32,
    pub port: u16,
    pub username: String,
    pub password: String,
}

/// Where the simulators' directories live.
pub fn sims_dir() -> PathBuf {
    crate::config::data_dir().join("sims")
}

/// Checks a simulator name (it becomes a directory name).
pub fn check_name(name: &str) -> Result<(), CliError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(CliError::failure(format!(
            "Invalid simulator name '{name}': use letters, digits, '-' and '_' (e.g. sim://demo)"
        )));
    }
    Ok(())
}

/// `key=value` lines of a small file.
fn read_pairs(path: &Path) -> Option<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

/// What was recorded about the simulator in `dir`, if anything.
pub fn read_info(dir: &Path) -> Option<SimInfo> {
    let pairs = read_pairs(&dir.join("info"))?;
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    Some(SimInfo {
        pid: get("pid")?.parse().ok()?,
        port: get("port")?.parse().ok()?,
        username: get("username")?,
        password: get("password")?,
    })
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)?.write_all(text.as_bytes())
}

/// Whether the process exists (`kill -0`, which signals nothing).
fn process_exists(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the recorded simulator still runs and listens.
pub fn alive(info: &SimInfo) -> bool {
    process_exists(info.pid)
        && std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], info.port).into(), Duration::from_millis(500)).is_ok()
}

/// A password from the operating system's random source.
fn random_password() -> Result<String, CliError> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| CliError::failure(format!("cannot make a password for the simulator: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
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
pub fn ensure_running(name: &str, printer: &mut Printer) -> Result<SimInfo, CliError> {
    check_name(name)?;
    let dir = sims_dir().join(name);
    if let Some(info) = read_info(&dir).filter(alive) {
        return Ok(info);
    }
    let fail = |what: &str, path: &Path, e: std::io::Error| {
        CliError::failure(format!("cannot {what} {}: {e}", path.display()))
    };
    std::fs::create_dir_all(&dir).map_err(|e| fail("create", &dir, e))?;
    let password = random_password()?;
    let log_path = dir.join("log");
    let ready = dir.join("ready");
    let _ = std::fs::remove_file(&ready);
    let log = std::fs::File::create(&log_path).map_err(|e| fail("create", &log_path, e))?;
    let mut cmd = Command::new(sim_binary());
    cmd.arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--state")
        .arg(dir.join("state"))
        .arg("--user")
        .arg(format!("root:{password}"))
        .arg("--ready-file")
        .arg(&ready)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| fail("open", &log_path, e))?)
        .stderr(log);
    // Its own process group, so a Ctrl-C at the terminal does not stop it.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .map_err(|e| CliError::failure(format!("cannot start the simulator ({}): {e}", sim_binary().display())))?;
    // The handshake: the simulator writes its port to the ready file once it listens.
    let deadline = Instant::now() + Duration::from_secs(30);
    let port = loop {
        let pairs = read_pairs(&ready).unwrap_or_default();
        if let Some(port) = pairs.iter().find(|(k, _)| k == "port").and_then(|(_, v)| v.parse::<u16>().ok()) {
            break port;
        }
        let exited = child.try_wait().ok().flatten().is_some();
        if exited || Instant::now() > deadline {
            return Err(CliError::failure(format!("the simulator did not start; see {}", log_path.display())));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let info = SimInfo { pid: child.id(), port, username: "root".into(), password };
    let info_path = dir.join("info");
    write_private(
        &info_path,
        &format!("pid={}\nport={}\nusername={}\npassword={}\n", info.pid, info.port, info.username, info.password),
    )
    .map_err(|e| fail("write", &info_path, e))?;
    printer.warn(&format!(
        "Started simulated pool '{name}' at http://127.0.0.1:{port}/ (state in {}); stop it with `xe sim-stop name={name}`",
        dir.display()
    ));
    Ok(info)
}

/// Stops the simulator for `name` and forgets it (its state too with `purge`).
pub fn stop(name: &str, purge: bool) -> Result<(), CliError> {
    check_name(name)?;
    let dir = sims_dir().join(name);
    let Some(info) = read_info(&dir) else {
        return Err(CliError::failure(format!("No simulated pool named '{name}' is running")));
    };
    if process_exists(info.pid) {
        let _ = Command::new("kill").arg(info.pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_exists(info.pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = std::fs::remove_file(dir.join("info"));
    let _ = std::fs::remove_file(dir.join("ready"));
    if purge {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// `(name, port)` of every running simulator, by name.
pub fn list() -> Vec<(String, u16)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(sims_dir()) {
        for e in entries.flatten() {
            if let Some(info) = read_info(&e.path()).filter(alive) {
                out.push((e.file_name().to_string_lossy().into_owned(), info.port));
            }
        }
    }
    out.sort();
    out
}
