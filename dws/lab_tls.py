"""The lab's HTTPS: its certificate authority, the site's certificate, and
clients that trust exactly that authority.

The lab serves HTTPS like a real site. One CA is made for it and kept in
build/lab/ca.pem (what a person passes to `curl --cacert`); it signs one
certificate for every name and address a client uses: the front's
127.0.0.1 and localhost, the nodes' names and addresses, and SITE_NAME, the
name the front load balancer asks the nodes for when it re-encrypts. The
nodes' nginx get it as the secrets nginx_tls_certificate and nginx_tls_key,
the front load balancer reads the same files.
"""

from __future__ import annotations

from pathlib import Path

import requests
from cryptography import x509

from dws import tls
from dws.util import LAB_DIR

CA_CERT = LAB_DIR / "ca.pem"
TLS_DIR = LAB_DIR / "tls"
CA_KEY = TLS_DIR / "ca-key.pem"
SITE_CERT = TLS_DIR / "site.pem"
SITE_KEY = TLS_DIR / "site-key.pem"
SITE_NAME = "dws-lab"


def site_names(nodes: dict[str, str]) -> list[str]:
    """The names and addresses the site's certificate is for."""
    return ["127.0.0.1", "localhost", SITE_NAME, *nodes, *nodes.values()]


def _names_of(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(name.value) for name in alt}


def ensure(nodes: dict[str, str]) -> bool:
    """Make the CA and the site's certificate unless they exist and cover
    today's nodes; whether a new site certificate was issued."""
    fresh = not (CA_CERT.exists() and CA_KEY.exists())
    if fresh:
        ca = tls.CertificateAuthority.create("dws lab CA")
        ca.write(CA_CERT, CA_KEY)
        CA_CERT.chmod(0o644)
    else:
        ca = tls.CertificateAuthority.load(CA_CERT, CA_KEY)
    names = site_names(nodes)
    current = SITE_CERT.exists() and SITE_KEY.exists() and _names_of(SITE_CERT) == set(names)
    if current and not fresh:
        return False
    ca.issue(names).write(SITE_CERT, SITE_KEY)
    return True


def renew(nodes: dict[str, str]) -> int:
    """A new site certificate (new key, same names) from the lab's CA in
    place of the old one; its serial number. The secrets made from the old
    files keep the old one."""
    ca = tls.CertificateAuthority.load(CA_CERT, CA_KEY)
    issued = ca.issue(site_names(nodes))
    issued.write(SITE_CERT, SITE_KEY)
    return issued.cert.serial_number


def session() -> requests.Session:
    """A requests session that trusts the lab's CA (and only it)."""
    return tls.client_session(CA_CERT)
