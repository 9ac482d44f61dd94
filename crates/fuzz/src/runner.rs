//! The mutation loop: run the seeds, then mutations of the corpus; an input
//! that reaches a new feature joins the corpus. A panic (caught, with a
//! quiet hook so the output stays readable), a violated property, or a
//! decoder's slow input is a finding, kept once per kind.

use crate::mutate::mutate;
use crate::rng::{fnv, Rng};
use crate::targets::Target;
use std::collections::{HashMap, HashSet};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// Inputs above this size are never made; a slow input below it is a finding.
pub const MAX_LEN: usize = 64 << 10;
/// Inputs kept to mutate, seeds included.
const CORPUS: usize = 4096;

#[derive(Debug, Clone)]
pub struct Options {
    pub inputs: u64,
    pub seed: u64,
    /// Where findings go (`<dir>/<target>/<hash>.bin`, with a `.txt` summary).
    pub findings: Option<PathBuf>,
    /// More seed inputs (files of a corpus directory).
    pub extra: Vec<Vec<u8>>,
    /// A decoder taking longer than this on one input is a finding.
    pub slow: Duration,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub summary: String,
    pub input: Vec<u8>,
    pub file: Option<PathBuf>,
    /// Inputs that found the same thing.
    pub count: u64,
}

#[derive(Debug)]
pub struct Report {
    pub target: &'static str,
    pub inputs: u64,
    pub elapsed: Duration,
    pub findings: Vec<Finding>,
    pub slowest: Duration,
    pub slowest_len: usize,
    pub corpus: usize,
}

static PANIC: Mutex<Option<String>> = Mutex::new(None);
static HOOK: Once = Once::new();

/// Replaces the panic hook by one that only records the message and where
/// it was raised, for the loop to report (also from tasks a target spawns).
pub fn quiet_panics() {
    HOOK.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_string());
            let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            let mut last = PANIC.lock().unwrap_or_else(|e| e.into_inner());
            last.get_or_insert(format!("panic at {at}: {msg}"));
        }));
    });
}

fn take_panic() -> Option<String> {
    PANIC.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// What makes two findings the same: the panic's place, or the property's
/// wording up to the values it shows.
fn signature(summary: &str) -> String {
    if let Some(rest) = summary.strip_prefix("panic at ") {
        return rest.split(": ").next().unwrap_or(rest).to_string();
    }
    summary.chars().filter(|c| !c.is_ascii_digit()).take(40).collect()
}

/// Runs `opts.inputs` inputs through `target`.
pub fn run(target: &mut dyn Target, opts: &Options) -> Report {
    let name = target.name();
    let mut rng = Rng::new(opts.seed ^ fnv(name.as_bytes()));
    let dict = target.dictionary();
    let mut corpus = target.seeds();
    corpus.extend(opts.extra.iter().cloned());
    for c in &mut corpus {
        c.truncate(MAX_LEN);
    }
    let seeds = corpus.len();
    let mut features = HashSet::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut kinds: HashMap<String, usize> = HashMap::new();
    let (mut slowest, mut slowest_len) = (Duration::ZERO, 0);
    take_panic();
    let started = Instant::now();
    for i in 0..opts.inputs {
        let input = if (i as usize) < seeds {
            corpus[i as usize].clone()
        } else {
            let base = &corpus[rng.below(corpus.len())];
            mutate(&mut rng, base, &corpus, &dict, MAX_LEN)
        };
        let t = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(|| target.run(&input)));
        let took = t.elapsed();
        if took > slowest {
            (slowest, slowest_len) = (took, input.len());
        }
        let mut found = match (result, take_panic()) {
            (_, Some(p)) => Some(p),
            (Err(_), None) => Some("panic (message not captured)".to_string()),
            (Ok(Err(why)), None) => Some(why),
            (Ok(Ok(feature)), None) => {
                if features.insert(feature) && (i as usize) >= seeds {
                    if corpus.len() < CORPUS {
                        corpus.push(input.clone());
                    } else {
                        // Full: replace an input found earlier, never a seed.
                        let keep = seeds.min(CORPUS - 1);
                        let at = keep + rng.below(CORPUS - keep);
                        corpus[at] = input.clone();
                    }
                }
                None
            }
        };
        if found.as_deref().is_some_and(|f| f.starts_with("panic")) {
            target.reset();
        }
        if found.is_none() && target.slow_is_finding() && took > opts.slow && input.len() < MAX_LEN {
            found = Some(format!("slow: {} ms on {} bytes", took.as_millis(), input.len()));
        }
        if let Some(summary) = found {
            let summary: String = summary.replace('\n', " ").chars().take(600).collect();
            match kinds.get(&signature(&summary)) {
                Some(&k) => findings[k].count += 1,
                None => {
                    kinds.insert(signature(&summary), findings.len());
                    let file = opts.findings.as_ref().and_then(|dir| save(dir, name, &input, &summary));
                    findings.push(Finding { summary, input, file, count: 1 });
                }
            }
        }
    }
    Report {
        target: name,
        inputs: opts.inputs,
        elapsed: started.elapsed(),
        findings,
        slowest,
        slowest_len,
        corpus: corpus.len(),
    }
}

/// Writes a finding's input and summary; the path of the input, if written.
fn save(dir: &std::path::Path, target: &str, input: &[u8], summary: &str) -> Option<PathBuf> {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("{:016x}.bin", fnv(input)));
    std::fs::write(&path, input).ok()?;
    std::fs::write(path.with_extension("txt"), format!("{summary}\n")).ok()?;
    Some(path)
}

/// Runs one input as the loop would, for `--replay`: its finding, if any.
pub fn replay(target: &mut dyn Target, input: &[u8]) -> Option<String> {
    take_panic();
    let result = panic::catch_unwind(AssertUnwindSafe(|| target.run(input)));
    match (result, take_panic()) {
        (_, Some(p)) => Some(p),
        (Err(_), None) => Some("panic (message not captured)".to_string()),
        (Ok(Err(why)), None) => Some(why),
        (Ok(Ok(_)), None) => None,
    }
}

/// Shrinks an input while it still finds the same thing (same signature):
/// drops ever smaller chunks, then tries each byte as a plain one. For
/// turning a finding into a small regression input.
pub fn minimize(target: &mut dyn Target, input: &[u8]) -> Vec<u8> {
    let Some(found) = replay(target, input) else { return input.to_vec() };
    let want = signature(&found);
    let still = |t: &mut dyn Target, candidate: &[u8]| replay(t, candidate).is_some_and(|f| signature(&f) == want);
    let mut best = input.to_vec();
    let mut chunk = best.len().div_ceil(2).max(1);
    loop {
        let mut at = 0;
        while at < best.len() {
            let end = (at + chunk).min(best.len());
            let mut candidate = best[..at].to_vec();
            candidate.extend_from_slice(&best[end..]);
            if still(target, &candidate) {
                best = candidate;
            } else {
                at += chunk;
            }
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    for i in 0..best.len() {
        if best[i] != b'a' {
            let mut candidate = best.clone();
            candidate[i] = b'a';
            if still(target, &candidate) {
                best = candidate;
            }
        }
    }
    best
}
