"""Real servers for the test tiers, the benchmark and the lab: MariaDB, gunicorn, nginx.

Each runs as a child process on loopback, in a throwaway directory, and is
stopped by the caller (fixtures do it in a finally).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
import requests
from sqlalchemy import create_engine

from bootservice.migrate import upgrade
from bootservice.seed import insert_statements
from dws.util import REPO, SEED_SQL, free_port, wait_until

APP_USER = "dws"


def _wait(check, what: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    wait_until(what, check, timeout, 0.1, proc=proc, error=RuntimeError)


@dataclass
class MariaDB:
    """A MariaDB server in its own data directory on 127.0.0.1:port."""

    base: Path
    port: int = field(default_factory=free_port)
    root_password: str = field(default_factory=lambda: secrets.token_hex(16))
    app_password: str = field(default_factory=lambda: secrets.token_hex(16))
    proc: subprocess.Popen | None = None

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    def install(self) -> None:
        """Create the system tables, start, load citydb and the app user."""
        self.base.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )
        self.start(initial=True)
        # The init SQL goes in through the real client, as the image's
        # entrypoint feeds /docker-entrypoint-initdb.d to it.
        with SEED_SQL.open("rb") as sql:
            subprocess.run(self._client_args(""), stdin=sql, check=True, capture_output=True)
        with self.connect("root", "", database=None) as conn, conn.cursor() as cur:
            # Loopback accounts only: with skip-name-resolve the host-name one
            # cannot be altered, and nothing connects through it.
            cur.execute(
                "SELECT host FROM mysql.user WHERE user = 'root' "
                "AND host IN ('localhost', '127.0.0.1', '::1')"
            )
            root_hosts = [row[0] for row in cur.fetchall()]
        self.root_sql(
            *(
                f"ALTER USER 'root'@'{host}' IDENTIFIED BY '{self.root_password}'"
                for host in root_hosts
            ),
            f"CREATE USER '{APP_USER}'@'%' IDENTIFIED BY '{self.app_password}'",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON citydb.* TO '{APP_USER}'@'%'",
            password="",
        )
        # The schema migrations, as the stack's migrate task applies them.
        self.migrate()

    def migrate(self, database: str = "citydb") -> None:
        """Upgrade `database` to the newest schema revision, as root."""
        engine = create_engine(
            f"mysql+pymysql://root:{self.root_password}@127.0.0.1:{self.port}/{database}"
            "?charset=utf8mb4"
        )
        try:
            upgrade(engine)
        finally:
            engine.dispose()

    def _client_args(self, password: str) -> list[str]:
        return [
            "mariadb",
            "--no-defaults",
            "-h",
            "127.0.0.1",
            "-P",
            str(self.port),
            "-uroot",
            f"--password={password}" if password else "--skip-password",
        ]

    def start(self, initial: bool = False) -> None:
        """Start the server and wait until it accepts TCP connections."""
        log = open(self.base / "mariadbd.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [
                "mariadbd",
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--user=root",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.base / 'mysqld.sock'}",
                f"--pid-file={self.base / 'mysqld.pid'}",
                "--skip-name-resolve",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--innodb-buffer-pool-size=64M",
                "--max-connections=300",
                "--skip-log-bin",
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        password = "" if initial else self.root_password
        _wait(
            lambda: self.connect("root", password, database=None).close() is None,
            "mariadbd",
            60,
            self.proc,
        )

    def stop(self) -> None:
        """Stop the server (SIGTERM, a clean InnoDB shutdown)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def destroy(self) -> None:
        """Stop and delete the data directory."""
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def connect(
        self, user: str = "root", password: str | None = None, database: str | None = "citydb"
    ) -> pymysql.Connection:
        """A PyMySQL connection over TCP."""
        if password is None:
            password = self.root_password if user == "root" else self.app_password
        return pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user=user,
            password=password,
            database=database,
            charset="utf8mb4",
            connect_timeout=2,
            autocommit=True,
        )

    def root_sql(self, *statements: str, password: str | None = None) -> None:
        """Run statements as root."""
        with self.connect("root", password, database=None) as conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    def query(self, sql: str, *args) -> tuple:
        """Rows of a SELECT on citydb, as root."""
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def reset(self) -> None:
        """Put citydb back to exactly the seed rows."""
        with self.connect() as conn, conn.cursor() as cur:
            for table in ("country", "city", "user_info"):
                cur.execute(f"DELETE FROM `{table}`")
                cur.execute(f"ALTER TABLE `{table}` AUTO_INCREMENT = 1")
            for statement in insert_statements():
                cur.execute(statement)
            # No session or throttle survives a reset; cached copies reload.
            cur.execute("DELETE FROM web_session")
            cur.execute("DELETE FROM auth_throttle")
            cur.execute("DELETE FROM idempotency_key")
            cur.execute("UPDATE table_version SET version = version + 1")

    def app_env(self) -> dict[str, str]:
        """The service's environment for connecting as the app user."""
        secret = self.base / "db_password"
        secret.write_text(self.app_password + "\n")
        return {
            "DB_HOST": "127.0.0.1",
            "DB_PORT": str(self.port),
            "DB_NAME": "citydb",
            "DB_USER": APP_USER,
            "DB_PASSWORD_FILE": str(secret),
        }


@dataclass
class Gunicorn:
    """bootservice under gunicorn with its production config module."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    workers: int | None = 2  # WEB_CONCURRENCY; None: the config's default
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The production command, as the image runs it."""
        return [sys.executable, "-m", "bootservice.serve"]

    def environment(self) -> dict[str, str]:
        """This process's environment less its DB_* settings, plus ours."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "DATABASE_"))}
        if self.workers is not None:
            env["WEB_CONCURRENCY"] = str(self.workers)
        env.update(self.env, PORT=str(self.port))
        return env

    def start(self, wait_ready: bool = True) -> None:
        """Run the command and wait for /healthz."""
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        # Own session: a Ctrl-C in a terminal reaches only the test or bench
        # process, which then stops its servers in order.
        self.proc = subprocess.Popen(
            self.command(),
            env=self.environment(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )
        if wait_ready:
            _wait(
                lambda: requests.get(f"{self.url}/healthz", timeout=1).ok, "gunicorn", 30, self.proc
            )

    def terminate(self) -> None:
        """SIGTERM the master: a graceful shutdown."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """Stop gunicorn and wait for it."""
        if self.proc:
            self.terminate()
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.log.close()
        self.proc = None

    def output(self) -> str:
        """What gunicorn wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")


def nginx_binary() -> str:
    """Path of Debian's nginx; RuntimeError if it is not installed."""
    path = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(path).exists():
        raise RuntimeError("nginx is not installed (run ./tests/setup.sh)")
    return path


@dataclass
class Nginx:
    """Debian's nginx with its own prefix and config.

    ``start`` runs it in the foreground as a child (the benchmark, tests);
    ``start_detached`` lets it daemonize so it outlives this process (the
    lab's front load balancer), and ``stop_detached`` ends it by its pid file.
    """

    prefix: Path
    conf: Path
    proc: subprocess.Popen | None = None

    def _base(self) -> list[str]:
        return [nginx_binary(), "-p", str(self.prefix), "-c", str(self.conf)]

    def check(self) -> None:
        """`nginx -t`; RuntimeError with its message if the config is refused."""
        check = subprocess.run([*self._base(), "-t", "-q"], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed: {check.stderr.strip()}")

    def start(self) -> None:
        """Check the config and start nginx in the foreground."""
        self.check()
        # The access log (the project's JSON lines on stdout) goes to a file:
        # tests read it to see which instance answered.
        with (
            open(self.prefix / "access.log", "ab") as out,
            open(self.prefix / "error.log", "ab") as err,
        ):
            self.proc = subprocess.Popen(
                [*self._base(), "-g", "daemon off;"],
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    def stop(self) -> None:
        """Graceful quit, then kill if it lingers."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def start_detached(self, pid_file: Path) -> int:
        """Start nginx as a daemon (the config names ``pid_file``); return its pid."""
        self.check()
        proc = subprocess.run(
            [*self._base(), "-e", str(self.prefix / "error.log")],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"nginx did not start: {proc.stderr.strip()}")
        return int(
            wait_until(
                "nginx's pid file",
                lambda: pid_file.exists() and pid_file.read_text().strip(),
                10,
                0.1,
                error=RuntimeError,
            )
        )

    def reload(self) -> None:
        """Check the config, then `nginx -s reload`: new workers take it (and
        the files it names, certificates too), the old ones finish their
        requests first."""
        self.check()
        proc = subprocess.run(
            [*self._base(), "-e", str(self.prefix / "error.log"), "-s", "reload"],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"nginx -s reload failed: {proc.stderr.strip()}")

    def stop_detached(self, pid_file: Path) -> bool:
        """Quit the daemon of ``pid_file`` if it runs this config; whether it did."""
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (FileNotFoundError, ValueError):
            return False
        if str(self.conf) not in cmdline:  # a recycled pid: not ours
            return False
        os.kill(pid, signal.SIGQUIT)  # graceful: let in-flight requests finish
        with contextlib.suppress(TimeoutError):
            wait_until("nginx to quit", lambda: not Path(f"/proc/{pid}").exists(), 10, 0.1)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
        return True
