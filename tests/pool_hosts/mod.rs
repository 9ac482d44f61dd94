//! A pool whose hosts each answer on their own loopback address: xe pointed
//! at a member follows its HOST_IS_SLAVE to the master, over HTTP and over
//! HTTPS (pinning each host's certificate under its own address).

use std::process::{Command, Stdio};

#[test]
fn xe_at_a_member_follows_it_to_the_master() {
    for tls in [false, true] {
        let sim = crate::common::start_sim(tls);
        let home = std::env::temp_dir().join(format!("xe-pool-hosts-{tls}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        let port = sim.addr.port().to_string();
        let mut c = Command::new(env!("CARGO_BIN_EXE_xe"));
        c.args(["-s", "127.0.0.12", "-p", &port, "-u", "root", "-pw", "xenroot"]);
        if !tls {
            c.arg("--nossl");
        }
        c.args(["host-list", "params=name-label,address", "--minimal"])
            .env("HOME", &home)
            .env("XE_KNOWN_HOSTS", home.join("known_hosts"))
            .env_remove("XE_EXTRA_ARGS")
            .stdin(Stdio::null());
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "tls={tls}: {err}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "xs-host-1,xs-host-2,xs-host-3", "tls={tls}");
        if tls {
            // Each host's certificate is pinned under its own address.
            for address in ["127.0.0.12", "127.0.0.11"] {
                assert!(err.contains(&format!("{address}:{port}")), "tls: {err}");
            }
        }
        let _ = std::fs::remove_dir_all(&home);
    }
}
