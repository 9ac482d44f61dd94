//! Certificate policy for HTTPS: trust on first use with pinned SHA-256
//! fingerprints, falling back to the platform trust store, or no checks at
//! all when asked. Never prints: first-use pins become notices that the
//! caller shows, mismatches become [`Error::CertificateMismatch`].
//!
//! The known-hosts file holds one `host:port FINGERPRINT` line per server,
//! where the fingerprint is the SHA-256 of the leaf certificate's DER as
//! uppercase hex pairs joined by colons (`AB:CD:...`, 95 characters). Blank
//! lines and lines starting with `#` are ignored. The file is created with
//! mode 0600 (parent directories as needed) and only ever appended to.
//!
//! Verification order, cheapest first: a pin that matches is accepted without
//! touching the platform trust store; otherwise the chain is checked against
//! the platform roots (loaded then, per handshake, never cached on disk); if
//! that fails, a host with no pin is pinned (first use), and a host with a
//! different pin is refused. Handshake signatures are always verified.

use super::error::Error;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// How server certificates are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// Accept certificates valid for the host under the platform trust store,
    /// or pinned in `known_hosts`; pin unknown hosts on first use.
    Verify { known_hosts: PathBuf },
    /// Like [`Tls::Verify`], but never pins: a certificate that is neither
    /// pinned nor valid under the platform trust store is refused. For work
    /// nobody watches (shell completion), where a first-use notice would go unseen.
    Known { known_hosts: PathBuf },
    /// Accept any certificate (handshake signatures are still checked).
    Insecure,
}

/// State shared between a connection and its verifier.
#[derive(Debug, Default)]
pub(crate) struct TlsEvents {
    /// Human sentences for the caller to show, e.g. a first-use pin.
    pub notices: Mutex<Vec<String>>,
    /// Why the last handshake was refused, when the verifier knows better than rustls.
    pub failure: Mutex<Option<Error>>,
}

/// Locks a mutex, ignoring poisoning: the data are plain lists.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The verifier for one `host:port`.
#[derive(Debug)]
struct PinVerifier {
    host_port: String,
    /// `None` for [`Tls::Insecure`].
    known_hosts: Option<PathBuf>,
    /// Whether an unknown certificate is pinned on first use (false for [`Tls::Known`]).
    pin_unknown: bool,
    provider: Arc<CryptoProvider>,
    events: Arc<TlsEvents>,
    /// The fingerprint accepted on first use in this process, in case the file could not be written.
    accepted: Mutex<Option<String>>,
}

/// Returns the SHA-256 fingerprint of a DER certificate as `AB:CD:...`.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = String::with_capacity(95);
    for (i, b) in digest.as_ref().iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// Canonical form of a fingerprint for comparison: hex digits only, uppercase.
fn canonical(fp: &str) -> String {
    fp.chars().filter(char::is_ascii_hexdigit).map(|c| c.to_ascii_uppercase()).collect()
}

/// Returns the fingerprints pinned for `host_port` in the known-hosts text.
fn pins_for<'a>(text: &'a str, host_port: &str) -> Vec<&'a str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let host = words.next()?;
            let fp = words.next()?;
            host.eq_ignore_ascii_case(host_port).then_some(fp)
        })
        .collect()
}

/// Appends a pin line, creating the file (mode 0600) and its directories.
fn append_pin(path: &Path, existing: &str, host_port: &str, fp: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path)?;
    let sep = if existing.is_empty() || existing.ends_with('\n') { "" } else { "\n" };
    f.write_all(format!("{sep}{host_port} {fp}\n").as_bytes())
}

impl PinVerifier {
    /// Checks the chain against the platform trust store, loaded now.
    fn platform_accepts(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> bool {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if roots.is_empty() {
            return false;
        }
        let Ok(webpki) = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone()).build()
        else {
            return false;
        };
        webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now).is_ok()
    }

    fn refuse(&self, err: Error) -> rustls::Error {
        let reason = err.to_string();
        *lock(&self.events.failure) = Some(err);
        rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(Refused(reason)))))
    }
}

/// The rustls-side error carried out of a refused handshake.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(path) = &self.known_hosts else {
            return Ok(ServerCertVerified::assertion());
        };
        let presented = fingerprint(end_entity.as_ref());
        let wanted = canonical(&presented);
        if lock(&self.accepted).as_deref() == Some(presented.as_str()) {
            return Ok(ServerCertVerified::assertion());
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(self.refuse(Error::Tls {
                    url: self.host_port.clone(),
                    reason: format!("cannot read {}: {e}", path.display()),
                }))
            }
        };
        let pins = pins_for(&text, &self.host_port);
        if pins.iter().any(|p| canonical(p) == wanted) {
            return Ok(ServerCertVerified::assertion());
        }
        if self.platform_accepts(end_entity, intermediates, server_name, ocsp_response, now) {
            return Ok(ServerCertVerified::assertion());
        }
        if !self.pin_unknown && pins.is_empty() {
            return Err(self.refuse(Error::Tls {
                url: self.host_port.clone(),
                reason: format!("the certificate is not pinned in {} (SHA-256 {presented})", path.display()),
            }));
        }
        if let Some(pinned) = pins.first() {
            return Err(self.refuse(Error::CertificateMismatch {
                host_port: self.host_port.clone(),
                pinned: pinned.to_string(),
                presented,
                known_hosts: path.clone(),
            }));
        }
        let notice = match append_pin(path, &text, &self.host_port, &presented) {
            Ok(()) => format!(
                "Pinned the certificate of {} (SHA-256 {presented}) in {} on first use",
                self.host_port,
                path.display()
            ),
            Err(e) => format!(
                "Warning: trusting the certificate of {} (SHA-256 {presented}) for this command only: \
                 cannot record it in {}: {e}",
                self.host_port,
                path.display()
            ),
        };
        lock(&self.events.notices).push(notice);
        *lock(&self.accepted) = Some(presented);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Builds the rustls configuration for one `host:port` under `policy`.
pub(crate) fn client_config(policy: &Tls, host_port: &str, events: Arc<TlsEvents>) -> Result<ClientConfig, Error> {
    // reqwest or other code may still look for a process-wide provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = PinVerifier {
        host_port: host_port.to_string(),
        known_hosts: match policy {
            Tls::Verify { known_hosts } | Tls::Known { known_hosts } => Some(known_hosts.clone()),
            Tls::Insecure => None,
        },
        pin_unknown: matches!(policy, Tls::Verify { .. }),
        provider: provider.clone(),
        events,
        accepted: Mutex::new(None),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Local { reason: format!("TLS set-up failed: {e}") })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_colon_separated_uppercase_hex() {
        let fp = fingerprint(b"abc");
        assert_eq!(fp.len(), 95);
        assert!(fp.starts_with("BA:78:16:BF:"), "{fp}");
    }

    #[test]
    fn pins_are_found_by_host_port_ignoring_comments() {
        let text = "# comment\n\nhost:443 AA:BB\nother:443 CC\nHOST:443 dd:ee\n";
        assert_eq!(pins_for(text, "host:443"), vec!["AA:BB", "dd:ee"]);
        assert!(pins_for(text, "host:80").is_empty());
        assert_eq!(canonical("dd:ee"), "DDEE");
    }
}
