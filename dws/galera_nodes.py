"""Three real Galera nodes on loopback, each started by the image's dws-db script.

Each node is `services/mysql/galera/dws-db start mariadbd ...` with the mysql
stand-in's docker-entrypoint.sh behind it, exactly as in the image, but on its
own loopback address (127.X.Y.2, .3, .4: every node gets the ports 3306, 4567,
4568, 4444 and 4560 of its own address) and its own directory. The servers run
as the `mysql` user (the rsync state transfer fails as root). A node's process
group is the container: `kill()` kills the server and the state responder at
once, as a killed container would.
"""

from __future__ import annotations

import os
import pwd
import random
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
from sqlalchemy import create_engine

from bootservice.migrate import upgrade
from dws.util import RECIPES, REPO, SEED_SQL

DWS_DB = REPO / "services" / "mysql" / "galera" / "dws-db"
ENTRYPOINT = RECIPES / "standins" / "mysql" / "docker-entrypoint.sh"
APP_USER = "dws"


def _wait(check, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{what} not reached after {timeout:.0f}s (last: {last!r})")


@dataclass
class Node:
    """One database node: a directory, a loopback address, a process group."""

    base: Path
    address: str
    peers: str
    root_password: str
    nodes: int = 3
    port: int = 3306
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def log_path(self) -> Path:
        return self.base / "node.log"

    def env(self) -> dict[str, str]:
        keep = ("PATH", "LANG", "LC_ALL", "TZ")
        return {
            **{k: v for k, v in os.environ.items() if k in keep},
            "DB_NODES": str(self.nodes),
            "GALERA_PEERS": self.peers,
            "GALERA_NODE_ADDRESS": self.address,
            "GALERA_WAIT_WARN": "10",
            "DWS_DB_RUN_DIR": str(self.base / "run"),
            "DWS_DB_ENTRYPOINT": str(ENTRYPOINT),
            "MARIADB_ROOT_PASSWORD": self.root_password,
            **self.extra_env,
        }

    def start(self) -> None:
        """Start the node in the background (it decides what to do itself)."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [
                str(DWS_DB),
                "start",
                "mariadbd",
                f"--datadir={self.datadir}",
                f"--socket={self.base / 'mysqld.sock'}",
                f"--pid-file={self.base / 'mysqld.pid'}",
                f"--port={self.port}",
                f"--bind-address={self.address}",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                "--max-connections=100",
                "--skip-log-bin",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
            ],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole node (server, state responder): a dead container."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        """SIGTERM the server (a clean Galera shutdown), then end the group."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(90)
                except subprocess.TimeoutExpired:
                    pass
            self.kill()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def connect(self, user: str = "root", password: str | None = None, **kw) -> pymysql.Connection:
        return pymysql.connect(
            host=self.address,
            port=self.port,
            user=user,
            password=self.root_password if password is None else password,
            charset="utf8mb4",
            connect_timeout=2,
            autocommit=True,
            **kw,
        )

    def status(self) -> dict[str, str]:
        """wsrep_* status variables, as root."""
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'wsrep%'")
            return {name.lower(): value for name, value in cur.fetchall()}

    def synced(self) -> bool:
        try:
            st = self.status()
        except pymysql.Error:
            return False
        return st.get("wsrep_local_state") == "4" and st.get("wsrep_ready") == "ON"

    def health(self) -> subprocess.CompletedProcess:
        """The image's HEALTHCHECK command for this node."""
        return subprocess.run(
            [str(DWS_DB), "health"],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=30,
        )

    def grastate(self) -> dict[str, str]:
        out = {}
        path = self.datadir / "grastate.dat"
        for line in path.read_text().splitlines() if path.exists() else ():
            if ":" in line and not line.startswith("#"):
                key, value = line.split(":", 1)
                out[key.strip()] = value.strip()
        return out


class Cluster:
    """Three nodes on 127.X.Y.2-4 in one throwaway directory owned by mysql."""

    def __init__(self, size: int = 3) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="dws-galera-", dir="/tmp"))
        mysql = pwd.getpwnam("mysql")
        os.chmod(self.root, 0o755)
        prefix = f"127.{random.randint(10, 250)}.{random.randint(10, 250)}"
        addresses = [f"{prefix}.{i}" for i in range(2, 2 + size)]
        self.root_password = secrets.token_hex(12)
        self.app_password = secrets.token_hex(12)
        self.nodes: list[Node] = []
        for i, address in enumerate(addresses):
            base = self.root / f"node{i + 1}"
            base.mkdir()
            os.chown(base, mysql.pw_uid, mysql.pw_gid)
            self.nodes.append(Node(base, address, ",".join(addresses), self.root_password, size))

    def start_all(self) -> None:
        for node in self.nodes:
            node.start()

    def wait_synced(self, nodes: list[Node] | None = None, timeout: float = 120) -> float:
        """Wait until every node is Synced in one primary component; seconds taken."""
        nodes = self.nodes if nodes is None else nodes
        started = time.monotonic()

        def check():
            sizes = []
            for node in nodes:
                if not node.synced():
                    return False
                sizes.append(int(node.status()["wsrep_cluster_size"]))
            return all(size == len(nodes) for size in sizes)

        try:
            _wait(check, f"{len(nodes)} synced nodes", timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.logs()}") from None
        return time.monotonic() - started

    def load_citydb(self, node: Node) -> None:
        """citydb, the app account and the healthcheck account, as the image's init does
        (services/mysql/initdb: 10-citydb.sql, 20-app-user.sh), then the migrations."""
        with SEED_SQL.open("rb") as sql:
            subprocess.run(
                [
                    "mariadb",
                    "--no-defaults",
                    f"--host={node.address}",
                    f"--port={node.port}",
                    "-uroot",
                    f"--password={self.root_password}",
                ],
                stdin=sql,
                check=True,
                capture_output=True,
            )
        with node.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE USER '{APP_USER}'@'%' IDENTIFIED BY '{self.app_password}'")
            cur.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON citydb.* TO '{APP_USER}'@'%'")
            cur.execute("CREATE USER IF NOT EXISTS 'healthcheck'@'127.0.0.1' IDENTIFIED BY ''")
            cur.execute("ALTER USER 'healthcheck'@'127.0.0.1' IDENTIFIED BY ''")
        # The schema migrations, as the stack's migrate task applies them.
        engine = create_engine(
            f"mysql+pymysql://root:{self.root_password}@{node.address}:{node.port}/citydb"
            "?charset=utf8mb4"
        )
        try:
            upgrade(engine)
        finally:
            engine.dispose()

    def logs(self) -> str:
        return "\n".join(
            f"--- {n.address}\n" + "\n".join(n.output().splitlines()[-25:]) for n in self.nodes
        )

    def destroy(self) -> None:
        for node in self.nodes:
            node.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def sync_wait_cost(cluster: Cluster, reads: int = 2000, rounds: int = 3) -> dict[str, float]:
    """Mean seconds per primary-key read on the second node, wsrep_sync_wait 0 and 1.

    A writer inserts on the first node throughout, so the reader's node has
    remote writes to apply (the case in which the wait costs something). The
    two settings alternate in rounds, on the same connection.
    """
    import threading

    writer_node, reader_node = cluster.nodes[0], cluster.nodes[1]
    stop = threading.Event()

    def write() -> None:
        with writer_node.connect() as conn, conn.cursor() as cur:
            while not stop.is_set():
                cur.execute("INSERT INTO citydb.city (name, state) VALUES ('sync-wait', 'bench')")

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    totals = {"0": 0.0, "1": 0.0}
    try:
        with reader_node.connect() as conn, conn.cursor() as cur:
            for _ in range(rounds):
                for setting in totals:
                    cur.execute(f"SET SESSION wsrep_sync_wait = {setting}")
                    started = time.perf_counter()
                    for i in range(reads):
                        cur.execute("SELECT * FROM citydb.country WHERE id = %s", (i % 183 + 1,))
                        cur.fetchall()
                    totals[setting] += time.perf_counter() - started
    finally:
        stop.set()
        thread.join()
    return {k: v / (reads * rounds) for k, v in totals.items()}


if __name__ == "__main__":
    # python -m dws.galera_nodes: form a loopback cluster and measure the
    # cost of wsrep_sync_wait = 1 on reads.
    c = Cluster()
    try:
        c.start_all()
        c.wait_synced(timeout=180)
        c.load_citydb(c.nodes[0])
        cost = sync_wait_cost(c)
        print(
            f"primary-key read on another node under writes: wsrep_sync_wait=0 "
            f"{cost['0'] * 1e3:.3f} ms, =1 {cost['1'] * 1e3:.3f} ms "
            f"(x{cost['1'] / cost['0']:.2f})"
        )
    finally:
        c.destroy()
