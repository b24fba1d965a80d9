"""Fixtures of the `docker` tier: a real engine, a real registry, build.py as users run it.

Session-wide, in this order: the base images (stand-ins built from Debian
packages, or the official images with DWS_OFFICIAL_BASES=1), a registry
(Debian's docker-registry, no auth) on a free loopback port, one run of
`python build.py --push --registry 127.0.0.1:PORT --base-image ...`, and the
pushed tags pulled back from that registry. Containers and networks the
tests start are named dws-test-* and removed at the end.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from dws import standins, tls
from dws.util import wait_until

from dockerlib import (
    NAMESPACE,
    OFFICIAL,
    REGISTRIES_USED,
    SITE_NAME,
    AppContainers,
    Built,
    Containers,
    Registry,
    SiteTls,
    registry_process,
    run_build,
    server_tag,
    untag_registries,
    write_site_tls,
)


@pytest.fixture(scope="session")
def api() -> Iterator[docker.APIClient]:
    """Low-level client of the engine DOCKER_HOST names (the local one by default)."""
    client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto", timeout=300)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session", autouse=True)
def _untag_test_images(api) -> Iterator[None]:
    """At the end, remove the tags build.py made for the tests' registries."""
    yield
    untag_registries(api, REGISTRIES_USED)


@pytest.fixture(scope="session")
def bases(api) -> dict[str, str]:
    """{python|nginx|mysql: image}: stand-ins, or the official images (DWS_OFFICIAL_BASES=1)."""
    if OFFICIAL:
        return dict(standins.OFFICIAL)
    return standins.ensure_all()


@pytest.fixture(scope="session")
def base_args(bases) -> list[str]:
    """build.py's --base-image options for these bases."""
    return standins.base_image_args(bases)


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> Iterator[Registry]:
    """A registry without authentication on a free loopback port."""
    with registry_process(tmp_path_factory.mktemp("registry")) as reg:
        yield reg


@pytest.fixture(scope="session")
def built(api, bases, base_args, registry) -> Built:
    """One `build.py --push` of every image, as a user runs it, against the test registry."""
    # The mysql/nginx tags carry the base's server version; the bases must be
    # there first (build.py would pull official ones itself).
    if OFFICIAL:
        for image in bases.values():
            repo, tag = image.rsplit(":", 1)
            api.pull(repo, tag=tag)
    prefix = f"{registry.address}/{NAMESPACE}"
    tags = {
        "mysql": f"{prefix}/mysql:{server_tag(api, bases['mysql'], 'mysql')}",
        "nginx": f"{prefix}/nginx:{server_tag(api, bases['nginx'], 'nginx')}",
        "boot1": f"{prefix}/bootservice:1.0-dws",
        "boot2": f"{prefix}/bootservice:2.0-dws",
        "broken": f"{prefix}/bootservice:2.1-broken-dws",
    }
    proc = run_build("--push", "--registry", registry.address, *base_args)
    if proc.returncode != 0:
        pytest.fail(
            f"build.py failed ({proc.returncode}):\n{proc.stdout[-5000:]}\n{proc.stderr[-3000:]}"
        )
    return Built(proc=proc, registry=registry, tags=tags)


@pytest.fixture(scope="session")
def pulled(api, built) -> Built:
    """The pushed tags removed locally and pulled back from the registry."""
    for ref in built.tags.values():
        # noprune keeps the parent layers (the build cache of the next run);
        # the tag itself and its image config come back from the registry.
        api.remove_image(ref, noprune=True)
    for ref in built.tags.values():
        repo, tag = ref.rsplit(":", 1)
        for event in api.pull(repo, tag=tag, stream=True, decode=True):
            assert "error" not in event, event
    return built


@pytest.fixture(scope="session")
def containers(api) -> Iterator[Containers]:
    """The session's container/network factory, cleaned up at the end."""
    c = Containers(api)
    try:
        yield c
    finally:
        c.cleanup()


@pytest.fixture(scope="session")
def secrets_dir(tmp_path_factory) -> Path:
    """Random passwords in files, mounted like Docker secrets at /run/secrets."""
    d = tmp_path_factory.mktemp("secrets")
    # Awkward characters on purpose: the init script must quote them.
    (d / "mysql_root_password").write_text(secrets.token_urlsafe(18) + "'\\\n")
    (d / "mysql_app_password").write_text(secrets.token_urlsafe(18) + "'\"\n")
    (d / "mysql_migrate_password").write_text(secrets.token_urlsafe(18) + "'\\\n")
    (d / "bootservice_admin_password").write_text(secrets.token_urlsafe(18) + "\n")
    d.chmod(0o755)
    for f in d.iterdir():
        f.chmod(0o644)  # the container users (mysql, bootservice) must read them
    return d


@pytest.fixture(scope="session")
def test_ca() -> tls.CertificateAuthority:
    """The CA of the docker tier's site certificates."""
    return tls.CertificateAuthority.create("dws docker-tier CA")


@pytest.fixture(scope="session")
def site_tls(tmp_path_factory, test_ca) -> SiteTls:
    """A good certificate for SITE_NAME, as nginx's two secrets."""
    return write_site_tls(tmp_path_factory.mktemp("site-tls"), test_ca, test_ca.issue([SITE_NAME]))


@pytest.fixture(scope="session")
def stack(pulled, containers, secrets_dir) -> AppContainers:
    """The pulled images running together: mysql, bootservice 1.0 and 2.0."""
    net = containers.network()
    secret_bind = {str(secrets_dir): {"bind": "/run/secrets", "mode": "ro"}}
    mysql = containers.run(
        pulled.image("mysql"),
        "mysql",
        network=net,
        aliases=["mysql"],
        environment={
            "MYSQL_ROOT_PASSWORD_FILE": "/run/secrets/mysql_root_password",
            "MYSQL_APP_PASSWORD_FILE": "/run/secrets/mysql_app_password",
            "MYSQL_MIGRATE_PASSWORD_FILE": "/run/secrets/mysql_migrate_password",
        },
        binds=secret_bind,
    )
    boot_env = {
        "DB_HOST": "mysql",
        "DB_USER": "dws",
        "DB_PASSWORD_FILE": "/run/secrets/mysql_app_password",
        "WEB_CONCURRENCY": "2",
    }
    # Both answer to `bootservice`, like swarm replicas (dnsrr), for nginx.
    boots = [
        containers.run(
            pulled.image(key),
            key,
            network=net,
            aliases=["bootservice"],
            environment=boot_env,
            binds=secret_bind,
        )
        for key in ("boot1", "boot2")
    ]
    containers.wait_health(mysql, "healthy", 240)
    # The stack's one-shot migrate task: the schema to this release's head.
    migrate = containers.run(
        pulled.image("boot1"),
        "migrate",
        network=net,
        environment={
            "DB_HOST": "mysql",
            "DB_USER": "dws_migrate",
            "DB_PASSWORD_FILE": "/run/secrets/mysql_migrate_password",
            "ADMIN_PASSWORD_FILE": "/run/secrets/bootservice_admin_password",
        },
        binds=secret_bind,
        command=["python", "-m", "bootservice.migrate"],
    )
    exit_status = containers.api.wait(migrate, timeout=120)["StatusCode"]
    assert exit_status == 0, containers.api.logs(migrate).decode(errors="replace")
    for name in boots:
        containers.wait_health(name, "healthy", 90)
    return AppContainers(
        network=net,
        mysql=mysql,
        boot1=boots[0],
        boot2=boots[1],
        boot_env=boot_env,
        binds=secret_bind,
    )


@pytest.fixture
def wait_for() -> Callable:
    """Poll a function until it returns a truthy value (or fail after TIMEOUT s)."""

    def _wait(fn: Callable, timeout: float = 30, interval: float = 0.5, what: str = ""):
        return wait_until(what or str(fn), fn, timeout, interval, error=AssertionError)

    return _wait
