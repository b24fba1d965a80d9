"""A small certificate authority for the lab, the benchmark and the tests.

A real deployment brings its own certificate (docs/operations.md); the lab
and the tests make theirs here with `cryptography`: one CA, and server
certificates it signs for the names and addresses a client uses.

    ca = CertificateAuthority.create("dws lab CA")
    ca.write(dir / "ca.pem")
    pair = ca.issue(["127.0.0.1", "cloud01"])
    pair.write(dir / "cert.pem", dir / "key.pem")
    http = client_session(dir / "ca.pem")
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey


def _key() -> PrivateKey:
    # P-256: what every TLS client accepts, and fast to make.
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _alt_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def key_pem(key: PrivateKey) -> bytes:
    """A private key as unencrypted PKCS#8 PEM, as nginx reads it."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    """A certificate as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class ServerCertificate:
    """A server certificate and its key."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        """The certificate as PEM."""
        return cert_pem(self.cert)

    @property
    def key_pem(self) -> bytes:
        """The key as PEM."""
        return key_pem(self.key)

    def write(self, cert_path: Path, key_path: Path) -> None:
        """Write the certificate and the key (readable by its owner only)."""
        for path in (cert_path, key_path):
            path.parent.mkdir(parents=True, exist_ok=True)
        cert_path.write_bytes(self.cert_pem)
        key_path.touch(mode=0o600)
        key_path.write_bytes(self.key_pem)


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA: its certificate and the key it signs with."""

    cert: x509.Certificate
    key: PrivateKey

    @classmethod
    def create(cls, common_name: str, days: int = 3650) -> CertificateAuthority:
        """A new self-signed CA valid for `days`."""
        key = _key()
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def load(cls, cert_path: Path, key_path: Path) -> CertificateAuthority:
        """A CA written by `write`."""
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path}: not the CA's EC key")
        return cls(cert, key)

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate as PEM: what clients trust."""
        return cert_pem(self.cert)

    def write(self, cert_path: Path, key_path: Path) -> None:
        """Write the CA certificate and its key (readable by its owner only)."""
        ServerCertificate(self.cert, self.key).write(cert_path, key_path)

    def issue(
        self,
        names: list[str],
        days: int = 825,
        not_after: dt.datetime | None = None,
    ) -> ServerCertificate:
        """A server certificate for `names` (host names and IP addresses).

        `not_after` in the past gives an expired certificate, for the tests.
        """
        if not names:
            raise ValueError("a server certificate needs at least one name")
        key = _key()
        now = _now()
        end = not_after or now + dt.timedelta(days=days)
        start = min(now, end) - dt.timedelta(days=1)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([_alt_name(n) for n in names]), False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
            .sign(self.key, hashes.SHA256())
        )
        return ServerCertificate(cert, key)


def client_session(verify: str | Path | bool = True) -> requests.Session:
    """A requests session that verifies servers with `verify` (a CA file)
    and nothing else.

    With `trust_env` on, requests lets REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE
    win over `Session.verify`, so a user with either set would check the lab
    against the system's CAs and fail. These clients talk only to the lab and
    to loopback: the environment's CA bundles and proxies are not for them.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = str(verify) if isinstance(verify, Path) else verify
    return session
