"""`dws lab deploy --monitoring`: stack.monitoring.yml on the lab, and what
it sees.

The lab cannot pull the official Prometheus, Alertmanager and exporter
images, so it pushes stand-ins built from Debian's packages (dws.standins)
to tcr:5000 and names them in the override's image variables. It keeps the
database exporter's password beside its state (0600), creates the
exporter's client file as a secret, and gives the account its password as
root on the database (docs/monitoring.md lists the statements for a real
swarm). Prometheus and Alertmanager answer on the host's loopback through a
small proxy the lab runs (dws.lab).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable

import requests

from dws import lab as lablib
from dws import lab_sql, stack_vars, standins
from dws.util import REPO, DwsError, wait_until

# The override's image variables, by stand-in.
IMAGE_VARIABLES = {
    "prometheus": "PROMETHEUS_IMAGE",
    "alertmanager": "ALERTMANAGER_IMAGE",
    "nginx-exporter": "NGINX_EXPORTER_IMAGE",
    "mysqld-exporter": "MYSQLD_EXPORTER_IMAGE",
}
# What the configs are made of: their hash names them (a swarm config cannot
# change, a new one is made when a file does).
CONFIG_FILES = (
    "services/prometheus/prometheus.yml",
    "services/prometheus/alerts.yml",
    "services/prometheus/alertmanager.yml",
    "services/nginx/status.conf",
)
EXPORTER_SECRET = "mysqld_exporter_cnf"
MONITOR_USER = "dws_monitor"
PASSWORD_FILE = lablib.STATE_DIR / "monitor-password"
# The socket of the database server, where the exporter beside it reads it.
SOCKET = "/run/mysqld/mysqld.sock"


class MonitoringError(DwsError):
    """The monitoring stack did not come up as expected."""

    status = 8


def config_version() -> str:
    """A short hash of the configs' files: the suffix of their names."""
    h = hashlib.sha256()
    for rel in CONFIG_FILES:
        h.update(rel.encode())
        h.update((REPO / rel).read_bytes())
    return h.hexdigest()[:12]


def push_images(lab: lablib.Lab) -> dict[str, str]:
    """Build (cached) the monitoring stand-ins, push them to the lab's
    registry; return the override's image variables."""
    found = {}
    for name in standins.MONITORING:
        tag = standins.ensure_base(name)
        target = f"{lablib.REGISTRY}/{tag}"
        lab.load_image(tag, target)
        lab.docker("push", "--quiet", target, timeout=600)
        found[IMAGE_VARIABLES[name]] = target
    return found


def variables(lab: lablib.Lab) -> dict[str, str]:
    """The variables a deploy with stack.monitoring.yml needs on the lab."""
    return {**push_images(lab), "MONITORING_CONFIG": config_version()}


def exporter_cnf(password: str) -> str:
    """The exporter's client file: its account, password and the socket."""
    return f"[client]\nuser={MONITOR_USER}\npassword={password}\nsocket={SOCKET}\n"


def account_sql(password: str) -> str:
    """The monitoring account with this password: the server's status and
    process list, nothing of citydb (idempotent)."""
    account = f"'{MONITOR_USER}'@'localhost'"
    return (
        f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{password}'"
        " WITH MAX_USER_CONNECTIONS 3;\n"
        f"ALTER USER {account} IDENTIFIED BY '{password}';\n"
        f"GRANT PROCESS, SLAVE MONITOR ON *.* TO {account};\n"
    )


def _password() -> str:
    try:
        return PASSWORD_FILE.read_text()
    except FileNotFoundError:
        value = secrets.token_hex(24)
        PASSWORD_FILE.parent.mkdir(parents=True, exist_ok=True)
        PASSWORD_FILE.touch(mode=0o600)
        PASSWORD_FILE.write_text(value)
        return value


def ensure_secret(lab: lablib.Lab) -> bool:
    """The exporter's secret, created unless it exists; whether it was."""
    have = set(lab.docker("secret", "ls", "--format", "{{.Name}}").split())
    if EXPORTER_SECRET in have:
        if not PASSWORD_FILE.exists():
            raise MonitoringError(
                f"secret {EXPORTER_SECRET} exists but {PASSWORD_FILE} does not: "
                f"`docker stack rm dws` and `docker secret rm {EXPORTER_SECRET}`, then deploy again"
            )
        return False
    lab.docker("secret", "create", EXPORTER_SECRET, "-", input=exporter_cnf(_password()).encode())
    return True


def ensure_account(lab: lablib.Lab, service: str) -> None:
    """Give the monitoring account its password on the database `service`
    (a Galera cluster passes it on to every node)."""
    sql = account_sql(_password())
    wait_until(
        "the database to take the monitoring account",
        lambda: lab_sql.as_root(lab, lab_sql.database_containers(lab, service)[0], sql) is not None,
        120,
        2,
        error=MonitoringError,
    )


def _ports() -> lablib.MonitoringPorts:
    ports = lablib.monitoring_ports()
    if ports is None:
        raise MonitoringError("no monitoring on the lab: run `dws lab deploy --monitoring`")
    return ports


def prometheus_url() -> str:
    """Prometheus on the host's loopback (the lab's monitoring proxy)."""
    return f"http://127.0.0.1:{_ports().prometheus}"


def alertmanager_url() -> str:
    return f"http://127.0.0.1:{_ports().alertmanager}"


def api(lab: lablib.Lab, path: str, **params: str) -> dict | list:
    """One call of Prometheus's HTTP API; its `data`."""
    resp = requests.get(f"{prometheus_url()}/api/v1/{path}", params=params, timeout=5)
    resp.raise_for_status()
    body = resp.json()
    if body.get("status") != "success":
        raise MonitoringError(f"Prometheus answered {path} with {body.get('error')}")
    return body["data"]


def targets(lab: lablib.Lab) -> list[dict]:
    """The active targets: job, node, service, health and last error of each."""
    return [
        {
            "job": t["labels"].get("job", ""),
            "node": t["labels"].get("node", ""),
            "service": t["labels"].get("service", ""),
            "address": t["labels"].get("instance", ""),
            "health": t["health"],
            "error": t.get("lastError", ""),
        }
        for t in api(lab, "targets", state="active")["activeTargets"]
    ]


def expected_targets(replicas: int, nodes: int, db_nodes: int) -> dict[str, int]:
    """How many targets each job has on a converged stack."""
    return {
        "bootservice": replicas,
        "nginx": nodes,
        "mysql": db_nodes,
        "engine": nodes,
        "prometheus": 1,
    }


def wait_targets_up(lab: lablib.Lab, expected: dict[str, int], timeout: float = 180) -> list[dict]:
    """Wait until every job has its count of targets, all up; return them."""

    def all_up() -> list[dict] | None:
        found = targets(lab)
        counts = {job: 0 for job in expected}
        for t in found:
            if t["health"] != "up":
                return None
            counts[t["job"]] = counts.get(t["job"], 0) + 1
        return found if counts == expected else None

    try:
        return wait_until("every Prometheus target up", all_up, timeout, 2)
    except TimeoutError as exc:
        seen = ", ".join(f"{t['job']}@{t['node']} {t['health']} {t['error']}" for t in targets(lab))
        raise MonitoringError(f"{exc}; expected {expected}, seen: {seen}") from None


def alerts(lab: lablib.Lab) -> list[dict]:
    """The alerts Prometheus has now, pending or firing."""
    return [
        {
            "name": a["labels"].get("alertname", ""),
            "state": a["state"],
            "labels": {k: v for k, v in a["labels"].items() if k != "alertname"},
            "active_at": a.get("activeAt", ""),
        }
        for a in api(lab, "alerts")["alerts"]
    ]


def enable(lab: lablib.Lab, say: Callable[[str], None] = print) -> dict[str, str]:
    """Everything the override needs before its deploy; its variables."""
    started = time.monotonic()
    found = variables(lab)
    say(
        f"  monitoring images pushed in {time.monotonic() - started:.0f} s: "
        + ", ".join(found[v] for v in IMAGE_VARIABLES.values())
    )
    made = ensure_secret(lab)
    say(f"$ docker secret create {EXPORTER_SECRET} -" + ("" if made else "  (exists)"))
    lablib.start_monitoring_proxy(lab)
    return found


def is_enabled(variables: dict[str, str]) -> bool:
    return stack_vars.MONITORING_KEY in variables


class AlertWatch:
    """Prometheus's alerts, polled from a thread while a step runs: when each
    one began firing and when it resolved, in seconds since `origin`
    (monotonic). An alert is known by its name and its node or service."""

    def __init__(self, lab: lablib.Lab, origin: float, interval: float = 1.0) -> None:
        self.lab = lab
        self.origin = origin
        self.interval = interval
        self.fired: dict[tuple[str, str], dict] = {}
        self.polls = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-watch", daemon=True)

    def __enter__(self) -> AlertWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        try:
            now_alerts = alerts(self.lab)
        except (requests.RequestException, MonitoringError, ValueError):
            # Prometheus itself may be briefly unreachable; counted.
            self.errors += 1
            return
        self.polls += 1
        at = round(time.monotonic() - self.origin, 1)
        firing = set()
        for a in now_alerts:
            if a["state"] != "firing":
                continue
            subject = a["labels"].get("node") or a["labels"].get("service") or ""
            key = (a["name"], subject)
            firing.add(key)
            entry = self.fired.get(key)
            if entry is None or entry["resolved_seconds"] is not None:
                self.fired[key] = {
                    "name": a["name"],
                    "subject": subject,
                    "fired_seconds": at,
                    "resolved_seconds": None,
                }
        for key, entry in self.fired.items():
            if key not in firing and entry["resolved_seconds"] is None:
                entry["resolved_seconds"] = at

    def wait_resolved(self, names: tuple[str, ...], timeout: float) -> bool:
        """Wait until each of `names` has fired and none of them fires any
        more; whether that happened. (Others may go on: the windowed alerts
        count what the steps before did.)"""

        def done() -> bool:
            entries = [e for e in self.fired.values() if e["name"] in names]
            return {e["name"] for e in entries} >= set(names) and all(
                e["resolved_seconds"] is not None for e in entries
            )

        try:
            wait_until("the alerts to resolve", done, timeout, 1)
        except TimeoutError:
            return False
        return True

    def report(self) -> list[dict]:
        return sorted(self.fired.values(), key=lambda e: e["fired_seconds"])
