"""The images as build.py builds and pushes them, pulled back and run."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import time
from collections.abc import Iterator

import pymysql
import pytest
import requests

from dockerlib import ROOT, https_session, read_secret

pytestmark = pytest.mark.docker

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)


# ------------------------------------------------------------ build and push


def test_build_shows_progress_and_a_summary_of_pushed_images(built):
    out = built.proc.stdout
    # One line per event: build steps and push progress of every image.
    assert re.search(r"^\[bootservice:1\.0-dws\] Step \d+/\d+ : FROM", out, re.M)
    assert re.search(r"^\[push nginx:[\d.]+-dws\] .*Pushed", out, re.M)
    table = out[out.index("IMAGE ") :].splitlines()
    assert table[0].split() == ["IMAGE", "TAG", "SIZE", "DIGEST", "PUSHED"]
    rows = {f"{r.split()[0]}:{r.split()[1]}": r.split() for r in table[1:6]}
    assert set(rows) == set(built.tags.values())
    for cells in rows.values():
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", cells[4])
        assert cells[5] == "yes"
    # Then the exact variables stack.yml needs for these tags, also in images.json.
    registry = next(iter(built.tags.values())).split("/")[0]
    mysql = built.tags["mysql"].rsplit(":", 1)[1].removesuffix("-dws")
    nginx = built.tags["nginx"].rsplit(":", 1)[1].removesuffix("-dws")
    export = (
        f"  export REGISTRY={registry} NAMESPACE=myhub MYSQL_VERSION={mysql} NGINX_VERSION={nginx}"
    )
    assert export in out.splitlines()


def test_the_registry_holds_every_tag_with_the_reported_digest(built):
    out = built.proc.stdout
    for ref in built.tags.values():
        repo, tag = ref.split("/", 1)[1].rsplit(":", 1)
        tags = built.registry.get(f"/v2/{repo}/tags/list").json()["tags"]
        assert tag in tags
        head = requests.head(
            f"http://{built.registry.address}/v2/{repo}/manifests/{tag}",
            headers={"Accept": MANIFEST_TYPES},
            timeout=10,
        )
        assert head.status_code == 200
        digest = head.headers["Docker-Content-Digest"]
        assert f"{ref}@{digest}" in out, f"build.py did not report {digest} for {ref}"


def test_bootservice_adds_at_most_45_mb_to_its_base(api, pulled, bases):
    # 28 MB of code and dependencies after the diet (see the Dockerfile), and
    # 16 MB of bytecode compiled at build: each replica starts about 2 s of
    # CPU sooner for it.
    base = api.inspect_image(bases["python"])["Size"]
    for key in ("boot1", "boot2", "broken"):
        added = api.inspect_image(pulled.image(key))["Size"] - base
        assert added <= 45_000_000, f"{key} adds {added / 1e6:.1f} MB"


def test_versions_share_every_layer_but_differ_in_app_version(api, pulled):
    one, two = (api.inspect_image(pulled.image(k)) for k in ("boot1", "boot2"))
    assert one["RootFS"]["Layers"] == two["RootFS"]["Layers"]
    assert "APP_VERSION=1.0" in one["Config"]["Env"]
    assert "APP_VERSION=2.0" in two["Config"]["Env"]


def test_bootservice_image_config(api, pulled):
    info = api.inspect_image(pulled.image("boot1"))
    cfg = info["Config"]
    assert cfg["Cmd"] == ["python", "-m", "bootservice.serve"]
    assert cfg["User"] and cfg["User"].split(":")[0] not in ("", "0", "root")
    assert cfg["Healthcheck"]["Test"] == [
        "CMD",
        "python",
        "-I",
        "-S",
        "/app/bootservice/healthcheck.py",
    ]
    labels = cfg["Labels"]
    assert labels["org.opencontainers.image.version"] == "1.0"
    # The commit built from (+ "-dirty" with local changes), one git knows.
    revision = labels["org.opencontainers.image.revision"]
    m = re.fullmatch(r"([0-9a-f]{40})(-dirty)?", revision)
    assert m, revision
    known = subprocess.run(["git", "cat-file", "-e", m.group(1) + "^{commit}"], cwd=ROOT)
    assert known.returncode == 0
    created = dt.datetime.fromisoformat(labels["org.opencontainers.image.created"])
    assert abs(dt.datetime.now(dt.UTC) - created) < dt.timedelta(hours=2)
    assert labels["org.opencontainers.image.source"]


# --------------------------------------------------------------------- mysql


def _connect(containers, stack, user, password, database="citydb"):
    return pymysql.connect(
        host=containers.ip(stack.mysql),
        user=user,
        password=password,
        database=database,
        connect_timeout=5,
    )


def test_mysql_initialises_citydb_for_the_least_privilege_app_user(containers, stack, secrets_dir):
    password = read_secret(secrets_dir, "mysql_app_password")
    with _connect(containers, stack, "dws", password) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM country")
        assert cur.fetchone()[0] == 183
        cur.execute("SELECT name, state FROM city WHERE id = 1")
        assert cur.fetchone() == ("石家庄", "河北")  # utf8mb4 all the way
        cur.execute("SELECT @@character_set_server, @@max_connections")
        assert cur.fetchone() == ("utf8mb4", 800)
        # The server's clock is Asia/Shanghai (UTC+8), as in the tutorial.
        cur.execute("SELECT TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), NOW())")
        assert round(cur.fetchone()[0] / 60) == 8
        cur.execute("UPDATE city SET state = state WHERE id = 1")
        with pytest.raises(pymysql.err.OperationalError) as denied:
            cur.execute("DROP TABLE city")
        assert denied.value.args[0] == 1142  # DROP command denied
        with pytest.raises(pymysql.err.OperationalError):
            cur.execute("CREATE TABLE t (id INT)")
        with pytest.raises(pymysql.err.OperationalError):
            cur.execute("SELECT COUNT(*) FROM mysql.user")
        cur.execute("SELECT COUNT(*) FROM city")
        assert cur.fetchone()[0] == 2


def test_mysql_root_cannot_log_in_over_the_network(containers, stack, secrets_dir):
    root_pw = read_secret(secrets_dir, "mysql_root_password")
    with pytest.raises(pymysql.err.OperationalError) as denied:
        _connect(containers, stack, "root", root_pw, database="mysql")
    assert denied.value.args[0] == 1045
    # ... but works from inside the container, over the socket.
    code, out = containers.exec(
        stack.mysql,
        ["mysql", "-uroot", f"-p{root_pw}", "-N", "-e", "SELECT COUNT(*) FROM citydb.country"],
    )
    assert code == 0 and "183" in out


def test_mysql_healthcheck_needs_the_server_on_tcp(api, containers, pulled, secrets_dir):
    """A server without networking, like the init phase's temporary one, fails the check."""
    test = api.inspect_image(pulled.image("mysql"))["Config"]["Healthcheck"]["Test"]
    assert test == ["CMD", "dws-db", "health"]
    # The real server with networking off, as the init phase runs it.
    name = containers.run(
        pulled.image("mysql"),
        "mysql-nonet",
        environment={
            "MYSQL_ROOT_PASSWORD": "x",
            "MYSQL_APP_PASSWORD_FILE": "/run/secrets/mysql_app_password",
        },
        binds={str(secrets_dir): {"bind": "/run/secrets", "mode": "ro"}},
        command=["mysqld", "--skip-networking"],
    )
    deadline = time.monotonic() + 120
    while containers.exec(name, ["mysqladmin", "-uroot", "-px", "ping"])[0] != 0:
        assert time.monotonic() < deadline, api.logs(name).decode()[-3000:]
        time.sleep(1)
    code, out = containers.exec(name, test[1:])
    assert code != 0, out
    assert containers.health(name) in ("starting", "unhealthy")


# --------------------------------------------------------------- bootservice


def test_bootservice_is_healthy_and_serves_healthz_as_non_root(containers, stack):
    for name in (stack.boot1, stack.boot2):
        assert containers.health(name) == "healthy"
        r = requests.get(f"http://{containers.ip(name)}:8888/healthz", timeout=5)
        assert r.status_code == 200
        code, uid = containers.exec(name, ["id", "-u"])
        assert code == 0 and uid.strip() not in ("", "0")


@pytest.mark.parametrize(
    ("key", "version", "title"),
    [("boot1", "1.0", "国家(地区)列表"), ("boot2", "2.0", "国家(地区)列表-2.0版本")],
)
def test_bootservice_versions_serve_their_title_from_mysql(containers, stack, key, version, title):
    base = f"http://{containers.ip(getattr(stack, key))}:8888"
    assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
    page = requests.get(f"{base}/countries", timeout=10)
    assert page.status_code == 200
    assert page.headers["X-App-Version"] == version
    assert re.search(r"<title>\s*" + re.escape(title) + r"\s*</title>", page.text)
    api = requests.get(f"{base}/api/v1/countries", timeout=10).json()
    assert api["total"] == 183


def test_broken_image_serves_but_turns_unhealthy(containers, pulled, stack):
    # Configured like the real replicas: only the image differs.
    name = containers.run(
        pulled.image("broken"),
        "broken",
        network=stack.network,
        environment=stack.boot_env,
        binds=stack.binds,
    )
    took = containers.wait_health(name, "unhealthy", 90)
    r = requests.get(f"http://{containers.ip(name)}:8888/healthz", timeout=5)
    assert r.status_code == 200  # it starts and serves: only its healthcheck fails
    assert took < 60


# --------------------------------------------------------------------- nginx


@pytest.fixture(scope="module")
def nginx(pulled, containers, stack, site_tls):
    """nginx (HTTPS, its secrets mounted) in front of the two bootservice
    containers, both named `bootservice`."""
    # The stack's two bootservice containers both answer to `bootservice`,
    # like two swarm replicas with endpoint_mode dnsrr.
    proxy = containers.run(
        pulled.image("nginx"), "nginx", network=stack.network, binds=site_tls.binds
    )
    containers.wait_health(proxy, "healthy", 60)
    return f"https://{containers.ip(proxy)}", proxy


@pytest.fixture(scope="module")
def http(site_tls) -> Iterator[requests.Session]:
    """A client trusting the test CA, expecting the site's name."""
    with https_session(site_tls.ca) as session:
        yield session


def test_nginx_proxies_to_bootservice_with_headers(nginx, http, wait_for):
    base, _ = nginx
    r = wait_for(lambda: (x := http.get(f"{base}/countries", timeout=10)).ok and x)
    assert "国家(地区)列表" in r.text
    assert r.headers["X-Served-By"]
    assert r.headers["Server"] == "nginx"  # server_tokens off: no version
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "Referrer-Policy" in r.headers
    big = http.get(f"{base}/countries?rows=100", headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert big.headers.get("Content-Encoding") == "gzip"
    health = http.get(f"{base}/nginx-health", timeout=5)
    assert health.status_code == 200 and health.text.strip() == "ok"


def test_nginx_balances_across_replicas_and_runs_as_non_root(nginx, http, containers, stack):
    base, proxy = nginx
    served = {http.get(f"{base}/healthz", timeout=10).headers["X-Served-By"] for _ in range(20)}
    assert len(served) >= 2, served
    code, uid = containers.exec(proxy, ["sh", "-c", "id -u; cat /proc/1/status | grep ^Uid"])
    assert code == 0 and uid.split()[0] != "0"


def test_nginx_without_upstream_starts_and_shows_the_friendly_page(
    pulled, containers, site_tls, http
):
    net = containers.network()  # no `bootservice` on this network
    proxy = containers.run(pulled.image("nginx"), "nginx-alone", network=net, binds=site_tls.binds)
    containers.wait_health(proxy, "healthy", 60)
    r = http.get(f"https://{containers.ip(proxy)}/countries", timeout=15)
    assert r.status_code == 502
    assert "Service temporarily unavailable" in r.text
    assert r.headers["X-Frame-Options"] == "DENY"


def test_nginx_retries_the_next_replica_when_one_dies(nginx, http, containers, stack, pulled):
    """A stopped replica costs no failed request: nginx retries the other one."""
    base, _ = nginx
    api = containers.api
    spare = containers.run(
        pulled.image("boot1"),
        "boot-spare",
        network=stack.network,
        aliases=["bootservice"],
        environment={**stack.boot_env, "WEB_CONCURRENCY": "1"},
        binds=stack.binds,
    )
    containers.wait_health(spare, "healthy", 90)
    api.kill(spare)
    statuses = [http.get(f"{base}/healthz", timeout=15).status_code for _ in range(30)]
    assert statuses == [200] * 30


def test_deployed_database_has_no_published_password(containers, stack, secrets_dir):
    # After the migrate task: the demo accounts are disabled, `admin` has the secret.
    base = f"http://{containers.ip(stack.boot1)}:8888"
    body = {"name": "docker-tier"}
    demo = requests.post(f"{base}/api/v1/cities", json=body, auth=("test1", "12345678"), timeout=10)
    assert demo.status_code == 401
    admin = ("admin", read_secret(secrets_dir, "bootservice_admin_password"))
    created = requests.post(f"{base}/api/v1/cities", json=body, auth=admin, timeout=10)
    assert created.status_code == 201, created.text
    assert (
        requests.delete(base + created.headers["Location"], auth=admin, timeout=10).status_code
        == 204
    )
