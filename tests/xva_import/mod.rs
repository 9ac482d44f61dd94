//! `vm-import` with the real `xe` against a simulator, over HTTP and HTTPS:
//! archives laid out as xapi writes them (`xapi_sim::xva::import::sample`),
//! plain, gzip and zstd, into the default SR or a named one, `preserve`,
//! `force`, metadata imports with a `vdi:` map and `dry-run`; the disks
//! read back with `vdi-export`.

use crate::common::{ok, scratch as scratch_in, xe_home as xe};
use std::path::{Path, PathBuf};
use std::process::Command;
use xapi_sim::xva::import::sample::{compress, Disk, Sample};

const MIB: usize = 1 << 20;

fn fails(mut c: Command) -> String {
    let o = c.output().unwrap();
    assert!(!o.status.success(), "{c:?} should fail");
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

fn disks() -> Vec<Disk> {
    let mut big: Vec<u8> = (0..MIB + 777).map(|i| (i * 7 % 251) as u8 | 1).collect();
    big.resize(3 * MIB + 5, 0);
    big.extend_from_slice(b"last bytes of the disk");
    vec![
        Disk { id: "Ref:10".into(), size: (4 * MIB) as u64, device: "0".into(), data: big },
        Disk { id: "Ref:9".into(), size: (2 * MIB + 512) as u64, device: "1".into(), data: b"data disk".to_vec() },
    ]
}

/// Writes an archive into `dir` and returns its path as text.
fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

/// Checks a VM's disks against `disks()` through `vdi-export`; returns its VDIs' uuids.
fn check_disks(x: &impl Fn(&[&str]) -> Command, dir: &Path, vm: &str, sr: &str) -> Vec<String> {
    let mut vdis = Vec::new();
    for d in disks() {
        let vdi = ok(x(&[
            "vbd-list",
            &format!("vm-uuid={vm}"),
            &format!("userdevice={}", d.device),
            "params=vdi-uuid",
            "--minimal",
        ]));
        assert_eq!(ok(x(&["vdi-param-get", &format!("uuid={vdi}"), "param-name=sr-uuid"])), sr);
        let out = dir.join(format!("{vdi}.raw"));
        ok(x(&["vdi-export", &format!("uuid={vdi}"), &format!("filename={}", out.display())]));
        let got = std::fs::read(&out).unwrap();
        let mut want = d.data.clone();
        want.resize(d.size as usize, 0);
        assert_eq!(&got[..want.len()], &want[..], "disk {}", d.device);
        assert!(got[want.len()..].iter().all(|&b| b == 0));
        vdis.push(vdi);
    }
    vdis
}

#[test]
fn plain_gzip_and_zstd_archives_import_over_http_and_https() {
    for tls in [false, true] {
        let sim = crate::common::start_sim(tls);
        let dir = scratch(if tls { "https" } else { "http" });
        let x = xe(&sim, &dir);
        let pool = ok(x(&["pool-list", "--minimal"]));
        let default = ok(x(&["pool-param-get", &format!("uuid={pool}"), "param-name=default-SR"]));
        for kind in ["plain", "gzip", "zstd"] {
            let sample = Sample::new(&format!("imported {kind}"), disks());
            let file = write(&dir, &format!("{kind}.xva"), &compress(kind, &sample.xva()));
            let vm = ok(x(&["vm-import", &format!("filename={file}")]));
            assert_eq!(
                ok(x(&["vm-param-get", &format!("uuid={vm}"), "param-name=name-label"])),
                format!("imported {kind}")
            );
            assert_eq!(ok(x(&["vm-param-get", &format!("uuid={vm}"), "param-name=power-state"])), "halted");
            assert_ne!(vm, sample.uuid, "a new VM gets a new uuid");
            check_disks(&x, &dir, &vm, &default);
            let vifs = ok(x(&["vif-list", &format!("vm-uuid={vm}"), "params=network-name-label", "--minimal"]));
            assert_eq!(vifs, "Pool-wide network associated with eth0");
        }
        // Into a named SR; `preserve` keeps the exported uuid.
        let nfs = ok(x(&["sr-list", "name-label=NFS virtual disk storage", "--minimal"]));
        let sample = Sample::new("preserved", disks());
        let file = write(&dir, "preserved.xva", &sample.xva());
        let vm = ok(x(&["vm-import", &format!("filename={file}"), &format!("sr-uuid={nfs}"), "preserve=true"]));
        assert_eq!(vm, sample.uuid);
        check_disks(&x, &dir, &vm, &nfs);
    }
}

#[test]
fn a_corrupt_archive_fails_unless_forced_and_metadata_maps_disks() {
    let sim = crate::common::start_sim(false);
    let dir = scratch("corrupt");
    let x = xe(&sim, &dir);
    let vms_before = ok(x(&["vm-list", "--minimal"]));
    let mut corrupt = Sample::new("corrupt", disks());
    corrupt.corrupt = Some("Ref:10/00000003".into());
    let file = write(&dir, "corrupt.xva", &corrupt.xva());
    let err = fails(x(&["vm-import", &format!("filename={file}")]));
    assert!(err.starts_with("Error code: IMPORT_ERROR_GENERIC"), "{err}");
    assert!(err.contains("Block Ref:10/00000003 checksum failed"), "{err}");
    assert_eq!(ok(x(&["vm-list", "--minimal"])), vms_before, "nothing is left behind");
    let vm = ok(x(&["vm-import", &format!("filename={file}"), "force=true"]));
    let vdis = check_disks(&x, &dir, &vm, &ok(x(&["pool-list", "params=default-SR", "--minimal"])));

    // Metadata only, its disks mapped onto those just imported.
    let mut meta = Sample::new("from metadata", disks());
    meta.metadata_only = true;
    let file = write(&dir, "meta.xva", &meta.xva());
    let map0 = format!("vdi:a1b2c3d4-0000-4000-8000-000000000000={}", vdis[0]);
    let map1 = format!("vdi:a1b2c3d4-0000-4000-8000-000000000001={}", vdis[1]);
    let name = format!("filename={file}");
    let dry = ok(x(&["vm-import", &name, "metadata=true", "dry-run=true", &map0, &map1]));
    assert_eq!(dry, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
    let err = fails(x(&["vm-import", &name, "metadata=true"]));
    assert!(err.starts_with("Error code: VDI_CONTENT_ID_MISSING"), "{err}");
    let vm = ok(x(&["vm-import", &name, "metadata=true", &map0, &map1]));
    let used = ok(x(&["vbd-list", &format!("vm-uuid={vm}"), "type=Disk", "params=vdi-uuid", "--minimal"]));
    let mut used: Vec<&str> = used.split(',').collect();
    used.sort_unstable();
    let mut want: Vec<&str> = vdis.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(used, want);
}

fn scratch(name: &str) -> PathBuf {
    scratch_in("xva-import", name)
}
