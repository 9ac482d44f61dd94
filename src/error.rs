//! The one error type of the CLI and the one place that renders it the way
//! the real `xe` does: everything on stderr, exit status 1.

use std::fmt::Write as _;

/// A failed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    UnknownCommand(String),
    Syntax,
    MissingParam(String),
    /// `Error: <message>`.
    Failure(String),
    /// An API error with its parameters already resolved for display
    /// (refs shown as `uuid (name)`).
    Api {
        code: String,
        params: Vec<String>,
    },
    /// Lines printed verbatim (e.g. xe's raw `Error code:` form).
    Raw(String),
    AuthFailed,
    MissingCredentials,
    /// Connection, TLS or protocol trouble; the text says what failed and where.
    Connection(String),
    /// `--multiple` partial failure: `(uuid, message)` per failed object, on stdout.
    Multiple(Vec<(String, String)>),
    /// A bug of ours, never an xe message.
    Internal(String),
    /// Our own `timeout=` expired (exit status 124, like `timeout(1)`).
    Timeout(String),
}

/// Why a command failed, as a result type.
pub type CmdResult<T = ()> = Result<T, CliError>;

const USAGE_HINT: &str = "For usage run: 'xe help'";

impl CliError {
    pub fn failure(msg: impl Into<String>) -> CliError {
        CliError::Failure(msg.into())
    }

    /// Renders the stderr text (with a final newline) and the stdout text.
    pub fn render(&self) -> (String, String) {
        let mut err = String::new();
        let mut out = String::new();
        match self {
            CliError::UnknownCommand(c) => {
                let _ = writeln!(err, "Unknown command: {c}\n{USAGE_HINT}");
            }
            CliError::Syntax => {
                let _ = writeln!(err, "Syntax error: \n{USAGE_HINT}");
            }
            CliError::MissingParam(p) => {
                let _ = writeln!(err, "Required parameter not found: {p}\n{USAGE_HINT}");
            }
            CliError::Failure(m) => {
                let _ = writeln!(err, "Error: {m}");
            }
            CliError::Api { code, params } => err.push_str(&render_api(code, params)),
            CliError::Raw(text) => {
                err.push_str(text);
                if !text.ends_with('\n') {
                    err.push('\n');
                }
            }
            CliError::AuthFailed => {
                let _ = writeln!(err, "Authentication failed\n{USAGE_HINT}");
            }
            CliError::MissingCredentials => {
                let _ = writeln!(err, "Username/password must be specified\n{USAGE_HINT}");
            }
            CliError::Connection(m) => {
                let _ = writeln!(err, "{m}");
            }
            CliError::Multiple(failures) => {
                for (uuid, msg) in failures {
                    let _ = writeln!(out, "operation failed on {uuid}: {}", msg.trim_end());
                }
            }
            CliError::Timeout(m) => {
                let _ = writeln!(err, "Error: {m}");
            }
            CliError::Internal(m) => {
                let _ = writeln!(err, "Internal error in xe (please report this bug): {m}");
            }
        }
        (err, out)
    }

    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Timeout(_) => 124,
            _ => 1,
        }
    }

    /// The one-paragraph message used after `operation failed on <uuid>:`.
    pub fn message(&self) -> String {
        let (err, _) = self.render();
        err.trim_end().strip_prefix("Error: ").map(str::to_string).unwrap_or_else(|| err.trim_end().to_string())
    }
}

/// An API error as xe prints it: a description, then one `label: value`
/// line per parameter; codes xe has no description for print raw.
pub fn render_api(code: &str, params: &[String]) -> String {
    let mut s = String::new();
    let fact = crate::facts::error(code).filter(|f| f.described);
    let Some(fact) = fact else {
        let _ = writeln!(s, "Error code: {code}");
        let _ = writeln!(s, "Error parameters: {}", params.join(", "));
        return s;
    };
    let text = crate::facts::error_text::describe(code).map(str::to_string).unwrap_or_else(|| generic_sentence(code));
    let _ = writeln!(s, "{text}");
    // xe labels every value of this error `VM`.
    if code == "VMS_FAILED_TO_COOPERATE" {
        for p in params {
            let _ = writeln!(s, "VM: {p}");
        }
        return s;
    }
    for (i, label) in fact.params.iter().enumerate() {
        let v = params.get(i).map(String::as_str).unwrap_or("<unknown>");
        let _ = writeln!(s, "{label}: {v}");
    }
    for p in params.iter().skip(fact.params.len()) {
        let _ = writeln!(s, "<extra>: {p}");
    }
    s
}

/// A plain sentence for a code we have no hand-written text for.
fn generic_sentence(code: &str) -> String {
    let words = code.to_ascii_lowercase().replace('_', " ");
    format!("The server refused the operation ({words}).")
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.render().0.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_carry_the_hint() {
        assert_eq!(
            CliError::MissingParam("uuid".into()).render().0,
            "Required parameter not found: uuid\nFor usage run: 'xe help'\n"
        );
        assert_eq!(
            CliError::UnknownCommand("vm-fly".into()).render().0,
            "Unknown command: vm-fly\nFor usage run: 'xe help'\n"
        );
        assert_eq!(CliError::Failure("No matching VMs found".into()).render().0, "Error: No matching VMs found\n");
    }

    #[test]
    fn multiple_failures_go_to_stdout() {
        let e = CliError::Multiple(vec![("u1".into(), "Boom\nvm: x".into())]);
        let (err, out) = e.render();
        assert_eq!(err, "");
        assert_eq!(out, "operation failed on u1: Boom\nvm: x\n");
    }
}
