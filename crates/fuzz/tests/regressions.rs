//! Every input the fuzzer once found a problem with, replayed: they live in
//! `regressions/<target>/` (copied from `findings/` once fixed), and each
//! must now pass its target's properties without a panic.

use std::path::Path;

#[test]
fn saved_findings_stay_fixed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut replayed = 0;
    for name in xe_fuzz::NAMES {
        let dir = root.join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<_> =
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "bin")).collect();
        files.sort();
        let mut target = xe_fuzz::target(name).expect("a known target");
        target.thorough();
        for file in files {
            let input = std::fs::read(&file).expect("a readable regression input");
            // A panic fails the test with its own message.
            if let Err(why) = target.run(&input) {
                panic!("{}: {why}", file.display());
            }
            replayed += 1;
        }
    }
    // Directories for unknown targets would be silently skipped: refuse them.
    for entry in std::fs::read_dir(&root).expect("the regressions directory").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(xe_fuzz::NAMES.contains(&name.as_str()) || !entry.path().is_dir(), "regressions/{name} is no target");
    }
    assert!(replayed > 0, "no regression input was replayed");
}
