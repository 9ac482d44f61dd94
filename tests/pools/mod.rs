//! Pools whose master changes under a running script: `tests/pools/master-change`
//! keeps talking to the first master's address while the role moves to
//! another host, and xe follows the move (HOST_IS_SLAVE to the new master)
//! without the script noticing.

use std::path::Path;
use std::process::Command;

fn xe(home: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_xe"))
        .args(args)
        .env("HOME", home)
        .env_remove("XE_EXTRA_ARGS")
        .env("XE_KNOWN_HOSTS", home.join("known_hosts"))
        .output()
        .unwrap();
    assert!(out.status.success(), "xe {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_master_change_mid_script_is_followed() {
    let sim = crate::common::start_sim(false);
    let home = std::env::temp_dir().join(format!("xe-pools-master-change-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    // The script talks to the first master's own address, never to the front door.
    let rc = format!("server=127.0.0.11\nport={}\nusername=root\npassword=xenroot\nnossl=true\n", sim.addr.port());
    std::fs::write(home.join(".xe"), rc).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(home.join(".xe"), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let halted = xe(&home, &["vm-list", "power-state=halted", "params=name-label", "--minimal"]);
    let names: Vec<&str> = halted.split(',').filter(|s| !s.is_empty()).collect();
    assert!(!names.is_empty(), "the demo pool has halted VMs to cycle");
    let new_master = xe(&home, &["host-list", "name-label=xs-host-2", "--minimal"]);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pools/master-change");
    let out = Command::new("bash")
        .arg(script)
        .arg(&new_master)
        .env("XE", env!("CARGO_BIN_EXE_xe"))
        .env("HOME", &home)
        .env("XE_KNOWN_HOSTS", home.join("known_hosts"))
        .env_remove("XE_EXTRA_ARGS")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    // Three rounds; the hand-over comes between the first and the second.
    assert_eq!(lines.iter().filter(|l| l.starts_with("cycled ")).count(), 3 * names.len(), "{text}");
    assert_eq!(lines.get(names.len()), Some(&"master handed over"), "{text}");
    assert_eq!(lines.last().copied(), Some(format!("master: {new_master}").as_str()), "{text}");
    // The old master's address now answers as a member, naming the new one.
    let master_address = {
        let db = sim.core.db.read();
        db.string(&xapi_sim::rules::pool::master(&db), "address")
    };
    assert_eq!(master_address, "127.0.0.12");
    assert_eq!(xe(&home, &["vm-list", "power-state=halted", "params=name-label", "--minimal"]), halted);
    let _ = std::fs::remove_dir_all(&home);
}
