"""stack.yml and stack.mesh.yml as the Docker CLI's own parser reads them, and
`dws check` against the local engine (a plain engine, not a swarm)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from dws.util import REPO


def stack_config(*files: str, **variables: str) -> str:
    """`docker stack config -c FILE...`: the merged, interpolated stack."""
    args = ["docker", "stack", "config"]
    for f in files:
        args += ["-c", f]
    done = subprocess.run(
        args,
        cwd=REPO,
        env={**os.environ, **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def service(config: str, name: str) -> str:
    """The text of one service's block (two-space indented key under `services:`)."""
    m = re.search(rf"^  {name}:\n((?:    .*\n|\n)*)", config, re.M)
    assert m, f"no service {name} in:\n{config}"
    return m.group(1)


def test_stack_yml_parses_with_host_mode_nginx_on_every_node():
    config = stack_config("stack.yml", MYSQL_VERSION="10.11", NGINX_VERSION="1.22")
    nginx = service(config, "nginx")
    for port in (80, 443):
        assert re.search(rf"- mode: host\n\s+target: {port}\n\s+published: {port}\n", nginx), nginx
    # The certificate and its key, readable by nginx's uid 101 only (0400).
    assert re.search(
        r"- source: nginx_tls_key\n\s+target: nginx_tls_key\n\s+uid: \"101\"\n\s+gid: \"101\"\n"
        r"\s+mode: 256\n",
        nginx,
    ), nginx
    assert "source: nginx_tls_certificate" in nginx
    assert "mode: global" in nginx
    assert "image: tcr:5000/myhub/nginx:1.22-dws" in nginx
    assert "image: tcr:5000/myhub/mysql:10.11-dws" in service(config, "mysql")
    assert "node.labels.dws.db == true" in service(config, "mysql")
    assert "replicas: 3" in service(config, "bootservice")
    # The overlay is made beforehand (encrypted on a real swarm), not by the stack.
    assert re.search(
        r"^networks:\n  my-network:\n    name: my-network\n    external: true", config, re.M
    )
    assert "encrypted" not in config


def test_mesh_override_publishes_ports_80_and_443_through_the_routing_mesh():
    base = stack_config("stack.yml")
    config = stack_config("stack.yml", "stack.mesh.yml")
    nginx = service(config, "nginx")
    for port in (80, 443):
        assert re.search(rf"- mode: ingress\n\s+target: {port}\n\s+published: {port}\n", nginx)
    assert "mode: host" not in nginx, "the host-mode port must be replaced, not added"
    assert "mode: replicated" in nginx and "replicas: 2" in nginx
    assert "mode: global" not in nginx
    # Everything else is stack.yml's.
    for name in ("mysql", "bootservice"):
        assert service(config, name) == service(base, name)


# {key under the stack's `secrets:`: (the variable naming it, its default name)}
SECRETS = {
    "mysql_root_password": ("MYSQL_ROOT_PASSWORD_SECRET", "mysql_root_password"),
    "mysql_app_password": ("MYSQL_APP_PASSWORD_SECRET", "mysql_app_password"),
    "mysql_migrate_password": ("MYSQL_MIGRATE_PASSWORD_SECRET", "mysql_migrate_password"),
    "db_password": ("DB_PASSWORD_SECRET", "mysql_app_password"),
    "db_migrate_password": ("DB_MIGRATE_PASSWORD_SECRET", "mysql_migrate_password"),
    "bootservice_secret_key": ("BOOTSERVICE_SECRET_KEY_SECRET", "bootservice_secret_key"),
    "bootservice_admin_password": (
        "BOOTSERVICE_ADMIN_PASSWORD_SECRET",
        "bootservice_admin_password",
    ),
    "nginx_tls_certificate": ("NGINX_TLS_CERTIFICATE_SECRET", "nginx_tls_certificate"),
    "nginx_tls_key": ("NGINX_TLS_KEY_SECRET", "nginx_tls_key"),
}


def secret_names(config: str) -> dict[str, str]:
    """{key under `secrets:`: the swarm secret it names}."""
    block = config.split("\nsecrets:\n", 1)[1]
    return dict(re.findall(r"^  (\w+):\n    name: (\S+)\n    external: true$", block, re.M))


def test_secrets_keep_their_names_unless_a_variable_names_a_new_version():
    assert secret_names(stack_config("stack.yml")) == {k: v[1] for k, v in SECRETS.items()}
    versioned = {var: f"{key}_2" for key, (var, _) in SECRETS.items()}
    config = stack_config("stack.yml", **versioned)
    assert secret_names(config) == {key: f"{key}_2" for key in SECRETS}
    # Inside the containers the files keep their names: only the source moves.
    bootservice = service(config, "bootservice")
    assert "SECRET_KEY_FILE: /run/secrets/bootservice_secret_key" in bootservice
    assert "- source: bootservice_secret_key\n" in bootservice
    assert "DB_PASSWORD_FILE: /run/secrets/db_password" in bootservice
    assert "DB_USER: dws\n" in bootservice


def test_a_database_password_rotation_leaves_the_database_service_alone():
    base = stack_config("stack.yml")
    rotated = stack_config(
        "stack.yml",
        DB_USER="dws_b",
        DB_PASSWORD_SECRET="mysql_app_password_2",
        DB_MIGRATE_PASSWORD_SECRET="mysql_migrate_password_2",
    )
    # Its spec unchanged, so Swarm does not restart it.
    assert service(rotated, "mysql") == service(base, "mysql")
    assert "DB_USER: dws_b\n" in service(rotated, "bootservice")
    assert "- source: db_migrate_password\n" in service(rotated, "migrate")
    names = secret_names(rotated)
    assert names["db_password"] == "mysql_app_password_2"
    assert names["mysql_app_password"] == "mysql_app_password"


def test_rotation_override_adds_the_fallback_key_and_needs_its_name():
    config = stack_config(
        "stack.yml",
        "stack.rotation.yml",
        BOOTSERVICE_SECRET_KEY_FALLBACKS_SECRET="bootservice_secret_key",
        BOOTSERVICE_SECRET_KEY_SECRET="bootservice_secret_key_2",
    )
    bootservice = service(config, "bootservice")
    assert "SECRET_KEY_FALLBACKS_FILE: /run/secrets/bootservice_secret_key_fallbacks" in bootservice
    for source in ("bootservice_secret_key", "bootservice_secret_key_fallbacks"):
        assert f"- source: {source}\n" in bootservice
    names = secret_names(config)
    assert names["bootservice_secret_key"] == "bootservice_secret_key_2"
    assert names["bootservice_secret_key_fallbacks"] == "bootservice_secret_key"
    # Everything but bootservice is stack.yml's.
    base = stack_config("stack.yml", BOOTSERVICE_SECRET_KEY_SECRET="bootservice_secret_key_2")
    for name in ("mysql", "nginx", "migrate"):
        assert service(config, name) == service(base, name)
    missing = subprocess.run(
        ["docker", "stack", "config", "-c", "stack.yml", "-c", "stack.rotation.yml"],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.endswith("_SECRET")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode != 0
    assert "BOOTSERVICE_SECRET_KEY_FALLBACKS_SECRET" in missing.stderr


@pytest.mark.parametrize("mesh", [[], ["--mesh"]])
def test_check_on_an_engine_that_is_no_swarm_manager_is_status_11(mesh):
    if subprocess.run(
        ["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"],
        capture_output=True,
        text=True,
    ).stdout.strip() not in ("inactive", ""):
        pytest.fail("this test needs the local engine outside any swarm")
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    done = subprocess.run(
        [sys.executable, "-m", "dws", "check", *mesh],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 11, done
    assert done.stderr.strip().splitlines() == [
        "dws check: error: this engine is not a swarm manager: run `docker swarm init` "
        "or set DOCKER_HOST to a manager"
    ]
