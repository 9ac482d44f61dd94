//! Workload Balancing as the simulator has it: no WLB server, so every
//! request to one fails as xapi's do when it cannot be reached.

use crate::db::{Db, Failure};
use std::net::IpAddr;

/// xapi's `split_host_port`: `host:port` (a path after it allowed), the
/// host possibly a bracketed IPv6 address; WLB_URL_INVALID otherwise.
pub fn split_host_port(url: &str) -> Result<(String, u16), Failure> {
    let invalid = || Failure::new("WLB_URL_INVALID", [url]);
    let authority = url.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = authority.rsplit_once(':').ok_or_else(invalid)?;
    let port: u16 = port.parse().map_err(|_| invalid())?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() {
        return Err(invalid());
    }
    Ok((host.to_string(), port))
}

/// What a request to the WLB server at `url` gives: the URL's error, else
/// WLB_CONNECTION_REFUSED for an address and WLB_UNKNOWN_HOST for a name
/// (the simulator resolves none).
pub fn unreachable(url: &str) -> Failure {
    match split_host_port(url) {
        Err(e) => e,
        Ok((host, _)) if host.parse::<IpAddr>().is_ok() => Failure::new::<&str>("WLB_CONNECTION_REFUSED", []),
        Ok(_) => Failure::new::<&str>("WLB_UNKNOWN_HOST", []),
    }
}

/// xapi's `wlb_context_request` (reports, diagnostics, configuration):
/// WLB_NOT_INITIALIZED without a URL, else the server cannot be reached.
pub fn request(db: &Db) -> Failure {
    let pool = db.all("pool").into_iter().next().unwrap_or_default();
    let url = db.string(&pool, "wlb_url");
    if url.is_empty() {
        Failure::new::<&str>("WLB_NOT_INITIALIZED", [])
    } else {
        unreachable(&url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_a_host_and_a_port() {
        assert_eq!(split_host_port("wlb.example.com:8012").unwrap(), ("wlb.example.com".to_string(), 8012));
        assert_eq!(split_host_port("[2001:db8::1]:8012/x").unwrap(), ("2001:db8::1".to_string(), 8012));
        assert_eq!(split_host_port("wlb.example.com").unwrap_err().0, vec!["WLB_URL_INVALID", "wlb.example.com"]);
        assert_eq!(split_host_port(":8012").unwrap_err().0, vec!["WLB_URL_INVALID", ":8012"]);
        assert_eq!(split_host_port("h:port").unwrap_err().0, vec!["WLB_URL_INVALID", "h:port"]);
    }

    #[test]
    fn nothing_answers() {
        assert_eq!(unreachable("192.0.2.9:8012").0, vec!["WLB_CONNECTION_REFUSED"]);
        assert_eq!(unreachable("wlb.example.com:8012").0, vec!["WLB_UNKNOWN_HOST"]);
    }
}
