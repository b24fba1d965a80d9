"""The lab's certificate authority (dws.tls, dws.lab_tls)."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest
from cryptography import x509

from dws import lab_tls, tls


def alt_names(cert: x509.Certificate) -> set[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n.value) for n in ext}


def test_a_server_certificate_names_hosts_and_addresses_and_is_signed_by_the_ca():
    ca = tls.CertificateAuthority.create("test CA")
    pair = ca.issue(["127.0.0.1", "cloud01", "10.0.0.2"])
    assert alt_names(pair.cert) == {"127.0.0.1", "cloud01", "10.0.0.2"}
    ext = pair.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("10.0.0.2") in ext.get_values_for_type(x509.IPAddress)
    pair.cert.verify_directly_issued_by(ca.cert)
    assert not pair.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert pair.cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=800)
    assert pair.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_an_expired_certificate_for_the_tests():
    ca = tls.CertificateAuthority.create("test CA")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = ca.issue(["x.test"], not_after=past).cert
    assert cert.not_valid_after_utc == past.replace(microsecond=0)
    assert cert.not_valid_before_utc < cert.not_valid_after_utc


def test_no_certificate_without_a_name():
    with pytest.raises(ValueError):
        tls.CertificateAuthority.create("test CA").issue([])


def test_files_are_written_with_the_key_private(tmp_path):
    ca = tls.CertificateAuthority.create("test CA")
    ca.write(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    assert (tmp_path / "ca-key.pem").stat().st_mode & 0o077 == 0
    again = tls.CertificateAuthority.load(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    assert again.cert == ca.cert


@pytest.fixture
def lab_dir(tmp_path, monkeypatch):
    for name, rel in {
        "CA_CERT": "ca.pem",
        "CA_KEY": "tls/ca-key.pem",
        "SITE_CERT": "tls/site.pem",
        "SITE_KEY": "tls/site-key.pem",
    }.items():
        monkeypatch.setattr(lab_tls, name, tmp_path / rel)
    return tmp_path


def test_the_lab_certificate_is_made_once_and_again_for_other_nodes(lab_dir):
    nodes = {"cloud01": "172.18.0.2", "cloud02": "172.18.0.3"}
    assert lab_tls.ensure(nodes) is True
    first = lab_tls.SITE_CERT.read_bytes()
    cert = x509.load_pem_x509_certificate(first)
    assert alt_names(cert) == {"127.0.0.1", "localhost", "dws-lab", *nodes, *nodes.values()}
    assert lab_tls.ensure(nodes) is False
    assert lab_tls.SITE_CERT.read_bytes() == first
    assert lab_tls.ensure({**nodes, "cloud03": "172.18.0.4"}) is True
    ca = x509.load_pem_x509_certificate(lab_tls.CA_CERT.read_bytes())
    x509.load_pem_x509_certificate(lab_tls.SITE_CERT.read_bytes()).verify_directly_issued_by(ca)
    # A lost CA means a new one, and so a new site certificate it signed.
    lab_tls.CA_CERT.unlink()
    assert lab_tls.ensure(nodes) is True
    new_ca = x509.load_pem_x509_certificate(lab_tls.CA_CERT.read_bytes())
    x509.load_pem_x509_certificate(lab_tls.SITE_CERT.read_bytes()).verify_directly_issued_by(new_ca)


def test_a_client_session_keeps_its_ca_whatever_the_environment_names(monkeypatch, tmp_path):
    ca = tmp_path / "ca.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    with tls.client_session(ca) as session:
        settings = session.merge_environment_settings(
            "https://127.0.0.1:8443/", {}, None, None, None
        )
    assert settings["verify"] == str(ca)
    assert settings["proxies"] == {}
