//! Generated files and what uses them: `completions/` and `man/` match what
//! `src/docs` renders (`XE_BLESS=1` rewrites them), the man pages render
//! without warnings, and completion works in real bash, zsh and fish against
//! a simulator ([`shells`]).

// Tests and benchmarks own the terminal and read their switches (XE_BLESS...).
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod shells;

use std::path::Path;

const REGENERATE: &str = "XE_BLESS=1 cargo test --test cli docs::generated_files_are_fresh";

#[test]
fn generated_files_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var_os("XE_BLESS").is_some_and(|v| v == "1");
    let files = xe::docs::generated_files();
    let mut stale = Vec::new();
    for (path, text) in &files {
        let on_disk = std::fs::read_to_string(root.join(path)).ok();
        if on_disk.as_deref() != Some(text.as_str()) {
            if bless {
                let full = root.join(path);
                std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                std::fs::write(&full, text).unwrap();
            } else {
                stale.push(path.clone());
            }
        }
    }
    // Files nobody generates any more (e.g. a command family that went away).
    for dir in ["completions", "man"] {
        for entry in std::fs::read_dir(root.join(dir)).into_iter().flatten().flatten() {
            let path = format!("{dir}/{}", entry.file_name().to_string_lossy());
            if !files.iter().any(|(p, _)| *p == path) {
                if bless {
                    std::fs::remove_file(entry.path()).unwrap();
                } else {
                    stale.push(format!("{path} (no longer generated)"));
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "generated files are out of date: {}\nregenerate them with `{REGENERATE}`",
        stale.join(", ")
    );
}

#[test]
fn man_pages_render_without_warnings() {
    if std::process::Command::new("man").arg("--version").output().is_err() {
        println!("note: `man` is not installed; skipping the man page rendering check");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages: Vec<String> = std::fs::read_dir(root.join("man"))
        .unwrap()
        .flatten()
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".1"))
        .collect();
    pages.sort();
    assert!(pages.len() > 10, "man/ holds {} pages", pages.len());
    let out = std::process::Command::new("man")
        .args(["--warnings", "-l"])
        .args(&pages)
        .env("MANWIDTH", "80")
        .env_remove("MAN_KEEP_FORMATTING")
        .env_remove("MANPAGER")
        .env_remove("PAGER")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "man --warnings: {stderr}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("EXIT STATUS") && text.contains("vm-start"), "rendered pages lack expected text");
}
