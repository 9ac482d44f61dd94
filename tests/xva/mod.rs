//! `vm-export` and its kin with the real `xe` against a simulator, over
//! HTTP and HTTPS: the XVA lands in a file (mode 0600, ova.xml first) or on
//! stdout, an existing file is never overwritten, a failed export leaves no
//! partial file, and `--multiple` names the files `f`, `f2`, `f3`...

use crate::common::{scratch as scratch_in, xe_home as xe};
use std::path::PathBuf;
use std::process::Command;

fn run(mut c: Command) -> (bool, String, String) {
    let o = c.output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The member names of a plain tar, in order.
fn members(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 512 <= bytes.len() && bytes[pos] != 0 {
        let h = &bytes[pos..pos + 512];
        out.push(String::from_utf8_lossy(&h[..100]).trim_end_matches('\0').to_string());
        let size = usize::from_str_radix(std::str::from_utf8(&h[124..135]).unwrap(), 8).unwrap();
        pos += 512 + size.div_ceil(512) * 512;
    }
    out
}

#[test]
fn vm_export_to_a_file_and_to_stdout_over_http_and_https() {
    for tls in [false, true] {
        let sim = crate::common::start_sim(tls);
        let dir = scratch(if tls { "https" } else { "http" });
        let x = xe(&sim, &dir);
        let file = dir.join("vm.xva");
        let name = format!("filename={}", file.display());
        let (ok, out, err) = run(x(&["vm-export", "vm=test-halted", &name]));
        assert!(ok, "{err}");
        assert_eq!(out, "Export succeeded\n");
        let bytes = std::fs::read(&file).unwrap();
        let names = members(&bytes);
        assert_eq!(names[0], "ova.xml");
        assert!(names.iter().skip(1).all(|n| n.starts_with("Ref:")), "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        // Never overwritten.
        let (ok, _, err) = run(x(&["vm-export", "vm=test-halted", &name]));
        assert!(!ok && err.contains("File exists"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap().len(), bytes.len());
        // Standard output: the same archive, and no "succeeded" line in it.
        let o = x(&["vm-export", "vm=test-halted", "filename="]).output().unwrap();
        let (ok, out, err) = (o.status.success(), o.stdout, String::from_utf8_lossy(&o.stderr).into_owned());
        assert!(ok, "{err}");
        // (ova.xml's ids differ from one export to the next, so its length may too.)
        assert_eq!(members(&out).len(), names.len());
        assert_eq!(out[out.len() - 1024..], [0u8; 1024]);
        // Compressed and metadata-only.
        let gz = dir.join("vm.xva.gz");
        let (ok, _, err) =
            run(x(&["vm-export", "vm=test-halted", &format!("filename={}", gz.display()), "compress=true"]));
        assert!(ok, "{err}");
        assert_eq!(&std::fs::read(&gz).unwrap()[..2], &[0x1f, 0x8b]);
        let meta = dir.join("meta.xva");
        let (ok, _, err) = run(x(&["vm-export", "vm=web01", &format!("filename={}", meta.display()), "metadata=true"]));
        assert!(ok, "{err}");
        assert_eq!(members(&std::fs::read(&meta).unwrap()), ["ova.xml"]);
    }
}

#[test]
fn a_failed_export_leaves_no_file_and_multiple_names_the_files() {
    let sim = crate::common::start_sim(false);
    let dir = scratch("failures");
    let x = xe(&sim, &dir);
    let file = dir.join("running.xva");
    let (ok, out, err) = run(x(&["vm-export", "vm=web01", &format!("filename={}", file.display())]));
    assert!(!ok);
    assert_eq!(out, "");
    assert!(err.contains("The VM is not in a power state that allows this operation."), "{err}");
    assert!(!file.exists(), "the partial file is removed");
    let (ok, _, _) = run(x(&["task-list", "--minimal"]));
    assert!(ok);

    // Two halted VMs with --multiple: f, then f2.
    let (ok, _, err) = run(x(&["vm-copy", "vm=test-halted", "new-name-label=test-halted copy"]));
    assert!(ok, "{err}");
    let base = dir.join("f.xva");
    let (ok, out, err) =
        run(x(&["vm-export", "power-state=halted", "--multiple", &format!("filename={}", base.display())]));
    assert!(ok, "{err}");
    assert_eq!(out, "Export succeeded\nExport succeeded\n");
    assert!(base.exists() && dir.join("f.xva2").exists());
    assert!(!dir.join("f.xva3").exists());
}

fn scratch(name: &str) -> PathBuf {
    scratch_in("xva", name)
}
