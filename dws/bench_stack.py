"""The benchmark's servers: the production request path started on loopback.

nginx with the project's config (services/nginx/, only the upstream adapted
to loopback, see `nginx_config`), three instances of each app under gunicorn
with the production config module and stack.yml's settings of the request
path, and MariaDB initialised from services/mysql/. Everything started is
stopped on leaving `running_stack`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

from dws import tls
from dws.harness import Gunicorn, MariaDB, Nginx
from dws.procstats import children, cpu_seconds, rss_mb, tree_cpu
from dws.util import RECIPES, REPO, DwsError, free_port, wait_until

BENCH = RECIPES / "bench"
NGINX_SRC = REPO / "services" / "nginx"
PRODUCTION_CONFIG = "python:bootservice.gunicorn_conf"
INSTANCES = 3
HEALTH_PATH = "/nginx-health"  # the project's own fixed nginx answer
# MariaDB's counters of what its clients sent: statements (Questions, which
# include each ROLLBACK) and commands that are no statement (a ping is an
# admin command). Their difference over a run, per request, is the number of
# round trips a request cost the database.
DB_COUNTERS = ("Questions", "Com_admin_commands", "Com_rollback", "Connections")

# What of stack.yml's bootservice environment shapes the request path, and so
# runs here too (the rest names the swarm's database and secrets).
STACK_SETTINGS = (
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "TRUSTED_PROXIES",
    "READ_CACHE_TTL",
    "READ_CACHE_LEASE",
)
APPS = {"bootservice": None, "hello": "hello_app:app", "peer": "peer_app:app"}


# --- processes ---------------------------------------------------------------


@dataclass
class App(Gunicorn):
    """One gunicorn instance: bootservice or a comparison app, same settings.

    `app` None runs the production command unchanged (its config names the
    app); otherwise the app spec is appended, which gunicorn prefers over the
    config's `wsgi_app`, so hello and peer get exactly the same settings.
    """

    app: str | None = None
    config: str = PRODUCTION_CONFIG
    workers: int | None = None  # stack.yml's unless --workers
    pythonpath: tuple[str, ...] = ()

    def command(self) -> list[str]:
        """gunicorn with `config`, and the app spec when not bootservice."""
        command = [str(Path(sys.executable).with_name("gunicorn")), "--config", self.config]
        return command + [self.app] if self.app else command

    def environment(self) -> dict[str, str]:
        """The test environment, with the comparison apps importable."""
        env = super().environment()
        env["PYTHONPATH"] = os.pathsep.join(
            [str(BENCH), *self.pythonpath, *filter(None, [env.get("PYTHONPATH")])]
        )
        return env

    def worker_pids(self) -> list[int]:
        """The pids of this master's worker processes."""
        if not self.proc:
            return []
        return children(self.proc.pid)


def wait_for(
    url: str, what: str, proc: subprocess.Popen, timeout: float = 30, verify: str | bool = True
) -> None:
    """Poll `url` until it answers 200; fail early if `proc` exits."""
    wait_until(
        f"{what} to answer {url}",
        lambda: requests.get(url, timeout=1, verify=verify).status_code == 200,
        timeout,
        0.1,
        proc=proc,
        error=RuntimeError,
    )


# --- nginx ----------------------------------------------------------------------


def _replace_once(text: str, pattern: str, repl: str, where: str) -> str:
    new, count = re.subn(pattern, lambda _m: repl, text, flags=re.MULTILINE)
    if count != 1:
        raise RuntimeError(
            f"services/nginx/{where}: expected exactly one match of {pattern!r}, found {count}; "
            "the project's nginx config changed, adapt dws/bench_stack.py:nginx_config"
        )
    return new


def site_certificate(directory: Path) -> tuple[Path, Path]:
    """A CA (`ca.pem`, what clients trust) and a certificate it signed for
    127.0.0.1 and localhost, in `directory`: (certificate, key)."""
    ca = tls.CertificateAuthority.create("dws bench CA", days=2)
    ca.write(directory / "ca.pem", directory / "ca-key.pem")
    pair = (directory / "site.pem", directory / "site-key.pem")
    ca.issue(["127.0.0.1", "localhost"], days=2).write(*pair)
    # nginx's workers run as another user but read the files through the
    # master, which opens them at start: owner-only stays.
    return pair


def nginx_config(
    prefix: Path,
    ports: dict[str, int],
    upstreams: dict[str, list[int]],
    keepalive: int = 0,
    tls_pair: tuple[Path, Path] | None = None,
) -> Path:
    """Copy the project's nginx config into `prefix`, adapted to loopback.

    Only these lines change; every other directive is the project's:
    - nginx.conf: `pid`, the `*_temp_path`s and the conf.d `include` point
      into `prefix`, so the run neither needs nor touches /tmp/nginx-* or
      /etc/nginx/conf.d;
    - conf.d/default.conf (the HTTPS site; redirect.conf, port 80's
      redirect, is left out): `listen 443` becomes a loopback port, the
      certificate and key are `tls_pair` (made with `site_certificate`); the
      `resolver` line is dropped and `set $upstream bootservice:8888` becomes
      `set $upstream NAME` naming an `upstream NAME` block of the loopback
      instances (nginx uses a matching upstream block for a variable
      proxy_pass instead of Swarm's DNS); the 50x page's root points at the
      copy of services/nginx/html. The server block is repeated once per app
      (bootservice, hello, peer), each on its own port, so all three sit
      behind the same nginx with the same directives.
    `keepalive` > 0 (an experiment, not the project's config) adds upstream
    keepalive connections and the HTTP/1.1 proxying they need.
    """
    conf_d = prefix / "conf.d"
    conf_d.mkdir(parents=True, exist_ok=True)
    cert, key = tls_pair or site_certificate(prefix)
    shutil.copytree(NGINX_SRC / "html", prefix / "html", dirs_exist_ok=True)
    main = (NGINX_SRC / "nginx.conf").read_text()
    main = _replace_once(main, r"^pid\s+\S+;", f"pid {prefix}/nginx.pid;", "nginx.conf")
    main, temps = re.subn(r"(_temp_path\s+)/tmp/", rf"\g<1>{prefix}/", main)
    if temps == 0:
        raise RuntimeError("services/nginx/nginx.conf: no *_temp_path under /tmp to relocate")
    main = _replace_once(
        main, r"include\s+/etc/nginx/conf\.d/\*\.conf;", f"include {conf_d}/*.conf;", "nginx.conf"
    )
    (prefix / "nginx.conf").write_text(main)

    site = (NGINX_SRC / "conf.d" / "default.conf").read_text()
    site = _replace_once(site, r"^\s*resolver\s+[^;]*;\n", "", "conf.d/default.conf")
    site = _replace_once(site, r"root\s+/usr/share/nginx/dws;", f"root {prefix}/html;", "default")
    site = _replace_once(
        site, r"ssl_certificate\s+/run/secrets/\S+;", f"ssl_certificate {cert};", "default"
    )
    site = _replace_once(
        site, r"ssl_certificate_key\s+/run/secrets/\S+;", f"ssl_certificate_key {key};", "default"
    )
    blocks = []
    for name, servers in upstreams.items():
        lines = [f"upstream {name} {{"] + [f"    server 127.0.0.1:{p};" for p in servers]
        if keepalive:
            lines.append(f"    keepalive {keepalive};")
        blocks.append("\n".join([*lines, "}"]))
    for name, port in ports.items():
        server = _replace_once(
            site,
            r"listen\s+443\s+ssl\s+http2\s+default_server;",
            f"listen 127.0.0.1:{port} ssl http2;",
            "default",
        )
        server = _replace_once(
            server, r"set\s+\$upstream\s+\S+;", f"set $upstream {name};", "conf.d/default.conf"
        )
        if keepalive:
            server = _replace_once(
                server,
                r"proxy_pass\s+http://\$upstream;",
                "proxy_pass http://$upstream;\n        proxy_http_version 1.1;\n"
                '        proxy_set_header Connection "";',
                "conf.d/default.conf",
            )
        blocks.append(f"# --- {name} ---\n{server}")
    (conf_d / "default.conf").write_text("\n\n".join(blocks) + "\n")
    return prefix / "nginx.conf"


# --- the whole path -------------------------------------------------------------


def stack_settings(stack_file: Path = REPO / "stack.yml") -> dict[str, str]:
    """STACK_SETTINGS as stack.yml gives them to bootservice: the benchmark
    measures the deployed configuration (2 workers per replica, say), not
    gunicorn's defaults."""
    stack = yaml.safe_load(stack_file.read_text(encoding="utf-8"))
    env = stack["services"]["bootservice"].get("environment") or {}
    if isinstance(env, list):  # the KEY=VALUE form
        env = dict(item.split("=", 1) for item in env)
    return {name: str(env[name]) for name in STACK_SETTINGS if name in env}


@dataclass
class Settings:
    """How the servers run; the defaults are the production configuration."""

    workers: int | None = None  # WEB_CONCURRENCY; None: stack.yml's
    threads: int | None = None  # GUNICORN_THREADS; None: the config's default
    gunicorn_config: str = PRODUCTION_CONFIG
    bootservice_app: str | None = None  # an experiment's app spec
    pythonpath: tuple[str, ...] = ()
    upstream_keepalive: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    # stack.yml's request-path settings, read once: the servers run them and
    # the report names them.
    stack_env: dict[str, str] = field(default_factory=stack_settings)
    apps: tuple[str, ...] = tuple(APPS)  # which apps to run behind nginx
    candidate_app: str | None = None  # a changed bootservice, run beside it


@dataclass
class Stack:
    """nginx -> 3 x (bootservice, hello, peer) under gunicorn -> MariaDB."""

    workdir: Path
    settings: Settings = field(default_factory=Settings)
    mariadb: MariaDB | None = None
    nginx: Nginx | None = None
    apps: dict[str, list[App]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def url(self, app: str = "bootservice") -> str:
        """nginx's HTTPS address for `app` (its certificate signed by `ca`)."""
        return f"https://127.0.0.1:{self.ports[app]}"

    @property
    def ca(self) -> str:
        """The CA certificate a client of `url` trusts."""
        return str(self.workdir / "nginx" / "ca.pem")

    @property
    def access_log(self) -> Path:
        """nginx's JSON access log."""
        return self.workdir / "nginx" / "access.log"

    def start(self) -> None:
        """Start MariaDB, the gunicorn instances and nginx; wait for all."""
        s = self.settings
        self.mariadb = MariaDB(self.workdir / "mariadb")
        self.mariadb.install()
        key = self.workdir / "secret_key"
        key.write_text("bench-" + os.urandom(24).hex() + "\n")
        env = {
            **self.mariadb.app_env(),
            "SECRET_KEY_FILE": str(key),
            "APP_VERSION": "1.0",
            **s.stack_env,
            **s.extra_env,
        }
        if s.workers:
            env["WEB_CONCURRENCY"] = str(s.workers)
        if s.threads:
            env["GUNICORN_THREADS"] = str(s.threads)
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        apps = {name: spec for name, spec in APPS.items() if name in s.apps}
        if s.bootservice_app:
            apps["bootservice"] = s.bootservice_app
        if s.candidate_app:
            apps["candidate"] = s.candidate_app
        for name, spec in apps.items():
            self.apps[name] = []
            for i in range(INSTANCES):
                app = App(
                    env,
                    logs / f"{name}-{i + 1}.log",
                    app=spec,
                    config=s.gunicorn_config,
                    pythonpath=s.pythonpath,
                )
                self.apps[name].append(app)
                app.start(wait_ready=False)
        for name, instances in self.apps.items():
            for app in instances:
                wait_for(f"{app.url}/healthz", f"gunicorn {name}", app.proc)
        self.ports = {name: free_port() for name in self.apps}
        prefix = self.workdir / "nginx"
        conf = nginx_config(
            prefix,
            self.ports,
            {name: [a.port for a in instances] for name, instances in self.apps.items()},
            keepalive=s.upstream_keepalive,
        )
        self.nginx = Nginx(prefix, conf)
        self.nginx.start()
        for name in self.apps:
            wait_for(
                f"{self.url(name)}/healthz", f"nginx -> {name}", self.nginx.proc, verify=self.ca
            )

    def stop(self) -> None:
        """Stop everything started, front to back; never raises."""
        errors = []
        instances = [a for apps in self.apps.values() for a in apps]
        # SIGTERM every gunicorn master first: their graceful shutdowns then
        # run in parallel instead of one after the other.
        for app in instances:
            app.terminate()
        for server in [self.nginx, *instances, self.mariadb]:
            if server is None:
                continue
            try:
                server.stop() if not isinstance(server, MariaDB) else server.destroy()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                errors.append(f"{type(server).__name__}: {exc}")
        if errors:
            print("bench: while stopping: " + "; ".join(errors), file=sys.stderr)

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each app's instances, nginx and MariaDB."""
        out = {
            name: sum(tree_cpu(app.proc.pid) for app in instances if app.proc)
            for name, instances in self.apps.items()
        }
        out["nginx"] = tree_cpu(self.nginx.proc.pid) if self.nginx and self.nginx.proc else 0.0
        db = self.mariadb.proc if self.mariadb else None
        out["mariadb"] = cpu_seconds(db.pid) if db else 0.0
        return out

    def db_counters(self) -> dict[str, int]:
        """MariaDB's DB_COUNTERS now (the query itself adds one statement)."""
        if self.mariadb is None:
            raise DwsError("the benchmark's MariaDB is not running")
        names = ", ".join(f"'{name}'" for name in DB_COUNTERS)
        rows = self.mariadb.query(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})")
        return {name: int(value) for name, value in rows}

    def worker_rss(self) -> dict[str, list[float]]:
        """Each app's gunicorn workers' RSS in MB, all instances."""
        out: dict[str, list[float]] = {}
        for name, instances in self.apps.items():
            sizes = [rss_mb(pid) for app in instances for pid in app.worker_pids()]
            out[name] = [size for size in sizes if size is not None]
        return out


def _stop_undisturbed(stack: Stack) -> None:
    # A second Ctrl-C while stopping would leave servers behind: ignore it.
    main_thread = threading.current_thread() is threading.main_thread()
    saved = {}
    if main_thread:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            saved[sig] = signal.signal(sig, signal.SIG_IGN)
    try:
        stack.stop()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@contextmanager
def running_stack(settings: Settings | None = None, keep: bool = False) -> Iterator[Stack]:
    """The whole path, started in a throwaway directory and always stopped.

    With `keep` the directory (logs, nginx config) stays for a post-mortem.
    """
    with ExitStack() as cleanup:
        workdir = Path(tempfile.mkdtemp(prefix="dws-bench-"))
        if keep:
            print(f"bench: keeping {workdir}", file=sys.stderr)
        else:
            cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        stack = Stack(workdir, settings or Settings())
        cleanup.callback(_stop_undisturbed, stack)
        stack.start()
        yield stack
