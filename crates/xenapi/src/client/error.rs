//! The client's error type: every failure a call can end in, with enough
//! context (server, method, host:port) to print one useful line.

use std::fmt;
use std::path::PathBuf;

/// Errors from a [`Connection`](super::Connection) or a [`Session`](super::Session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The server answered with a XenAPI failure: an error code and its parameters.
    Api { code: String, params: Vec<String> },
    /// The server could not be reached: connection refused, DNS failure, connect timeout.
    Connect { url: String, reason: String },
    /// The TLS handshake failed for a reason other than a pinned-certificate mismatch.
    Tls { url: String, reason: String },
    /// The server presented a certificate that differs from the one pinned for it.
    CertificateMismatch { host_port: String, pinned: String, presented: String, known_hosts: PathBuf },
    /// The server answered with an HTTP status other than 200.
    Http { url: String, status: u16 },
    /// The server's answer to `method` could not be decoded.
    Protocol { url: String, method: String, reason: String },
    /// The server accepted the connection but did not answer `method` in time.
    Timeout { url: String, method: String },
    /// The answer to `method` holds a value larger than `limit` bytes
    /// ([`Options::max_value`](super::Options::max_value)); `whole` when the
    /// limit applies to the answer as a whole (XML-RPC).
    TooLarge { url: String, method: String, limit: usize, whole: bool },
    /// The base URL is not usable.
    InvalidUrl { url: String, reason: String },
    /// A local failure unrelated to the network, e.g. building the HTTP client.
    Local { reason: String },
}

/// The well-known code of an expired or logged-out session.
pub const SESSION_INVALID: &str = "SESSION_INVALID";
/// The code a pool member answers with; its parameter is the master's address.
pub const HOST_IS_SLAVE: &str = "HOST_IS_SLAVE";
/// The code of a task that was cancelled.
pub const TASK_CANCELLED: &str = "TASK_CANCELLED";

impl Error {
    /// Builds an [`Error::Api`] from an error description (code first, then parameters).
    pub fn api(mut description: Vec<String>) -> Error {
        if description.is_empty() {
            return Error::Api { code: String::new(), params: Vec::new() };
        }
        let code = description.remove(0);
        Error::Api { code, params: description }
    }

    /// Whether the server could not be heard from properly: unreachable, a
    /// broken connection, no answer in time, or an answer that is not one.
    /// (An API error is the server speaking; a local error is ours.)
    pub fn is_transport(&self) -> bool {
        !matches!(self, Error::Api { .. } | Error::InvalidUrl { .. } | Error::Local { .. })
    }

    /// Returns the XenAPI error code when this is an [`Error::Api`].
    pub fn api_code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A byte count as people write limits: `64 MiB`, `1 GiB`, `1000 bytes`.
pub fn size(n: usize) -> String {
    for (unit, name) in [(1usize << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if n >= unit && n % unit == 0 {
            return format!("{} {name}", n / unit);
        }
    }
    format!("{n} bytes")
}

/// Shows `scheme://host:port/path` as `host:port`, the way users name servers.
fn server(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// The `/path` part of `scheme://host:port/path`.
fn path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/", |i| &rest[i..])
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api { code, params } if params.is_empty() => write!(f, "{code}"),
            Error::Api { code, params } => write!(f, "{code}: {}", params.join(", ")),
            Error::Connect { url, reason } => write!(f, "Unable to contact server at {}: {reason}", server(url)),
            Error::Tls { url, reason } => write!(f, "TLS handshake with {} failed: {reason}", server(url)),
            Error::CertificateMismatch { host_port, pinned, presented, known_hosts } => write!(
                f,
                "The certificate of {host_port} has changed (pinned SHA-256 {pinned}, presented {presented}); \
                 if the change is expected, remove the line for {host_port} from {} and retry",
                known_hosts.display()
            ),
            Error::Http { url, status } => write!(f, "Server {} answered HTTP {status} for {}", server(url), path(url)),
            Error::Protocol { url, method, reason } => {
                write!(f, "Unreadable answer from {} to {method}: {reason}", server(url))
            }
            Error::Timeout { url, method } => write!(f, "Timed out waiting for {} to answer {method}", server(url)),
            Error::TooLarge { url, method, limit, whole } => write!(
                f,
                "Unreadable answer from {} to {method}: {} exceeds the {} limit",
                server(url),
                if *whole { "the answer" } else { "a value" },
                size(*limit)
            ),
            Error::InvalidUrl { url, reason } => write!(f, "Invalid server address {url:?}: {reason}"),
            Error::Local { reason } => f.write_str(reason),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
