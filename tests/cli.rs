//! The CLI's integration tests: one binary, golden transcripts under
//! `tests/golden/`, each run against a fresh in-process `xapi-sim` serving
//! real HTTP (or HTTPS) on loopback, with the real `xe` binary.

mod common;

use common::golden;

#[test]
fn golden_transcripts() {
    golden::run_all();
}

#[test]
fn every_test_file_is_included() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") {
            assert_eq!(
                name, "cli.rs",
                "tests/{name} would be a second test binary; add it as a module of tests/cli.rs"
            );
        }
    }
}
