"""The nginx image over HTTPS: its protocols, HTTP/2, HSTS, the redirect from
port 80, and a bad certificate stopping the task with one clear line."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import warnings

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from dockerlib import SITE_NAME, https_session, write_site_tls

pytestmark = pytest.mark.docker

TWO_YEARS = 63072000


@pytest.fixture(scope="module")
def front(pulled, containers, site_tls) -> str:
    """The nginx image alone with a good certificate; its address."""
    proxy = containers.run(
        pulled.image("nginx"), "nginx-tls", network=containers.network(), binds=site_tls.binds
    )
    containers.wait_health(proxy, "healthy", 60)
    return containers.ip(proxy)


def handshake(
    address: str, ca: str, version: ssl.TLSVersion, alpn: list[str] | None = None
) -> ssl.SSLSocket:
    """A finished handshake with exactly `version` (closed by the caller)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca)
    with warnings.catch_warnings():
        # Offering TLS 1.0 and 1.1 is deprecated: here it is the point.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = version
        context.maximum_version = version
        if version < ssl.TLSVersion.TLSv1_2:
            context.set_ciphers("ALL:@SECLEVEL=0")
    if alpn:
        context.set_alpn_protocols(alpn)
    sock = socket.create_connection((address, 443), timeout=10)
    try:
        return context.wrap_socket(sock, server_hostname=SITE_NAME)
    except BaseException:
        sock.close()
        raise


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_old_protocols_are_refused_by_the_server(front, site_tls, version):
    with pytest.raises(ssl.SSLError) as refused:
        handshake(front, str(site_tls.ca), getattr(ssl.TLSVersion, version)).close()
    # The server's alert, not a client that would not offer it.
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", refused.value


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_current_protocols_are_accepted_with_http2(front, site_tls, version):
    tls_version = getattr(ssl.TLSVersion, version)
    with handshake(front, str(site_tls.ca), tls_version, ["h2", "http/1.1"]) as sock:
        assert sock.version() == version.replace("_", ".")
        assert sock.selected_alpn_protocol() == "h2"
        # Forward-secret AEAD ciphers only.
        name, _, _ = sock.cipher()
        assert "GCM" in name or "CHACHA20" in name, name


def test_https_answers_with_hsts(front, site_tls):
    with https_session(site_tls.ca) as http:
        health = http.get(f"https://{front}/nginx-health", timeout=10)
        page = http.get(f"https://{front}/countries", timeout=15)  # no upstream: 502
    assert health.status_code == 200 and health.text == "ok\n"
    for resp in (health, page):
        max_age = int(resp.headers["Strict-Transport-Security"].removeprefix("max-age="))
        assert max_age >= 365 * 24 * 3600
    assert page.status_code == 502 and "temporarily unavailable" in page.text


def test_port_80_redirects_to_the_same_url_on_https(front):
    resp = requests.get(
        f"http://{front}/countries?page=2&countryname=a%20b",
        headers={"Host": "www.example.test"},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 301
    assert resp.headers["Location"] == "https://www.example.test/countries?page=2&countryname=a%20b"


def test_port_80_still_answers_the_health_check(front):
    resp = requests.get(f"http://{front}/nginx-health", allow_redirects=False, timeout=10)
    assert resp.status_code == 200 and resp.text == "ok\n"


def _bad_pair(kind: str, test_ca):
    good = test_ca.issue([SITE_NAME])
    if kind == "expired":
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        return test_ca.issue([SITE_NAME], not_after=past), None
    if kind == "mismatched key":
        return good, test_ca.issue([SITE_NAME]).key_pem
    return good, None


@pytest.mark.parametrize(
    "kind, line",
    [
        (
            "expired",
            r"dws-nginx: error: the certificate in /run/secrets/nginx_tls_certificate expired on ",
        ),
        (
            "mismatched key",
            "dws-nginx: error: the key in /run/secrets/nginx_tls_key does not belong to the "
            "certificate in /run/secrets/nginx_tls_certificate",
        ),
        (
            "not PEM",
            "dws-nginx: error: /run/secrets/nginx_tls_certificate is not a PEM certificate",
        ),
        (
            "missing key",
            "dws-nginx: error: no readable TLS key at /run/secrets/nginx_tls_key",
        ),
    ],
)
def test_a_bad_certificate_stops_nginx_with_one_line(
    pulled, containers, tmp_path, test_ca, kind, line
):
    pair, other_key = _bad_pair(kind, test_ca)
    secrets = write_site_tls(tmp_path / "secrets", test_ca, pair)
    if other_key:
        (secrets.directory / "nginx_tls_key").write_bytes(other_key)
    if kind == "not PEM":
        der = pair.cert.public_bytes(serialization.Encoding.DER)
        (secrets.directory / "nginx_tls_certificate").write_bytes(der)
    if kind == "missing key":
        (secrets.directory / "nginx_tls_key").unlink()
    name = containers.run(
        pulled.image("nginx"), "nginx-bad", network=containers.network(), binds=secrets.binds
    )
    status = containers.api.wait(name, timeout=60)["StatusCode"]
    assert status == 1
    logs = containers.api.logs(name).decode(errors="replace").strip().splitlines()
    assert logs and logs[-1].startswith(line), logs
    # It exited before any healthcheck could pass.
    state = containers.api.inspect_container(name)["State"]
    assert state.get("Health", {}).get("Status") != "healthy"
