"""What the proxies retry, measured through real nginx in front of gunicorn.

The chain is the deployed one on loopback: the lab's front load balancer
(dws/recipes/lab/front-lb.conf) over two "nodes" (the project's nginx config,
adapted to loopback by bench_stack.nginx_config, one server block per node), each
over the same two bootservice instances under gunicorn, and MariaDB. Every
hop could retry, so a single attempt is a property of the configuration,
not of a lack of alternatives.
"""

from __future__ import annotations

import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from dws import bench_stack, frontlb, tls
from dws.harness import Gunicorn, MariaDB, Nginx

from helpers import DEMO_USER, basic_auth, free_port

TRACE = {"X-Upstream-Trace": "1"}
# The promised bound for a 503 through the whole chain with the database down.
FAST_503_S = 5.0


@dataclass
class Pki:
    """One CA and the certificate it signed for 127.0.0.1, used by every proxy."""

    ca: Path
    pair: tuple[Path, Path]


def front_config(prefix: Path, port: int, node_ports: list[int], pki: Pki) -> Path:
    """The lab's front load balancer config (`dws front-lb`) over loopback "nodes"."""
    frontlb.make_state_dir(prefix)
    nodes = [(f"node{i}", f"127.0.0.1:{p}") for i, p in enumerate(node_ports, 1)]
    conf = prefix / "nginx.conf"
    front_tls = frontlb.FrontTls(
        certificate=pki.pair[0], key=pki.pair[1], trusted_ca=pki.ca, node_name="localhost"
    )
    conf.write_text(
        frontlb.render(
            nodes,
            f"127.0.0.1:{port}",
            prefix,
            tls=front_tls,
            http_listen=f"127.0.0.1:{free_port()}",
        )
    )
    return conf


@dataclass
class Chain:
    db: MariaDB
    apps: list[Gunicorn]
    front_url: str
    node_urls: list[str]

    def app_log_lines(self, request_id: str) -> list[str]:
        """gunicorn access-log lines of one request id, over every instance.

        A line is written just after its response is sent: wait for the
        first, then a little longer for any other.
        """

        def lines() -> list[str]:
            return [
                line
                for app in self.apps
                for line in app.output().splitlines()
                if f"request_id={request_id}" in line
            ]

        deadline = time.monotonic() + 3
        while not lines() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        return lines()


def nginx_prefix(name: str) -> Path:
    """A directory nginx's workers (user nobody when run as root) can read:
    pytest's own temporary directories are private to root, and its 50x page
    would be a 403."""
    path = Path(tempfile.mkdtemp(prefix=f"dws-{name}-"))
    path.chmod(0o755)
    return path


def _start_nginx(prefix: Path, conf: Path) -> Nginx:
    server = Nginx(prefix, conf)
    server.start()
    return server


def _wait_ok(url: str, ca: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2, verify=str(ca)).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer")


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    directory = nginx_prefix("pki")
    yield Pki(directory / "ca.pem", bench_stack.site_certificate(directory))
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def http(pki) -> Iterator[requests.Session]:
    """A client that trusts the proxies' CA."""
    with tls.client_session(pki.ca) as session:
        yield session


@pytest.fixture(scope="module")
def chain(tmp_path_factory, pki) -> Iterator[Chain]:
    tmp = tmp_path_factory.mktemp("chain")
    db = MariaDB(tmp / "db")
    apps: list[Gunicorn] = []
    proxies: list[Nginx] = []
    prefixes: list[Path] = []
    try:
        db.install()
        key = tmp / "secret_key"
        key.write_text("chain-" + "k" * 40)
        for i in range(2):
            env = {**db.app_env(), "SECRET_KEY_FILE": str(key), "READ_CACHE_TTL": "0"}
            apps.append(Gunicorn(env, tmp / f"gunicorn{i}.log", workers=2))
            apps[-1].start()
        node_ports = {"node1": free_port(), "node2": free_port()}
        app_ports = [app.port for app in apps]
        nodes, front = nginx_prefix("nodes"), nginx_prefix("front")
        prefixes += [nodes, front]
        conf = bench_stack.nginx_config(
            nodes, node_ports, {name: app_ports for name in node_ports}, tls_pair=pki.pair
        )
        proxies.append(_start_nginx(nodes, conf))
        front_port = free_port()
        front_conf = front_config(front, front_port, [*node_ports.values()], pki)
        proxies.append(_start_nginx(front, front_conf))
        node_urls = [f"https://127.0.0.1:{p}" for p in node_ports.values()]
        for url in [*node_urls, f"https://127.0.0.1:{front_port}"]:
            _wait_ok(f"{url}/healthz", pki.ca)
        yield Chain(db, apps, f"https://127.0.0.1:{front_port}", node_urls)
    finally:
        for proxy in reversed(proxies):
            proxy.stop()
        for app in apps:
            app.stop()
        db.destroy()
        for path in prefixes:
            shutil.rmtree(path, ignore_errors=True)


def test_attempts_and_request_id_come_back_when_asked(http, chain):
    rid = uuid.uuid4().hex
    resp = http.get(
        f"{chain.front_url}/api/v1/countries/1",
        headers={**TRACE, "X-Request-ID": rid},
        timeout=10,
    )
    assert resp.status_code == 200 and resp.json()["countryname"] == "Angola"
    assert resp.headers["X-Request-ID"] == rid
    # One attempt at each level: one node, one replica.
    assert resp.headers["X-Front-Upstream-Status"] == "200"
    assert resp.headers["X-Upstream-Status"] == "200"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", resp.headers["X-Front-Upstream-Addr"])
    assert re.fullmatch(r"127\.0\.0\.1:\d+", resp.headers["X-Upstream-Addr"])
    # The id reached the replica that answered, and only it.
    assert len(chain.app_log_lines(rid)) == 1

    plain = http.get(f"{chain.front_url}/api/v1/countries/1", timeout=10)
    assert plain.status_code == 200
    assert not {
        h for h in plain.headers if h.lower().endswith(("upstream-addr", "upstream-status"))
    }
    # Without a usable id of the caller's, nginx makes one.
    assert re.fullmatch(r"[0-9a-f]{32}", plain.headers["X-Request-ID"])
    hostile = http.get(
        f"{chain.front_url}/healthz", headers={"X-Request-ID": "a b<script>"}, timeout=10
    )
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["X-Request-ID"])


def test_database_down_is_one_fast_503_through_the_chain(http, chain):
    chain.db.stop()
    try:
        worst = 0.0
        for path, method in [
            ("/api/v1/countries/1", "GET"),
            ("/api/v1/countries?countryname=an", "GET"),
            ("/countries", "GET"),
            ("/api/v1/countries", "POST"),
            ("/readyz", "GET"),
        ] * 2:
            rid = uuid.uuid4().hex
            start = time.monotonic()
            resp = http.request(
                method,
                f"{chain.front_url}{path}",
                headers={**TRACE, **basic_auth(*DEMO_USER), "X-Request-ID": rid},
                json={"countryname": "Nowhere", "countrycode": "NW"} if method == "POST" else None,
                timeout=30,
            )
            took = time.monotonic() - start
            worst = max(worst, took)
            assert resp.status_code == 503, (method, path, resp.status_code)
            assert took < FAST_503_S, (method, path, took)
            if path != "/readyz":  # the readiness probe's own 503 has no Retry-After
                assert resp.headers["Retry-After"] == "5"
            if path.startswith("/api/"):
                assert resp.json()["error"] == "database unavailable"
            # A single attempt at the front and at the node: the app's 503 is
            # an answer, passed on, not retried.
            assert resp.headers["X-Front-Upstream-Status"] == "503", path
            assert resp.headers["X-Upstream-Status"] == "503", path
            assert len(chain.app_log_lines(rid)) == 1, path
        print(f"worst time to a 503 through front -> nginx -> gunicorn: {worst:.3f}s")
    finally:
        chain.db.start()
    _wait_ok(f"{chain.front_url}/readyz", Path(http.verify))


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port that accepts connections and never answers: a dead host's replica."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


@pytest.fixture
def node_over(pki) -> Iterator:
    """Start a node's nginx over given upstream ports; stopped afterwards."""
    started: list[tuple[Nginx, Path]] = []

    def start(ports: list[int]) -> str:
        prefix = nginx_prefix("node")
        port = free_port()
        conf = bench_stack.nginx_config(
            prefix, {"bootservice": port}, {"bootservice": ports}, tls_pair=pki.pair
        )
        started.append((_start_nginx(prefix, conf), prefix))
        url = f"https://127.0.0.1:{port}"
        _wait_ok(f"{url}/nginx-health", pki.ca)
        return url

    yield start
    for server, prefix in started:
        server.stop()
        shutil.rmtree(prefix, ignore_errors=True)


def test_read_without_answer_is_retried_on_another_replica(http, chain, blackhole, node_over):
    # The silent replica is first: each nginx worker's first pick.
    url = node_over([blackhole, chain.apps[0].port])
    start = time.monotonic()
    resp = http.get(f"{url}/api/v1/countries/2", headers=TRACE, timeout=30)
    took = time.monotonic() - start
    assert resp.status_code == 200 and resp.json()["countrycode"] == "AF"
    assert resp.headers["X-Upstream-Status"] == "504, 200"
    assert 9.5 < took < 12, took  # proxy_read_timeout 10s, then the next replica


def test_post_sent_to_a_silent_replica_is_not_resent(
    http, chain, blackhole, node_over, auth_header
):
    url = node_over([blackhole, chain.apps[0].port])
    key = f'"{uuid.uuid4()}"'
    body = {"countryname": "Silentia", "countrycode": "SI"}
    headers = {**auth_header, **TRACE, "Idempotency-Key": key}
    first = http.post(f"{url}/api/v1/countries", json=body, headers=headers, timeout=30)
    # Sent to the silent replica, then no answer: nginx cannot know whether
    # it was applied, so it does not send it elsewhere.
    assert first.status_code == 504
    assert first.headers["X-Upstream-Status"] == "504"
    # The client repeats it with its key until it learns the outcome.
    for _ in range(3):
        again = http.post(f"{url}/api/v1/countries", json=body, headers=headers, timeout=30)
        if again.status_code == 201:
            break
    assert again.status_code == 201
    assert chain.db.query("SELECT COUNT(*) FROM country WHERE countryname = 'Silentia'") == ((1,),)
