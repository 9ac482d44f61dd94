//! Certificates (a leaf): each host's server certificate and key as its
//! HTTPS listener serves them ([`CertStore`], swapped under a lock so a
//! certificate installed through the API is served from the next
//! handshake on), the facts the `Certificate` class records about one
//! (validity, fingerprints as xapi prints them), self-signed certificates
//! for a host (rcgen), xapi's checks of an installed server certificate
//! and of a CA certificate, and the CRLs of `pool.crl_install`.
//!
//! Certificates are parsed with x509-parser (and a private key's DER with
//! its der-parser), never by hand. With `--state` every host's pair is kept
//! in `STATE.certs/<host uuid>.pem` (key, certificate, chain, as xapi's
//! `xapi-ssl.pem`) and the CRLs in `STATE.certs/crl/`.

use parking_lot::{Mutex, RwLock};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use x509_parser::pem::Pem;

/// What the `Certificate` class records about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Validity, in seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// `AB:CD:...`, uppercase, as xapi's `pp_hash`.
    pub sha256: String,
    pub sha1: String,
}

/// A server certificate as served: the PEM (key, leaf, chain), the leaf's
/// PEM alone (`host.get_server_certificate`), rustls' signing key.
pub struct Served {
    pub pem: String,
    pub leaf_pem: String,
    pub facts: Facts,
    pub key: Arc<CertifiedKey>,
}

/// An error of xapi's: a code and its parameters.
pub type Refusal = (&'static str, Vec<String>);

/// Validity of the certificates a host makes for itself, as xapi's
/// `cert_expiration_days`.
pub const SELF_SIGNED_DAYS: i64 = 365 * 10;

/// Formats a digest as xapi's `pp_hash`: uppercase hex octets joined by `:`.
pub fn pp_hash(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// The facts of a DER certificate, or `None` when it does not parse.
pub fn facts(der: &[u8]) -> Option<Facts> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let validity = cert.validity();
    Some(Facts {
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        sha256: pp_hash(ring::digest::digest(&ring::digest::SHA256, der).as_ref()),
        sha1: pp_hash(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref()),
    })
}

/// The PEM blocks of a text, in order; `None` when a block is malformed.
fn blocks(pem: &str) -> Option<Vec<Pem>> {
    Pem::iter_from_buffer(pem.as_bytes()).collect::<Result<Vec<_>, _>>().ok()
}

fn certificate_blocks(pem: &str) -> Option<Vec<Vec<u8>>> {
    Some(blocks(pem)?.into_iter().filter(|b| b.label == "CERTIFICATE").map(|b| b.contents).collect())
}

fn to_pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or(""));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Reads a server PEM (a private key and certificates, leaf first) into
/// what a listener serves.
pub fn served(pem: &str) -> Result<Served, String> {
    let blocks = blocks(pem).ok_or("the PEM does not parse")?;
    let key = blocks.iter().find(|b| b.label.ends_with("PRIVATE KEY")).ok_or("no private key in the PEM")?;
    let key_der = match key.label.as_str() {
        "PRIVATE KEY" => PrivateKeyDer::Pkcs8(key.contents.clone().into()),
        "RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1(key.contents.clone().into()),
        "EC PRIVATE KEY" => PrivateKeyDer::Sec1(key.contents.clone().into()),
        other => return Err(format!("unknown private key type {other}")),
    };
    let chain: Vec<CertificateDer<'static>> =
        blocks.iter().filter(|b| b.label == "CERTIFICATE").map(|b| CertificateDer::from(b.contents.clone())).collect();
    let leaf = chain.first().ok_or("no certificate in the PEM")?;
    let facts = facts(leaf).ok_or("the certificate does not parse")?;
    let leaf_pem = to_pem("CERTIFICATE", leaf);
    let signer = rustls::crypto::ring::sign::any_supported_type(&key_der).map_err(|e| e.to_string())?;
    Ok(Served { pem: pem.to_string(), leaf_pem, facts, key: Arc::new(CertifiedKey::new(chain, signer)) })
}

/// A new self-signed certificate for a host, as PEM (key, certificate):
/// its name as the subject's common name and a DNS name, its address as an
/// IP (or DNS) name, valid from now for `days`.
pub fn self_signed(name: &str, address: &str, days: i64) -> Result<String, String> {
    let mut names = vec![name.to_string()];
    if !address.is_empty() && address != name {
        names.push(address.to_string());
    }
    names.retain(|n| !n.is_empty());
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| e.to_string())?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, if name.is_empty() { address } else { name });
    params.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).map_err(|e| e.to_string())?;
    params.not_before = now;
    params.not_after = now + time::Duration::days(days);
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    Ok(format!("{}{}", key.serialize_pem(), cert.pem()))
}

/// A time as Ptime's RFC 3339 in UTC, as xapi's validity errors show it.
fn rfc3339(secs: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(secs).ok().and_then(|t| t.format(fmt).ok()).unwrap_or_default()
}

/// The RSA public key of a private key PEM, as xapi's
/// `validate_private_key` reads it: `(modulus, exponent)`.
fn rsa_private_key(pem: &str) -> Result<(Vec<u8>, Vec<u8>), Refusal> {
    use x509_parser::der_parser::parse_der;
    let invalid = || ("SERVER_CERTIFICATE_KEY_INVALID", vec![]);
    let blocks = blocks(pem).ok_or_else(invalid)?;
    let key = blocks.iter().find(|b| b.label.ends_with("PRIVATE KEY")).ok_or_else(invalid)?;
    let (_, top) = parse_der(&key.contents).map_err(|_| invalid())?;
    let rsa_der: Vec<u8> = match key.label.as_str() {
        "RSA PRIVATE KEY" => key.contents.clone(),
        "EC PRIVATE KEY" => {
            let items = top.as_sequence().map_err(|_| invalid())?;
            let curve = items
                .iter()
                .find_map(|o| {
                    o.as_tagged().ok().filter(|(_, t, _)| t.0 == 0).and_then(|(_, _, inner)| inner.as_oid().ok())
                })
                .map(|oid| curve_name(&oid.to_id_string()))
                .unwrap_or_else(|| "EC".into());
            return Err(("SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED", vec![curve]));
        }
        "PRIVATE KEY" => {
            let items = top.as_sequence().map_err(|_| invalid())?;
            let alg = items.get(1).and_then(|a| a.as_sequence().ok()).ok_or_else(invalid)?;
            let oid = alg.first().and_then(|o| o.as_oid().ok()).ok_or_else(invalid)?.to_id_string();
            match oid.as_str() {
                "1.2.840.113549.1.1.1" => {}
                "1.2.840.10045.2.1" => {
                    let curve = alg.get(1).and_then(|o| o.as_oid().ok()).map(|o| o.to_id_string()).unwrap_or_default();
                    return Err(("SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED", vec![curve_name(&curve)]));
                }
                "1.3.101.112" => {
                    return Err(("SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED", vec!["ED25519".into()]))
                }
                other => return Err(("SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED", vec![other.to_string()])),
            }
            items.get(2).and_then(|o| o.as_slice().ok()).ok_or_else(invalid)?.to_vec()
        }
        _ => return Err(invalid()),
    };
    let (_, rsa) = parse_der(&rsa_der).map_err(|_| invalid())?;
    let items = rsa.as_sequence().map_err(|_| invalid())?;
    if items.len() < 9 {
        return Err(invalid());
    }
    // Version 1 (and extra primes) is multi-prime RSA.
    if items[0].as_u32().map_err(|_| invalid())? != 0 || items.len() > 9 {
        return Err(("SERVER_CERTIFICATE_KEY_RSA_MULTI_NOT_SUPPORTED", vec![]));
    }
    let n = strip(items[1].as_slice().map_err(|_| invalid())?);
    let e = strip(items[2].as_slice().map_err(|_| invalid())?);
    let bits = bit_length(&n);
    if !(2048..=4096).contains(&bits) {
        return Err(("SERVER_CERTIFICATE_KEY_RSA_LENGTH_NOT_SUPPORTED", vec![bits.to_string()]));
    }
    Ok((n, e))
}

fn curve_name(oid: &str) -> String {
    match oid {
        "1.2.840.10045.3.1.7" => "P256",
        "1.3.132.0.34" => "P384",
        "1.3.132.0.35" => "P521",
        "1.3.132.0.33" => "P224",
        other => other,
    }
    .to_string()
}

fn strip(bytes: &[u8]) -> Vec<u8> {
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes[skip..].to_vec()
}

fn bit_length(n: &[u8]) -> usize {
    match n.first() {
        None => 0,
        Some(b) => n.len() * 8 - b.leading_zeros() as usize,
    }
}

/// The first certificate of a PEM text, checked for its validity at `now`
/// with the error codes given (xapi's `validate_not_expired`).
fn valid_certificate(
    pem: &str,
    now: i64,
    invalid: &'static str,
    not_yet: &'static str,
    expired: &'static str,
) -> Result<(Vec<u8>, Facts), Refusal> {
    let der = certificate_blocks(pem).and_then(|c| c.into_iter().next()).ok_or((invalid, vec![]))?;
    let facts = facts(&der).ok_or((invalid, vec![]))?;
    if now < facts.not_before {
        return Err((not_yet, vec![rfc3339(now), rfc3339(facts.not_before)]));
    }
    if now > facts.not_after {
        return Err((expired, vec![rfc3339(now), rfc3339(facts.not_after)]));
    }
    Ok((der, facts))
}

/// Checks a server certificate to install as xapi's gencert does, in its
/// order: the key (RSA of 2048 to 4096 bits, one prime pair), the leaf
/// (parses, valid now), the key matching the leaf, a SHA-256 or SHA-512
/// signature, the chain when given. Returns the PEM to serve.
pub fn check_server_certificate(
    certificate: &str,
    private_key: &str,
    chain: &str,
    now: i64,
) -> Result<String, Refusal> {
    let (n, e) = rsa_private_key(private_key)?;
    let (der, _) = valid_certificate(
        certificate,
        now,
        "SERVER_CERTIFICATE_INVALID",
        "SERVER_CERTIFICATE_NOT_VALID_YET",
        "SERVER_CERTIFICATE_EXPIRED",
    )?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|_| ("SERVER_CERTIFICATE_INVALID", vec![]))?;
    let matches = match cert.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(k)) => strip(k.modulus) == n && strip(k.exponent) == e,
        _ => false,
    };
    if !matches {
        return Err(("SERVER_CERTIFICATE_KEY_MISMATCH", vec![]));
    }
    let alg = cert.signature_algorithm.algorithm.to_id_string();
    // sha256WithRSAEncryption, sha512WithRSAEncryption, and their ECDSA kin.
    let supported = ["1.2.840.113549.1.1.11", "1.2.840.113549.1.1.13", "1.2.840.10045.4.3.2", "1.2.840.10045.4.3.4"];
    if !supported.contains(&alg.as_str()) {
        return Err(("SERVER_CERTIFICATE_SIGNATURE_NOT_SUPPORTED", vec![]));
    }
    let mut pem = private_key.trim_end().to_string();
    pem.push('\n');
    pem.push_str(&to_pem("CERTIFICATE", &der));
    if !chain.is_empty() {
        let certs = certificate_blocks(chain).unwrap_or_default();
        let parsed = certs.iter().all(|c| x509_parser::parse_x509_certificate(c).is_ok());
        if certs.is_empty() || !parsed {
            return Err(("SERVER_CERTIFICATE_CHAIN_INVALID", vec![]));
        }
        for c in &certs {
            pem.push_str(&to_pem("CERTIFICATE", c));
        }
    }
    Ok(pem)
}

/// Checks a CA certificate as `pool.install_ca_certificate` does.
pub fn check_ca_certificate(cert: &str, now: i64) -> Result<Facts, Refusal> {
    valid_certificate(cert, now, "CA_CERTIFICATE_INVALID", "CA_CERTIFICATE_NOT_VALID_YET", "CA_CERTIFICATE_EXPIRED")
        .map(|(_, f)| f)
}

/// Whether a name is one xapi refuses for a file in its certificate
/// stores: a leading dot, no `.pem` suffix, a character other than
/// letters, digits, `.`, `_` and `-`.
pub fn unsafe_name(name: &str) -> bool {
    name.is_empty()
        || name.starts_with('.')
        || !name.ends_with(".pem")
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Every host's served certificate by host uuid, the front door's own pair
/// (`--cert`, or the one generated at start), and the pool's CRLs.
#[derive(Default)]
pub struct CertStore {
    hosts: RwLock<HashMap<String, Arc<Served>>>,
    front: OnceLock<Arc<Served>>,
    crls: Mutex<BTreeMap<String, String>>,
    dir: OnceLock<PathBuf>,
}

impl CertStore {
    /// Keeps the pairs and CRLs under `dir` (`STATE.certs`) from now on,
    /// reading the CRLs kept there.
    pub fn keep_in(&self, dir: PathBuf) -> std::io::Result<()> {
        std::fs::create_dir_all(dir.join("crl"))?;
        let mut crls = self.crls.lock();
        for e in std::fs::read_dir(dir.join("crl"))? {
            let e = e?;
            if let (Some(name), Ok(text)) = (e.file_name().to_str(), std::fs::read_to_string(e.path())) {
                crls.insert(name.to_string(), text);
            }
        }
        let _ = self.dir.set(dir);
        Ok(())
    }

    /// The pair a host kept from an earlier run, if any.
    pub fn saved(&self, host_uuid: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.get()?.join(format!("{host_uuid}.pem"))).ok()
    }

    /// The front door's own pair, set once at start.
    pub fn set_front(&self, served: Served) {
        let _ = self.front.set(Arc::new(served));
    }

    pub fn front(&self) -> Option<Arc<Served>> {
        self.front.get().cloned()
    }

    /// The certificate a host serves now.
    pub fn get(&self, host_uuid: &str) -> Option<Arc<Served>> {
        self.hosts.read().get(host_uuid).cloned()
    }

    /// Makes `pem` the host's certificate (kept first with `--state`); the
    /// host's listener serves it from the next handshake on.
    pub fn put(&self, host_uuid: &str, pem: &str) -> Result<Arc<Served>, String> {
        let served = Arc::new(served(pem)?);
        if let Some(dir) = self.dir.get() {
            write_private(&dir.join(format!("{host_uuid}.pem")), pem.as_bytes()).map_err(|e| e.to_string())?;
        }
        self.hosts.write().insert(host_uuid.to_string(), served.clone());
        Ok(served)
    }

    /// The CRLs' names, in order.
    pub fn crl_names(&self) -> Vec<String> {
        self.crls.lock().keys().cloned().collect()
    }

    /// Adds a CRL; `false` when one of that name exists.
    pub fn crl_add(&self, name: &str, text: &str) -> Result<bool, String> {
        let mut crls = self.crls.lock();
        if crls.contains_key(name) {
            return Ok(false);
        }
        if let Some(dir) = self.dir.get() {
            std::fs::write(dir.join("crl").join(name), text).map_err(|e| e.to_string())?;
        }
        crls.insert(name.to_string(), text.to_string());
        Ok(true)
    }

    /// Removes a CRL; `false` when there is none of that name.
    pub fn crl_remove(&self, name: &str) -> Result<bool, String> {
        let mut crls = self.crls.lock();
        if crls.remove(name).is_none() {
            return Ok(false);
        }
        if let Some(dir) = self.dir.get() {
            std::fs::remove_file(dir.join("crl").join(name)).map_err(|e| e.to_string())?;
        }
        Ok(true)
    }
}

fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_print_as_xapi_does() {
        assert_eq!(pp_hash(&[0xab, 0x01, 0xff]), "AB:01:FF");
    }

    #[test]
    fn a_self_signed_certificate_is_served_with_its_facts() {
        let pem = self_signed("host1", "127.0.0.11", 10).unwrap();
        let s = served(&pem).unwrap();
        assert_eq!(s.facts.sha256.len(), 32 * 3 - 1);
        assert_eq!(s.facts.not_after - s.facts.not_before, 10 * 86400);
        assert!(s.leaf_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    }

    #[test]
    fn an_ecdsa_key_is_not_supported() {
        let pem = self_signed("h", "", 10).unwrap();
        let err = check_server_certificate(&pem, &pem, "", 0).unwrap_err();
        assert_eq!(err, ("SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED", vec!["P256".to_string()]));
        assert_eq!(check_server_certificate(&pem, "junk", "", 0).unwrap_err().0, "SERVER_CERTIFICATE_KEY_INVALID");
    }

    #[test]
    fn names_are_checked_as_xapi_does() {
        assert!(!unsafe_name("ca-1.pem"));
        assert!(unsafe_name(".x.pem"));
        assert!(unsafe_name("x.crt"));
        assert!(unsafe_name("a b.pem"));
    }

    #[test]
    fn times_print_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
