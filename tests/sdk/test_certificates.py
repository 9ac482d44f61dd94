"""Certificates through the official SDK: a certificate made here with the
openssl command line is installed on a host, and the host's own HTTPS
address then serves it, its SHA-256 equal to the Certificate record's
fingerprint (this datamodel's `fingerprint` is the SHA-256 one)."""

import hashlib
import os
import shutil
import socket
import ssl
import subprocess

import pytest
import XenAPI
from conftest import Sim

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture()
def tls_sim():
    s = Sim("--time-scale", "0", "--tls")
    yield s
    s.stop()


@pytest.fixture()
def pair(tmp_path):
    """An RSA key and a self-signed certificate for it, as PEM text."""
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
            "-days", "30", "-subj", "/CN=sdk-test", "-sha256")
    return crt.read_text(), key.read_text()


def served_sha256(address, port):
    """The SHA-256 of the leaf certificate served at address:port, as xapi prints fingerprints."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((address, port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def host_record_fingerprint(x, host):
    certs = [x.Certificate.get_record(c) for c in x.host.get_certificates(host)]
    [cert] = [c for c in certs if c["type"] == "host"]
    return cert["fingerprint"]


def member(x):
    master = x.pool.get_master(x.pool.get_all()[0])
    return [h for h in x.host.get_all() if h != master][0]


def test_every_host_serves_its_recorded_certificate(tls_sim):
    x = tls_sim.session().xenapi
    for h in x.host.get_all():
        address = x.host.get_address(h)
        assert served_sha256(address, tls_sim.port) == host_record_fingerprint(x, h)
    master = x.pool.get_master(x.pool.get_all()[0])
    assert served_sha256(tls_sim.host, tls_sim.port) == host_record_fingerprint(x, master)


def test_an_installed_certificate_is_served(tls_sim, pair):
    crt, key = pair
    x = tls_sim.session().xenapi
    h = member(x)
    before = host_record_fingerprint(x, h)
    x.host.install_server_certificate(h, crt, key, "")
    after = host_record_fingerprint(x, h)
    assert after != before
    assert served_sha256(x.host.get_address(h), tls_sim.port) == after
    der = ssl.PEM_cert_to_DER_cert(crt)
    assert after == ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    assert ssl.PEM_cert_to_DER_cert(x.host.get_server_certificate(h)) == der
    # Reset: a new self-signed certificate, served and recorded.
    x.host.reset_server_certificate(h)
    reset = host_record_fingerprint(x, h)
    assert reset not in (before, after)
    assert served_sha256(x.host.get_address(h), tls_sim.port) == reset


def test_the_masters_certificate_is_the_front_doors(tls_sim, pair):
    crt, key = pair
    x = tls_sim.session().xenapi
    master = x.pool.get_master(x.pool.get_all()[0])
    x.host.install_server_certificate(master, crt, key, "")
    assert served_sha256(tls_sim.host, tls_sim.port) == host_record_fingerprint(x, master)
    # The SDK's session still works on new connections.
    assert x.host.get_record(master)["uuid"]


def test_refusals(tls_sim, pair, tmp_path):
    crt, key = pair
    x = tls_sim.session().xenapi
    h = member(x)
    other = tmp_path / "other.pem"
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(other))
    with pytest.raises(XenAPI.Failure) as e:
        x.host.install_server_certificate(h, crt, other.read_text(), "")
    assert e.value.details == ["SERVER_CERTIFICATE_KEY_MISMATCH"]
    ec = tmp_path / "ec.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", str(ec))
    with pytest.raises(XenAPI.Failure) as e:
        x.host.install_server_certificate(h, crt, ec.read_text(), "")
    assert e.value.details == ["SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED", "P384"]
    sha1 = tmp_path / "sha1.pem"
    keyfile = tmp_path / "key.pem"
    keyfile.write_text(key)
    openssl("req", "-x509", "-key", str(keyfile), "-out", str(sha1), "-days", "30", "-subj", "/CN=x", "-sha1")
    with pytest.raises(XenAPI.Failure) as e:
        x.host.install_server_certificate(h, sha1.read_text(), key, "")
    assert e.value.details == ["SERVER_CERTIFICATE_SIGNATURE_NOT_SUPPORTED"]
    with pytest.raises(XenAPI.Failure) as e:
        x.host.install_server_certificate(h, crt, key, "not a chain")
    assert e.value.details == ["SERVER_CERTIFICATE_CHAIN_INVALID"]


def test_ca_certificates_and_crls(tls_sim, pair):
    crt, _ = pair
    x = tls_sim.session().xenapi
    x.pool.install_ca_certificate("sdk-ca.pem", crt)
    assert x.pool.certificate_list() == ["sdk-ca.pem"]
    [ca] = [x.Certificate.get_record(c) for c in x.Certificate.get_all()
            if x.Certificate.get_type(c) == "ca"]
    assert ca["name"] == "sdk-ca.pem" and ca["host"] == "OpaqueRef:NULL"
    with pytest.raises(XenAPI.Failure) as e:
        x.pool.install_ca_certificate("sdk-ca.pem", crt)
    assert e.value.details == ["CERTIFICATE_ALREADY_EXISTS", "sdk-ca.pem"]
    x.pool.uninstall_ca_certificate("sdk-ca.pem")
    assert x.pool.certificate_list() == []
    x.pool.crl_install("revoked.pem", "a CRL")
    assert x.pool.crl_list() == ["revoked.pem"]
    x.pool.crl_uninstall("revoked.pem")
    assert x.pool.crl_list() == []
