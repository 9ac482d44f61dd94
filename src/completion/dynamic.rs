//! clap_complete's dynamic engine in front of ours. The scripts in
//! `completions/` (clap_complete's, see [`crate::shells`]) run
//! `COMPLETE=<shell> xe -- <words...>`; [`answer`] hands the words to
//! clap_complete with a command whose one argument, the whole line, has a
//! value completer that asks [`super::run`] for the candidates of the word
//! under the cursor, so xe's grammar, values and descriptions stay ours and
//! clap_complete does the shell's side (formats, descriptions, no space after
//! `=`, `:` and `/` in bash). Without `--` the answer is the registration script.

use super::{complete, Candidate, Source};
use crate::shells::{self, Shell};
use clap::{Arg, ArgAction, Command};
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use xenapi::Value;

/// Answers `COMPLETE=<shell> xe [-- <words...>]`: `shell` is the variable's
/// value, `index` the cursor word the script passed (bash, zsh, elvish), and
/// `args` the arguments after the program name.
pub fn answer(shell: &str, index: Option<usize>, args: &[String]) -> String {
    let Some(shell) = Shell::parse(shell) else { return String::new() };
    let Some(dash) = args.iter().position(|a| a == "--") else { return shells::script(shell) };
    let mut words = args[dash + 1..].to_vec();
    let index = match shell {
        Shell::Bash | Shell::Zsh | Shell::Elvish => index.unwrap_or(0),
        Shell::Fish | Shell::PowerShell => words.len().saturating_sub(1),
    };
    if words.len() == index {
        // zsh leaves an empty current word out; clap_complete adds it back.
        words.push(String::new());
    }
    let line = words.clone();
    let completer = ArgValueCompleter::new(move |_: &std::ffi::OsStr| candidates(shell, &line, index));
    let mut cmd = Command::new("xe").disable_help_flag(true).disable_version_flag(true).arg(
        Arg::new("words")
            .action(ArgAction::Append)
            .num_args(0..)
            .trailing_var_arg(true)
            .allow_hyphen_values(true)
            .add(completer),
    );
    let mut buf = Vec::new();
    let args = args[dash + 1..].iter().map(Into::into).collect();
    // No candidates is the answer to any failure.
    let _ = shell.completer().write_complete(&mut cmd, args, None, &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Our engine's candidates for `words[index]`, as clap_complete's.
fn candidates(shell: Shell, words: &[String], index: usize) -> Vec<CompletionCandidate> {
    let mut request = vec![shell.name().to_string(), index.to_string()];
    if shell == Shell::Bash {
        request.push("--line".to_string());
        request.push(bash_line(words, index));
    }
    request.push("--".to_string());
    request.extend(words.iter().take(index + 1).cloned());
    super::run(&request)
        .lines()
        .map(|l| {
            let (value, description) = l.split_once('\t').unwrap_or((l, ""));
            let help = (!description.is_empty()).then(|| description.to_string().into());
            CompletionCandidate::new(value).help(help)
        })
        .collect()
}

/// The line up to the cursor as bash's words give it: bash splits words at
/// `=` and `:`, and clap_complete's script passes readline's current word, so
/// `uuid=` arrives as `uuid` and an empty word; the lost `=` (or `:` for a
/// map parameter) is put back after a parameter name.
fn bash_line(words: &[String], index: usize) -> String {
    let is_break = |w: &str| !w.is_empty() && w.chars().all(|c| c == '=' || c == ':');
    let mut line = words.first().cloned().unwrap_or_default();
    let mut prev_break = false;
    for w in words.iter().take(index + 1).skip(1) {
        if !is_break(w) && !prev_break {
            line.push(' ');
        }
        line.push_str(w);
        prev_break = is_break(w);
    }
    if let Some(sep) = lost_break(words, index) {
        line.truncate(line.len() - words[index].len());
        line.truncate(line.trim_end_matches(' ').len());
        line.push(sep);
    }
    line
}

/// The break character bash took from an empty current word that follows a parameter name.
fn lost_break(words: &[String], index: usize) -> Option<char> {
    if index < 2 || !words.get(index)?.is_empty() {
        return None;
    }
    let key = &words[index - 1];
    if key.is_empty() || key.starts_with('-') || key.contains(['=', ':']) {
        return None;
    }
    // The command is the first word that is neither an option nor an option's value.
    let mut command = None;
    let mut i = 1;
    while i < index {
        let w = &words[i];
        if ["-s", "-p", "-u", "-pw", "-pwf", "--traceparent", "--timeout"].contains(&w.as_str()) {
            i += 2;
            continue;
        }
        if !w.starts_with('-') {
            command = Some(i);
            break;
        }
        i += 1;
    }
    if command? >= index - 1 {
        return None;
    }
    let before: Vec<String> = words[1..index - 1].to_vec();
    let map = complete(&before, key, &mut NoServer).iter().any(|c: &Candidate| c.value == format!("{key}:"));
    Some(if map { ':' } else { '=' })
}

/// Parameter names need no server.
struct NoServer;

impl Source for NoServer {
    fn records(&mut self, _: &'static crate::facts::ClassFact, _: &[&str]) -> Vec<Value> {
        Vec::new()
    }
    fn files(&mut self, _: &str) -> Vec<String> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn bash_lines_get_their_break_characters_back() {
        assert_eq!(bash_line(&w(&["xe", "vm-start", "uuid", ""]), 3), "xe vm-start uuid=");
        assert_eq!(bash_line(&w(&["xe", "vm-start", "vm", "=", "we"]), 4), "xe vm-start vm=we");
        assert_eq!(bash_line(&w(&["xe", "vm-start", ""]), 2), "xe vm-start ");
        assert_eq!(bash_line(&w(&["xe", "-s", "h", ""]), 3), "xe -s h ");
        assert_eq!(bash_line(&w(&["xe", "vm-param-set", "other-config", ""]), 3), "xe vm-param-set other-config:");
    }
}
