"""Browser tier: Debian's headless Chromium driven through chromedriver,
over HTTPS through the project's nginx in front of the service."""

from __future__ import annotations

import base64
import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from dws import bench_stack
from dws.harness import Nginx
from dws.util import free_port, wait_until


@dataclass(frozen=True)
class Edge:
    """nginx with the project's site config (HTTPS) in front of the session's gunicorn."""

    url: str
    ca: str
    certificate: Path

    def spki_hash(self) -> str:
        """The certificate's public key as Chromium's --ignore-certificate-errors-spki-list
        wants it: that one key is trusted, nothing else."""
        cert = x509.load_pem_x509_certificate(self.certificate.read_bytes())
        der = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="session")
def edge(gunicorn) -> Iterator[Edge]:
    """The site as a browser reaches it: nginx on HTTPS, then gunicorn."""
    # nginx's workers (user nobody under root) must read the error pages.
    prefix = Path(tempfile.mkdtemp(prefix="dws-browser-edge-"))
    prefix.chmod(0o755)
    port = free_port()
    conf = bench_stack.nginx_config(prefix, {"bootservice": port}, {"bootservice": [gunicorn.port]})
    server = Nginx(prefix, conf)
    server.start()
    edge = Edge(f"https://127.0.0.1:{port}", str(prefix / "ca.pem"), prefix / "site.pem")
    try:
        wait_until(
            "nginx over HTTPS",
            lambda: requests.get(f"{edge.url}/healthz", timeout=2, verify=edge.ca).ok,
            20,
            0.1,
        )
        yield edge
    finally:
        server.stop()
        shutil.rmtree(prefix, ignore_errors=True)


@pytest.fixture
def base_url(edge, citydb) -> str:
    """The site's HTTPS address, with citydb freshly reset."""
    return edge.url


@pytest.fixture(scope="session")
def browser(tmp_path_factory, edge) -> Iterator[webdriver.Chrome]:
    """A headless Chromium that trusts the edge's certificate and no other
    untrusted one; the flags keep it off the network and the sandbox (tests
    run as root here)."""
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    assert chromium and driver_path, "install Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
        f"--ignore-certificate-errors-spki-list={edge.spki_hash()}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()
