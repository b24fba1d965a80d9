"""The image's Galera start script with three real MariaDB nodes on loopback.

One cluster for the module; the tests run in order and each leaves three
synced nodes behind. Durations are printed (pytest -s) for the README.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pymysql
import pytest
from sqlalchemy import event

from bootservice import create_app, galera, load_config
from bootservice.models import City
from dws import db
from dws.galera_nodes import Cluster, Node
from dws.harness import MariaDB

ROWS = "SELECT COUNT(*) FROM citydb.city"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        yield c
    finally:
        c.destroy()


def _count(node: Node) -> int:
    with node.connect() as conn, conn.cursor() as cur:
        cur.execute(ROWS)
        return cur.fetchone()[0]


def _insert(node: Node, name: str) -> None:
    with node.connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO citydb.city (name, state) VALUES (%s, 'galera')", (name,))


def _names(node: Node) -> set[str]:
    with node.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT name FROM citydb.city WHERE state = 'galera'")
        return {row[0] for row in cur.fetchall()}


def test_first_start_bootstraps_exactly_once_and_every_node_syncs(cluster):
    first, second, third = cluster.nodes
    first.start()
    second.start()
    # Two of three: nobody may start a cluster yet. A waiting node is healthy
    # (Swarm's DNS must list it for its peers) while nothing listens on 3306.
    _wait(lambda: "waiting for all 3" in second.output(), "a waiting node", 30)
    time.sleep(3)
    for node in (first, second):
        assert node.health().returncode == 0
        with pytest.raises(pymysql.err.OperationalError):
            node.connect().close()
    third.start()
    took = cluster.wait_synced(timeout=120)
    print(f"\nfirst start: 3 nodes synced after {took:.1f}s")
    starters = [n for n in cluster.nodes if "starting a new cluster" in n.output()]
    joiners = [n for n in cluster.nodes if "joining the running cluster" in n.output()]
    assert [n.address for n in starters] == [cluster.nodes[0].address]  # the lowest address
    assert sorted(n.address for n in joiners) == [n.address for n in cluster.nodes[1:]]
    uuids = {n.status()["wsrep_cluster_state_uuid"] for n in cluster.nodes}
    assert len(uuids) == 1
    assert {n.status()["wsrep_cluster_size"] for n in cluster.nodes} == {"3"}
    cluster.load_citydb(cluster.nodes[0])
    # Replicated: the seed and the accounts are on every node.
    assert {_count(n) for n in cluster.nodes} == {2}
    for node in cluster.nodes:
        assert node.health().returncode == 0, node.health().stderr


def test_a_write_on_any_node_is_read_on_every_other(cluster):
    for i, node in enumerate(cluster.nodes):
        _insert(node, f"any-{i}")
    for node in cluster.nodes:
        with node.connect() as conn, conn.cursor() as cur:
            cur.execute("SET SESSION wsrep_sync_wait = 1")
            cur.execute("SELECT COUNT(*) FROM citydb.city WHERE name LIKE 'any-%'")
            assert cur.fetchone()[0] == 3


def _app(cluster: Cluster, node: Node):
    env = {
        "DB_HOST": node.address,
        "DB_PORT": str(node.port),
        "DB_USER": "dws",
        "DB_PASSWORD": cluster.app_password,
        "SECRET_KEY": "galera-" + "k" * 40,
        "READ_CACHE_TTL": "0",
    }
    return create_app(load_config(env))


@pytest.mark.parametrize("idempotency_key", [None, "conflict-key-1"])
def test_a_certification_conflict_is_retried_and_applied_once(
    cluster, auth_header, idempotency_key
):
    first, second, _ = cluster.nodes
    app = _app(cluster, first)
    rival = {}

    def conflict(session, _flush_context):
        # The first attempt's INSERT is flushed on the first node but not
        # committed: the second node commits a row with the same id first.
        if rival:
            return
        (row,) = [obj for obj in session.new if isinstance(obj, City)]
        rival["id"] = row.id
        with second.connect() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO citydb.city (id, name, state) VALUES (%s, 'rival', 'galera')",
                (row.id,),
            )

    event.listen(app.extensions["db_sessionmaker"], "after_flush", conflict)
    name = f"conflicted-{idempotency_key or 'plain'}"
    headers = dict(auth_header)
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    resp = app.test_client().post(
        "/api/v1/cities", json={"name": name, "state": "galera"}, headers=headers
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.headers["X-DB-Retries"] == "1"
    assert resp.get_json()["id"] != rival["id"]
    with second.connect() as conn, conn.cursor() as cur:
        cur.execute("SET SESSION wsrep_sync_wait = 1")
        cur.execute(
            "SELECT id, name FROM citydb.city WHERE name = %s OR id = %s", (name, rival["id"])
        )
        rows = sorted(cur.fetchall(), key=lambda r: r[1])
    # Once each: the loser's first attempt left nothing behind.
    assert rows == [(resp.get_json()["id"], name), (rival["id"], "rival")]


def test_the_service_reads_its_own_write_through_another_node(cluster, auth_header):
    first, second, _ = cluster.nodes
    writer, reader = _app(cluster, first).test_client(), _app(cluster, second).test_client()
    for i in range(30):
        created = writer.post(
            "/api/v1/cities", json={"name": f"ryw-{i}", "state": "galera"}, headers=auth_header
        )
        assert created.status_code == 201
        # wsrep_sync_wait on the reader's connection: never a 404 here.
        assert reader.get(created.headers["Location"]).status_code == 200


def test_a_killed_node_rejoins_by_itself_with_every_write(cluster):
    first, second, victim = cluster.nodes
    victim.kill()
    _wait_size(first, 2)
    for i in range(20):
        _insert(first if i % 2 else second, f"while-down-{i}")
    started = time.monotonic()
    victim.start()
    cluster.wait_synced(timeout=120)
    took = time.monotonic() - started
    print(f"\nkilled node back to Synced in {took:.1f}s")
    assert _names(victim) == _names(first)
    assert {f"while-down-{i}" for i in range(20)} <= _names(victim)
    out = victim.output()
    assert "recovered position" in out  # found its seqno after the kill
    assert "IST received" in out  # caught up incrementally, not a full copy


def test_a_node_is_unhealthy_unless_synced_in_a_primary_component(cluster):
    first, second, third = cluster.nodes
    assert first.health().returncode == 0
    client = _app(cluster, first).test_client()
    assert client.get("/api/v1/cities/1").status_code == 200  # a pooled connection
    second.kill()
    third.kill()
    # Alone, the survivor has lost the majority: non-primary, not ready.
    _wait(lambda: first.status()["wsrep_cluster_status"] != "Primary", "non-primary", 30)
    result = first.health()
    assert result.returncode == 1, result.stderr
    # The service drops connections to such a node (1047) and answers 503
    # quickly when no other node is left to try.
    started = time.monotonic()
    resp = client.get("/api/v1/cities/1")
    assert resp.status_code == 503
    assert time.monotonic() - started < 5
    assert resp.headers["X-DB-Retries"] == str(galera.ATTEMPTS - 1)
    second.start()
    third.start()
    cluster.wait_synced(timeout=120)
    assert all(n.health().returncode == 0 for n in cluster.nodes)
    # The same service recovers by itself: new connections, no restart.
    assert client.get("/api/v1/cities/1").status_code == 200


def test_a_full_crash_restarts_from_the_most_advanced_node(cluster):
    first, second, third = cluster.nodes
    third.kill()
    _wait_size(first, 2)
    _insert(second, "after-third-left")
    # Every node dies; the third is behind the other two.
    first.kill()
    second.kill()
    started = time.monotonic()
    for node in cluster.nodes:
        node.start()
    cluster.wait_synced(timeout=180)
    print(f"\nfull crash: 3 nodes synced again after {time.monotonic() - started:.1f}s")
    # The two most advanced agree on the position: the lower address starts.
    assert "starting the cluster from this node's data" in _since_last_start(first)
    assert "joining the running cluster" in _since_last_start(second)
    assert "joining the running cluster" in _since_last_start(third)
    assert "after-third-left" in _names(third)


def test_a_missing_node_blocks_the_restart_until_db_recover(cluster):
    first, second, third = cluster.nodes
    for node in cluster.nodes:
        node.kill()
    first.start()
    second.start()
    # Without the third node's state nobody can know it was not ahead.
    _wait(lambda: "only 2 of 3 database nodes answer" in second.output(), "the message", 60)
    assert not first.synced() and not second.synced()
    lines = [line for line in second.output().splitlines() if "dws db recover" in line]
    assert len(lines) == 1, lines
    # `dws db recover`: the nodes restarted with GALERA_RECOVER=1.
    for node in (first, second):
        node.kill()
        node.extra_env["GALERA_RECOVER"] = "1"
        node.start()
    cluster.wait_synced([first, second], timeout=120)
    for node in (first, second):
        node.extra_env.pop("GALERA_RECOVER")
    third.start()
    cluster.wait_synced(timeout=120)


def test_a_data_directory_of_another_cluster_refuses_to_join_and_is_kept(cluster):
    first, second, third = cluster.nodes
    third.stop()
    _wait_size(first, 2)
    state = third.datadir / "grastate.dat"
    foreign = "11111111-2222-3333-4444-555555555555"
    original = state.read_text()
    state.write_text(original.replace(third.grastate()["uuid"], foreign))
    before = sorted(p.name for p in third.datadir.iterdir())
    third.start()
    assert third.proc.wait(60) == 1
    refusals = [line for line in third.output().splitlines() if "refusing to join" in line]
    assert len(refusals) == 1
    assert foreign in refusals[0] and "nothing was deleted" in refusals[0]
    assert sorted(p.name for p in third.datadir.iterdir()) == before
    assert third.grastate()["uuid"] == foreign
    # Put the right cluster back: it rejoins.
    state.write_text(original)
    third.kill()
    third.start()
    cluster.wait_synced(timeout=120)


def test_a_clean_full_shutdown_restarts_from_the_last_node_at_once(cluster):
    first, second, third = cluster.nodes
    for node in (first, second, third):  # third stops last
        node.stop()
    assert third.grastate()["safe_to_bootstrap"] == "1"
    assert first.grastate()["safe_to_bootstrap"] == "0"
    started = time.monotonic()
    for node in cluster.nodes:
        node.start()
    cluster.wait_synced(timeout=120)
    print(f"\nclean full restart: synced after {time.monotonic() - started:.1f}s")
    assert "starting the cluster from this node's data" in _since_last_start(third)


# ------------------------------------------------------------------ helpers


def _since_last_start(node: Node) -> str:
    out = node.output()
    return out[out.rindex("Galera node ") :]


def _wait(check, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001, S110 - not yet
            pass
        time.sleep(0.3)
    raise TimeoutError(what)


def _wait_size(node: Node, size: int) -> None:
    _wait(lambda: node.status()["wsrep_cluster_size"] == str(size), f"cluster size {size}", 60)


def test_a_single_database_becomes_the_seed_of_a_cluster_with_its_data():
    """The move from one labelled node to three: the old volume's data is kept."""
    c = Cluster()
    try:
        first = c.nodes[0]
        first.nodes = 1
        first.start()
        _wait(lambda: first.connect().close() is None, "the single database", 90)
        c.load_citydb(first)
        _insert(first, "from-the-single-database")
        first.stop()
        assert not (first.datadir / "grastate.dat").exists()
        first.nodes = 3
        started = time.monotonic()
        c.start_all()
        c.wait_synced(timeout=180)
        print(f"\nsingle database -> 3 synced nodes in {time.monotonic() - started:.1f}s")
        assert "starting the cluster from this node's data" in _since_last_start(first)
        for node in c.nodes:
            assert "from-the-single-database" in _names(node)
    finally:
        c.destroy()


def _client(node: Node, command: tuple[str, ...], **kw) -> subprocess.CompletedProcess:
    """`dws db`'s own dump/restore command, run against a loopback node."""
    args = [command[0], "--no-defaults", f"--host={node.address}", f"--port={node.port}"]
    env = dict(os.environ, MYSQL_PWD=node.root_password)
    return subprocess.run([*args, *command[1:]], env=env, check=True, capture_output=True, **kw)


def _checksums(node: Node) -> dict[str, int]:
    with node.connect() as conn, conn.cursor() as cur:
        cur.execute("CHECKSUM TABLE citydb.country, citydb.city, citydb.user_info")
        return {name: value for name, value in cur.fetchall()}


def test_the_dump_of_dws_db_backup_restores_with_identical_checksums(cluster, tmp_path):
    first, second, third = cluster.nodes
    _insert(second, "备份 ü'\"\\")
    dump = _client(second, db.DUMP_COMMAND).stdout
    assert db.is_dump(dump[:256]) and b"INSERT INTO `country` VALUES" in dump
    before = _checksums(second)
    # Into an empty single database (the harness's own MariaDB), then back
    # into the cluster after a change there.
    single = MariaDB(tmp_path / "single")
    try:
        single.install()
        single.root_sql("DROP DATABASE citydb")
        _client(_as_node(single), db.RESTORE_COMMAND, input=dump)
        assert _checksums(_as_node(single)) == before
        single.root_sql("DELETE FROM citydb.city WHERE state = 'galera'")
        back = _client(_as_node(single), db.DUMP_COMMAND).stdout
        expected = _checksums(_as_node(single))
    finally:
        single.destroy()
    _client(first, db.RESTORE_COMMAND, input=back)
    for node in cluster.nodes:
        _wait(lambda node=node: _checksums(node) == expected, "the restore on every node", 30)


def _as_node(server: MariaDB) -> Node:
    """A harness MariaDB seen as a Node (address, port, root password)."""
    return Node(server.base, "127.0.0.1", "", server.root_password, port=server.port)
