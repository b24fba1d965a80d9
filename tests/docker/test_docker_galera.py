"""The mysql image as three Galera nodes in containers, and `dws db` against them.

Three containers of the pulled image on one bridge network, each answering to
the alias `mysql` (as Swarm's tasks.mysql would), with DB_NODES=3 and their
data in directories of their own; then a single database (DB_NODES=1) for
backup, restore and the move from one database to a cluster.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dws import db

from dockerlib import read_secret

pytestmark = pytest.mark.docker


@dataclass
class Nodes:
    network: str
    names: list[str]
    datadirs: list[Path]


def _env(nodes: int) -> dict[str, str]:
    return {
        "MYSQL_ROOT_PASSWORD_FILE": "/run/secrets/mysql_root_password",
        "MYSQL_APP_PASSWORD_FILE": "/run/secrets/mysql_app_password",
        "DB_NODES": str(nodes),
        "GALERA_PEERS": "mysql",
    }


def _binds(secrets_dir: Path, datadir: Path) -> dict[str, dict]:
    return {
        str(secrets_dir): {"bind": "/run/secrets", "mode": "ro"},
        str(datadir): {"bind": "/var/lib/mysql", "mode": "rw"},
    }


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="dws-galera-docker-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _sql(containers, name: str, secrets_dir: Path, sql: str) -> str:
    root_pw = read_secret(secrets_dir, "mysql_root_password")
    code, out = containers.exec(name, ["mariadb", "-uroot", f"-p{root_pw}", "-N", "-B", "-e", sql])
    assert code == 0, out
    return out.strip()


def _status(containers, name, secrets_dir, variable: str) -> str:
    return _sql(
        containers,
        name,
        secrets_dir,
        "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
        f"WHERE VARIABLE_NAME = '{variable.upper()}'",
    )


@pytest.fixture(scope="module")
def cluster(api, containers, pulled, secrets_dir, workdir) -> Iterator[Nodes]:
    net = containers.network()
    names, dirs = [], []
    started = time.monotonic()
    for i in range(3):
        d = workdir / f"node{i + 1}"
        d.mkdir()
        dirs.append(d)
        names.append(
            containers.run(
                pulled.image("mysql"),
                f"galera-{i + 1}",
                network=net,
                aliases=["mysql"],
                environment=_env(3),
                binds=_binds(secrets_dir, d),
            )
        )
    # Healthy alone is not enough here: a node waiting for its peers is
    # healthy too (no server yet). Synced in a cluster of three is the goal.
    _wait_synced(containers, names, secrets_dir, 300)
    for name in names:
        containers.wait_health(name, "healthy", 60)
    print(f"\n3 Galera containers synced after {time.monotonic() - started:.1f}s")
    yield Nodes(net, names, dirs)
    # Before `workdir` goes: no server may still write into it.
    for name in names:
        api.remove_container(name, force=True, v=True)


def _wait_synced(containers, names: list[str], secrets_dir: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            states = [
                (
                    _status(containers, n, secrets_dir, "wsrep_cluster_size"),
                    _status(containers, n, secrets_dir, "wsrep_local_state_comment"),
                )
                for n in names
            ]
            if all(state == (str(len(names)), "Synced") for state in states):
                return
            last = str(states)
        except AssertionError as exc:
            last = str(exc)
        time.sleep(1)
    logs = "\n".join(
        f"--- {n}\n" + containers.api.logs(n, tail=30).decode(errors="replace") for n in names
    )
    raise AssertionError(f"not {len(names)} synced nodes after {timeout}s: {last}\n{logs}")


def test_three_containers_form_one_cluster_started_once(api, containers, cluster, secrets_dir):
    logs = [api.logs(n).decode(errors="replace") for n in cluster.names]
    assert sum("starting a new cluster on this node" in log for log in logs) == 1
    assert sum("joining the running cluster" in log for log in logs) == 2
    for name in cluster.names:
        assert containers.health(name) == "healthy"
        assert _status(containers, name, secrets_dir, "wsrep_cluster_size") == "3"
        assert _status(containers, name, secrets_dir, "wsrep_local_state_comment") == "Synced"
    uuids = {_status(containers, n, secrets_dir, "wsrep_cluster_state_uuid") for n in cluster.names}
    assert len(uuids) == 1
    # The image's init ran once, on the first node; the others got it by SST.
    counts = {
        _sql(containers, n, secrets_dir, "SELECT COUNT(*) FROM citydb.country")
        for n in cluster.names
    }
    assert counts == {"183"}


def test_a_killed_container_rejoins_with_the_writes_it_missed(
    api, containers, cluster, secrets_dir
):
    first, second, third = cluster.names
    api.kill(third)
    for i in range(10):
        _sql(
            containers,
            first,
            secrets_dir,
            f"INSERT INTO citydb.city (name, state) VALUES ('k{i}', 'x')",
        )
    started = time.monotonic()
    api.start(third)
    _wait_synced(containers, cluster.names, secrets_dir, 180)
    print(f"\nkilled container Synced again after {time.monotonic() - started:.1f}s")
    containers.wait_health(third, "healthy", 60)
    assert (
        _sql(containers, third, secrets_dir, "SELECT COUNT(*) FROM citydb.city WHERE state = 'x'")
        == "10"
    )


def test_backup_of_the_cluster_restores_into_an_empty_single_database_and_back(
    containers, pulled, cluster, secrets_dir, workdir
):
    source = cluster.names[1]
    _sql(
        containers,
        source,
        secrets_dir,
        "INSERT INTO citydb.city (name, state) VALUES ('备份', 'ü''\"\\\\')",
    )
    dump = workdir / "citydb.sql"
    size = db.backup(source, dump)
    text = dump.read_bytes()
    assert size == len(text) and b"\n-- MariaDB dump" in text[:200]
    assert b"INSERT INTO `country` VALUES" in text and "备份".encode() in text
    before = db.checksums(source)
    assert set(before) >= {"country", "city", "user_info"}

    single_dir = workdir / "single"
    single_dir.mkdir()
    single = containers.run(
        pulled.image("mysql"),
        "galera-single",
        environment=_env(1),
        binds=_binds(secrets_dir, single_dir),
    )
    try:
        _restore_both_ways(containers, cluster, secrets_dir, workdir, single, dump, before)
    finally:
        containers.api.remove_container(single, force=True, v=True)


def _restore_both_ways(containers, cluster, secrets_dir, workdir, single, dump, before):
    containers.wait_health(single, "healthy", 240)
    assert db.checksums(single) != before  # the seed only
    db.restore(single, dump)
    assert db.checksums(single) == before

    # And back: a change on the single database, restored into the cluster.
    _sql(containers, single, secrets_dir, "DELETE FROM citydb.city WHERE state = 'x'")
    back = workdir / "back.sql"
    db.backup(single, back)
    db.restore(cluster.names[0], back)
    expected = db.checksums(single)
    for name in cluster.names:
        # The other nodes apply the restore asynchronously: give them a moment.
        deadline = time.monotonic() + 60
        while db.checksums(name) != expected and time.monotonic() < deadline:
            time.sleep(1)
        assert db.checksums(name) == expected


def test_restore_refuses_a_file_that_is_not_a_dump(cluster, workdir):
    junk = workdir / "junk.sql"
    junk.write_text("DROP DATABASE citydb;\n")
    with pytest.raises(db.DbError, match="not a dump"):
        db.restore(cluster.names[0], junk)
