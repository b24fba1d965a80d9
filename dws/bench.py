#!/usr/bin/env python3
"""Benchmark of the production request path: `dws bench [--quick] [--json PATH]`.

It starts, on loopback, what the stack runs: nginx with the project's config
(services/nginx/, only the upstream adapted to loopback, see `nginx_config`),
three bootservice instances under gunicorn with the production config module
and stack.yml's settings of the request path (STACK_SETTINGS: 2 workers per
instance, as per replica), and MariaDB initialised from services/mysql/.
Beside bootservice, behind the same nginx and under the same gunicorn
settings, it runs `hello` (a minimal Flask app: the framework's ceiling) and
`peer` (plain Flask + SQLAlchemy + PyMySQL doing one primary-key lookup: what
a user would write without this project). wrk drives each target from its
own process at 32 connections.

It prints a table (requests/s, p50, p99, errors, ratios to hello and peer,
the CPU each request cost in the app, nginx and MariaDB, and the round trips
it cost the database, from MariaDB's own counters), the gunicorn workers'
memory, and writes it all as JSON with --json:
{"targets": {"static": {"rps", "p50_ms", "p99_ms", "errors", ...}, ...},
 "memory": {...}, "settings": {...}, "machine": {...}, "goals": {...}},
and beside it the same figures as bars in a PNG (dws/bench_chart.py).

Absolute figures drift on a shared machine, so the targets run interleaved
in rounds (4 x 3 s after a 2 s warm-up each) and the report takes medians;
ratios within one run, and CPU per request, are what to compare. `--quick`
runs two seconds per target and only checks that every target answered
without an error. Any error makes the exit status 1; no goal is enforced.
Everything started is stopped on exit, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from statistics import median

import requests
import yaml

from dws.harness import Gunicorn, MariaDB, Nginx
from dws.util import DEMO_USER, RECIPES, REPO, DwsError, free_port, wait_until

BENCH = RECIPES / "bench"
NGINX_SRC = REPO / "services" / "nginx"
WRK_SCRIPT = BENCH / "requests.lua"
PRODUCTION_CONFIG = "python:bootservice.gunicorn_conf"
INSTANCES = 3
CONNECTIONS = 32
WRK_THREADS = 2
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

# (target, app behind nginx, wrk mode, wrk argument)
TARGETS: tuple[tuple[str, str, str, str], ...] = (
    ("static", "bootservice", "path", HEALTH_PATH),
    ("hello", "hello", "path", "/hello"),
    ("peer", "peer", "lookup", "/peer/countries/"),
    ("lookup", "bootservice", "lookup", "/api/v1/countries/"),
    ("list", "bootservice", "list", ""),
    ("page", "bootservice", "path", "/countries"),
    ("mixed", "bootservice", "mixed", ":".join(DEMO_USER)),
)
TARGET_NAMES = tuple(t[0] for t in TARGETS)
APPS = {"bootservice": None, "hello": "hello_app:app", "peer": "peer_app:app"}
# With --candidate-app, a changed bootservice runs beside the production one,
# behind the same nginx, and these targets are measured on it in the same
# interleaved rounds: a before/after comparison that the machine's noise
# cannot skew.
CANDIDATE_TARGETS = ("lookup", "list", "page", "mixed")


# --- processes ----------------------------------------------------------------


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


def wait_for(url: str, what: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    """Poll `url` until it answers 200; fail early if `proc` exits."""
    wait_until(
        f"{what} to answer {url}",
        lambda: requests.get(url, timeout=1).status_code == 200,
        timeout,
        0.1,
        proc=proc,
        error=RuntimeError,
    )


def children(pid: int) -> list[int]:
    """Direct children of `pid` (gunicorn workers of a master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        # The command name is in parentheses and may contain spaces.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, reaped_children: bool = False) -> float:
    """CPU time (user + system) `pid` used so far; 0 if it is gone.

    With `reaped_children`, also what its exited and reaped children used:
    gunicorn replaces workers (max_requests), and a master's cutime/cstime
    keep the time of the workers it replaced.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # fields[0] is field 3 (state)
    used = int(fields[11]) + int(fields[12])  # utime, stime
    if reaped_children:
        used += int(fields[13]) + int(fields[14])  # cutime, cstime
    return used / TICKS


def tree_cpu(master: int) -> float:
    """CPU seconds of a master and its workers, past and present."""
    return cpu_seconds(master, reaped_children=True) + sum(map(cpu_seconds, children(master)))


def rss_mb(pid: int) -> float | None:
    """Resident memory of `pid` in MB (VmRSS), None if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return round(int(match.group(1)) / 1024, 1) if match else None


# --- nginx ----------------------------------------------------------------------


def _replace_once(text: str, pattern: str, repl: str, where: str) -> str:
    new, count = re.subn(pattern, lambda _m: repl, text, flags=re.MULTILINE)
    if count != 1:
        raise RuntimeError(
            f"services/nginx/{where}: expected exactly one match of {pattern!r}, found {count}; "
            "the project's nginx config changed, adapt dws/bench.py:nginx_config"
        )
    return new


def nginx_config(
    prefix: Path, ports: dict[str, int], upstreams: dict[str, list[int]], keepalive: int = 0
) -> Path:
    """Copy the project's nginx config into `prefix`, adapted to loopback.

    Only these lines change; every other directive is the project's:
    - nginx.conf: `pid`, the `*_temp_path`s and the conf.d `include` point
      into `prefix`, so the run neither needs nor touches /tmp/nginx-* or
      /etc/nginx/conf.d;
    - conf.d/default.conf: `listen 80` becomes a loopback port; the
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
    blocks = []
    for name, servers in upstreams.items():
        lines = [f"upstream {name} {{"] + [f"    server 127.0.0.1:{p};" for p in servers]
        if keepalive:
            lines.append(f"    keepalive {keepalive};")
        blocks.append("\n".join([*lines, "}"]))
    for name, port in ports.items():
        server = _replace_once(
            site, r"listen\s+80\s+default_server;", f"listen 127.0.0.1:{port};", "default"
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
        """nginx's address for `app`."""
        return f"http://127.0.0.1:{self.ports[app]}"

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
            wait_for(f"{self.url(name)}/healthz", f"nginx -> {name}", self.nginx.proc)

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


# --- load -------------------------------------------------------------------------


def run_wrk(url: str, mode: str, arg: str, seconds: float) -> dict:
    """One wrk run; returns the figures its script's done() printed."""
    duration = max(1, round(seconds))
    command = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{duration}s",
        # Slow answers on a busy machine belong in the latency figures; only
        # a request still unanswered after 10 s counts as an error.
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        url,
        "--",
        mode,
        arg,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 30, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line.removeprefix("BENCH_RESULT "))
    raise RuntimeError(
        f"wrk gave no result (status {done.returncode}):\n{done.stdout}{done.stderr}"
    )


def summarize(raw: dict) -> dict:
    """wrk's figures as the report's per-target entry."""
    socket_errors = sum(raw[k] for k in ("connect", "read", "write", "timeout"))
    seconds = raw["duration_us"] / 1e6
    return {
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "errors": raw["non2xx"] + socket_errors,
        "requests": raw["requests"],
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "non2xx": raw["non2xx"],
        "socket_errors": socket_errors,
        # wrk's socket errors by kind; "timeout" is wrk's 2 s per request.
        "error_kinds": {k: raw[k] for k in ("connect", "read", "write", "timeout", "non2xx")},
    }


def add_ratios(targets: dict[str, dict]) -> None:
    """Each target's requests/s as a multiple of hello's and peer's.

    Also `cpu_x_hello` / `cpu_x_peer`: the reference's server CPU per request
    over this target's, the throughput ratio to expect when CPU is the limit;
    it moves far less from run to run than the req/s ratio. And
    `p99_x_hello`: the target's p99 latency over hello's (lower is better).
    """
    hello_p99 = targets.get("hello", {}).get("p99_ms")
    for entry in targets.values():
        entry["p99_x_hello"] = round(entry["p99_ms"] / hello_p99, 2) if hello_p99 else None
    for ref in ("hello", "peer"):
        base = targets.get(ref, {}).get("rps")
        base_cpu = targets.get(ref, {}).get("cpu_ms_per_request", {}).get("server")
        for entry in targets.values():
            entry[f"x_{ref}"] = round(entry["rps"] / base, 2) if base else None
            cpu = entry.get("cpu_ms_per_request", {}).get("server")
            entry[f"cpu_x_{ref}"] = round(base_cpu / cpu, 2) if base_cpu and cpu else None


# --- the report -------------------------------------------------------------------


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except OSError:
        return "not found"
    return (done.stdout + done.stderr).strip().splitlines()[0]


def machine_info() -> dict:
    """What the figures were measured on."""
    model = "unknown"
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        model = match.group(1) if match else model
    except OSError:
        pass
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu_count": cpus,
        "cpu_model": model,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "nginx": _version(["nginx", "-v"]),
        "mariadb": _version(["mariadbd", "--version"]),
        "wrk": _version(["wrk", "--version"]),
        **{pkg: metadata.version(pkg) for pkg in ("flask", "gunicorn", "sqlalchemy", "pymysql")},
    }


def goals(targets: dict[str, dict], rss_max: float | None) -> dict[str, bool]:
    """The project's performance targets, each met or not (informational, never a failure)."""
    out: dict[str, bool] = {}
    for star in ("", "*"):  # production, then the candidate if one ran
        lookup, page = targets.get("lookup" + star), targets.get("page" + star)
        if lookup:
            out[f"lookup{star} >= 2.0x peer"] = (lookup["x_peer"] or 0) >= 2.0
            out[f"lookup{star} >= 0.9x hello"] = (lookup["x_hello"] or 0) >= 0.9
            out[f"lookup{star} CPU per request >= 0.9x hello"] = (lookup["cpu_x_hello"] or 0) >= 0.9
            out[f"lookup{star} p99 <= 1.3x hello's p99"] = (lookup["p99_x_hello"] or 99) <= 1.3
            out[f"lookup{star} p99 <= 20 ms"] = lookup["p99_ms"] <= 20
        if page:
            out[f"page{star} >= 0.5x hello"] = (page["x_hello"] or 0) >= 0.5
    out["no errors"] = all(t["errors"] == 0 for t in targets.values())
    if rss_max is not None:
        out["worker RSS <= 80 MB"] = rss_max <= 80
    return out


def table(targets: dict[str, dict]) -> str:
    """The per-target figures as a text table."""
    head = (
        f"{'target':<8} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
        f"{'x hello':>7} {'x peer':>6} {'p99 x hello':>11} | {'cpu ms/req':>10} {'app':>5} "
        f"{'nginx':>5} {'db':>5} {'x hello':>7} {'x peer':>6} | {'db trips':>8}"
    )
    left, middle, _ = head.split("|")
    groups = (
        f"{'through nginx, wrk at 32 connections':<{len(left)}}|"
        f"{' CPU per request, server side':<{len(middle)}}| per req"
    )
    lines = [groups, head, "-" * len(head)]
    for name, t in targets.items():
        cpu = t.get("cpu_ms_per_request") or {}
        trips = (t.get("db_per_request") or {}).get("round_trips", 0)
        lines.append(
            f"{name:<8} {t['rps']:>8.0f} {t['p50_ms']:>7.1f} {t['p99_ms']:>7.1f} "
            f"{t['errors']:>6} {t['x_hello'] or 0:>7.2f} {t['x_peer'] or 0:>6.2f} "
            f"{t.get('p99_x_hello') or 0:>11.2f} | "
            f"{cpu.get('server', 0):>10.3f} {cpu.get('app', 0):>5.2f} "
            f"{cpu.get('nginx', 0):>5.2f} {cpu.get('mariadb', 0):>5.2f} "
            f"{t['cpu_x_hello'] or 0:>7.2f} {t['cpu_x_peer'] or 0:>6.2f} | {trips:>8.2f}"
        )
    return "\n".join(lines)


def measure(stack: Stack, app: str, mode: str, arg: str, seconds: float) -> dict:
    """One wrk run against `app`, with the CPU each part of the path spent."""
    db_before = stack.db_counters()
    before = stack.cpu()
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    entry = summarize(run_wrk(stack.url(app), mode, arg, seconds))
    client = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = stack.cpu()
    db_after = stack.db_counters()
    entry["db_counts"] = {name: db_after[name] - db_before[name] for name in DB_COUNTERS}
    entry["cpu_s"] = {
        "app": after[app] - before[app],
        "nginx": after["nginx"] - before["nginx"],
        "mariadb": after["mariadb"] - before["mariadb"],
        "wrk": (client.ru_utime + client.ru_stime)
        - (client_before.ru_utime + client_before.ru_stime),
    }
    return entry


def combine(slices: list[dict]) -> dict:
    """One target's rounds as one entry: medians of the figures, sums of counts.

    Other work on a shared machine comes and goes; interleaving the targets
    in rounds and taking medians keeps a burst from landing on one target.
    """
    entry = {key: median(s[key] for s in slices) for key in ("rps", "p50_ms", "p90_ms", "p99_ms")}
    for key in ("errors", "requests", "non2xx", "socket_errors"):
        entry[key] = sum(s[key] for s in slices)
    entry["max_ms"] = max(s["max_ms"] for s in slices)
    entry["error_kinds"] = {
        kind: sum(s["error_kinds"][kind] for s in slices) for kind in slices[0]["error_kinds"]
    }
    # CPU per request over all rounds: it moves much less than req/s with
    # what else the machine runs, and shows where a target's time goes.
    requests = entry["requests"] or 1
    entry["cpu_ms_per_request"] = {
        part: round(1000 * sum(s["cpu_s"][part] for s in slices) / requests, 3)
        for part in ("app", "nginx", "mariadb", "wrk")
    }
    entry["cpu_ms_per_request"]["server"] = round(
        sum(entry["cpu_ms_per_request"][p] for p in ("app", "nginx", "mariadb")), 3
    )
    # What each request asked of the database, from MariaDB's own counters
    # (a request of nginx's or hello's asks nothing: about 0).
    counts = {name: sum(s["db_counts"][name] for s in slices) for name in DB_COUNTERS}
    entry["db_per_request"] = {
        "statements": round(counts["Questions"] / requests, 2),
        "pings": round(counts["Com_admin_commands"] / requests, 2),
        "rollbacks": round(counts["Com_rollback"] / requests, 2),
        "connections": round(counts["Connections"] / requests, 3),
    }
    entry["db_per_request"]["round_trips"] = round(
        entry["db_per_request"]["statements"] + entry["db_per_request"]["pings"], 2
    )
    entry["rounds"] = [{k: s[k] for k in ("rps", "p50_ms", "p99_ms", "errors")} for s in slices]
    return entry


def run(args: argparse.Namespace, settings: Settings) -> dict:
    """Start the path, load every selected target, collect the report."""
    duration = args.duration or (2 if args.quick else 12)
    rounds = 1 if args.quick else max(1, args.rounds)
    warmup = 0 if args.quick else args.warmup
    selected = [t for t in TARGETS if t[0] in args.targets]
    if settings.candidate_app:
        selected += [
            (f"{name}*", "candidate", mode, arg)
            for name, _app, mode, arg in TARGETS
            if name in CANDIDATE_TARGETS and name in args.targets
        ]
    slices: dict[str, list[dict]] = {t[0]: [] for t in selected}
    warm_errors: dict[str, int] = {}
    with running_stack(settings, keep=args.keep) as stack:
        if warmup:
            # Workers import lazily and pools fill on first use; the warm-up
            # keeps that out of the figures (but its errors still count).
            for name, app, mode, arg in selected:
                print(f"bench: warm-up {name}: {warmup:g}s", file=sys.stderr)
                warm_errors[name] = summarize(run_wrk(stack.url(app), mode, arg, warmup))["errors"]
        for n in range(rounds):
            for name, app, mode, arg in selected:
                print(
                    f"bench: round {n + 1}/{rounds} {name}: {duration / rounds:g}s "
                    f"at {CONNECTIONS} connections",
                    file=sys.stderr,
                )
                slices[name].append(measure(stack, app, mode, arg, duration / rounds))
        # A request nginx gave up on when wrk stopped may still run in a
        # worker (a POST's password hash briefly takes 32 MB): let them end.
        time.sleep(2)
        rss = stack.worker_rss()
        workers = len(stack.apps["bootservice"][0].worker_pids())
    targets = {name: combine(parts) for name, parts in slices.items()}
    for name, errors in warm_errors.items():
        targets[name]["warmup_errors"] = errors
        targets[name]["errors"] += errors
    add_ratios(targets)
    rss_max = max(rss["bootservice"] + rss.get("candidate", []), default=None)
    report = {
        "targets": targets,
        "memory": {
            "bootservice_worker_rss_mb_max": rss_max,
            "worker_rss_mb": {name: sorted(v) for name, v in rss.items()},
        },
        "settings": {
            "mode": "quick" if args.quick else "full",
            "duration_s": duration,
            "rounds": rounds,
            "warmup_s": warmup,
            "connections": CONNECTIONS,
            "wrk_threads": WRK_THREADS,
            "instances": INSTANCES,
            "workers_per_instance": workers,
            "web_concurrency": settings.workers,
            "stack_settings": settings.stack_env,
            "gunicorn_threads": settings.threads,
            "gunicorn_config": settings.gunicorn_config,
            "bootservice_app": settings.bootservice_app or "production",
            "candidate_app": settings.candidate_app,
            "upstream_keepalive": settings.upstream_keepalive,
        },
        "machine": machine_info(),
    }
    report["goals"] = goals(targets, rss_max)
    return report


def terminate(signum: int, _frame: object) -> None:
    # Turn SIGTERM/SIGHUP into an exception so every `finally` stops servers.
    raise SystemExit(128 + signum)
