"""`dws lab deploy`: the stack on the lab, as a user deploys it on a swarm.

On a lab that is up: build.py builds and pushes every image to the lab's
tcr:5000 (with the stand-in bases the lab put into cloud01), the secrets are
created (random values, and the TLS certificate the lab's CA issued),
cloud03 gets the database label, the overlay network is created (without
encryption: the lab has no IPsec), and
`docker stack deploy -c stack.yml dws` runs against cloud01. Then it waits
until every service is converged and healthy. Each part is idempotent: a
second deploy rebuilds nothing that is current and resets the services to
what stack.yml says.
"""

from __future__ import annotations

import calendar
import json
import secrets
import sys
import time
from collections.abc import Callable

from dws import lab as lablib
from dws import lab_tls, stack_vars
from dws import monitoring as dws_monitoring
from dws.probe import Swarm
from dws.util import REPO, DwsError, docker_env, run_command, wait_until

STACK = "dws"
NAMESPACE = "myhub"
SECRET_NAMES = (
    "mysql_root_password",
    "mysql_app_password",
    "mysql_migrate_password",
    "bootservice_secret_key",
    "bootservice_admin_password",
)
# The site's certificate and key: files, not random values (dws.lab_tls
# issues them for the lab; a real site brings its own).
TLS_SECRETS = {
    "nginx_tls_certificate": lab_tls.SITE_CERT,
    "nginx_tls_key": lab_tls.SITE_KEY,
}
ADMIN_SECRET = "bootservice_admin_password"
ADMIN_USER = "admin"
# A secret cannot be read back from the swarm, so the lab keeps the one a person
# and the replay need, the administrator's password, beside its state (0600).
ADMIN_PASSWORD_FILE = lablib.STATE_DIR / "admin-password"
NETWORK = "my-network"
SUBNET = "10.0.9.0/24"
DB_LABEL = "dws.db=true"
DB_NODE = "cloud03"  # never the node the tutorial drains
DB_VOLUME = f"{STACK}_mysql-data"
BOOT, NGINX, MYSQL = f"{STACK}_bootservice", f"{STACK}_nginx", f"{STACK}_mysql"
IMAGES_JSON = REPO / "build" / "images.json"
BUILD_LOG = REPO / "build" / "reports" / "deploy-build.log"


class DeployError(DwsError):
    """A step of the deploy failed."""

    status = 8


def image(version: str) -> str:
    """The bootservice tag build.py pushes for a version."""
    return f"{lablib.REGISTRY}/{NAMESPACE}/bootservice:{version}-dws"


def manager_env(lab: lablib.Lab, **extra: str) -> dict[str, str]:
    """This process's environment aimed at the lab's manager (cloud01): the one
    environment of every command the deploy, the tutorial and the replays run."""
    return docker_env(lab.manager_host, **extra)


def run(args: list[str], env: dict[str, str], timeout: float = 300, what: str = "") -> str:
    """Run a user-facing command (docker CLI, build.py); DeployError with its last line."""
    proc = run_command(args, env=env, cwd=REPO, timeout=timeout, error=DeployError, what=what)
    return proc.stdout.decode(errors="replace")


def build_command(lab: lablib.Lab) -> list[str]:
    """build.py as `dws lab status` prints it: push to tcr:5000 with the lab's bases."""
    args = [sys.executable, "build.py", "--push", "--registry", lablib.REGISTRY]
    for name, tag in lab.bases.items():
        args += ["--base-image", f"{name}={tag}"]
    return args


def build_and_push(lab: lablib.Lab) -> dict[str, str]:
    """Run build.py against cloud01; return the stack variables it printed and recorded."""
    out = run(build_command(lab), manager_env(lab), timeout=1500, what="python build.py --push")
    BUILD_LOG.parent.mkdir(parents=True, exist_ok=True)
    BUILD_LOG.write_text(out)
    variables = json.loads(IMAGES_JSON.read_text()).get("stack_variables") or {}
    missing = {"MYSQL_VERSION", "NGINX_VERSION"} - set(variables)
    if missing:
        raise DeployError(f"build.py reported no {', '.join(sorted(missing))}")
    return variables


def ensure_secrets(lab: lablib.Lab) -> list[str]:
    """Create the missing secrets with random values; return the names created.

    The administrator's password is also written to ADMIN_PASSWORD_FILE.
    """
    have = set(lab.docker("secret", "ls", "--format", "{{.Name}}").split())
    if ADMIN_SECRET in have and not ADMIN_PASSWORD_FILE.exists():
        raise DeployError(
            f"secret {ADMIN_SECRET} exists but {ADMIN_PASSWORD_FILE} does not: "
            f"`docker stack rm {STACK}` and `docker secret rm {ADMIN_SECRET}`, then deploy again"
        )
    created = []
    for name in SECRET_NAMES:
        if name in have:
            continue
        # As the README: printf '%s' "$(openssl rand -hex 32)" | docker secret create NAME -
        value = secrets.token_hex(32)
        if name == ADMIN_SECRET:
            ADMIN_PASSWORD_FILE.parent.mkdir(parents=True, exist_ok=True)
            ADMIN_PASSWORD_FILE.touch(mode=0o600)
            ADMIN_PASSWORD_FILE.write_text(value)
        lab.docker("secret", "create", name, "-", input=value.encode())
        created.append(name)
    missing_tls = [name for name in TLS_SECRETS if name not in have]
    if missing_tls:
        lab_tls.ensure(lab.nodes)
    for name in missing_tls:
        lab.docker("secret", "create", name, str(TLS_SECRETS[name]))
        created.append(name)
    return created


def admin_credentials() -> tuple[str, str]:
    """The deployed stack's administrator, as `dws lab deploy` created it."""
    try:
        return ADMIN_USER, ADMIN_PASSWORD_FILE.read_text()
    except FileNotFoundError:
        raise DeployError(f"no {ADMIN_PASSWORD_FILE}: run `dws lab deploy` first") from None


def ensure_network(lab: lablib.Lab) -> bool:
    """Create the stack's overlay network unless it exists; whether it was created.

    The tutorial's command without `--opt encrypted`: the lab's nodes have no
    IPsec, and an encrypted overlay would carry nothing between them.
    """
    if json.loads(lab.docker("network", "inspect", NETWORK, check=False) or "[]"):
        return False
    try:
        lab.docker("network", "create", "--driver", "overlay", "--subnet", SUBNET, NETWORK)
    except lablib.LabError as exc:
        # Just after `docker stack rm` the manager may briefly not list it.
        if "already exists" not in str(exc):
            raise
        return False
    return True


def stack_deploy(lab: lablib.Lab, variables: dict[str, str], prune: bool = False) -> None:
    """`docker stack deploy -c stack.yml dws` against cloud01 with these variables
    (and stack.rotation.yml while a session key is being rotated, and
    stack.monitoring.yml with monitoring); recorded for the next deploy
    (dws.stack_vars). `prune` removes the services no file names any more."""
    env = manager_env(lab, **variables)
    files = [arg for f in stack_vars.stack_files(variables) for arg in ("-c", f)]
    run(
        ["docker", "stack", "deploy", *files, STACK, "--with-registry-auth"]
        + (["--prune"] if prune else []),
        env,
        what=f"docker stack deploy {' '.join(files)} dws",
    )
    stack_vars.save(variables)


def db_nodes_of(lab: lablib.Lab, db_nodes: int) -> list[str]:
    """The nodes the lab labels for the database: cloud03 alone, or all three."""
    if db_nodes == 1:
        return [DB_NODE]
    if db_nodes == len(lab.nodes):
        return sorted(lab.nodes)
    raise DeployError(f"the lab runs 1 or {len(lab.nodes)} database nodes, not {db_nodes}")


def label_db_nodes(lab: lablib.Lab, nodes: list[str]) -> None:
    """Exactly `nodes` carry the database label."""
    key = DB_LABEL.split("=")[0]
    for node in lab.nodes:
        if node in nodes:
            lab.docker("node", "update", "--label-add", DB_LABEL, node)
        else:
            lab.docker("node", "update", "--label-rm", key, node, check=False)


def update_status(lab: lablib.Lab, service: str, since: float) -> dict:
    """The service's UpdateStatus if its update started after ``since`` (wall
    clock), else {}: an earlier update's state says nothing of this one."""
    status = json.loads(lab.docker("service", "inspect", service))[0].get("UpdateStatus") or {}
    started = status.get("StartedAt", "")
    # RFC 3339 with nanoseconds, in UTC: compared at second precision.
    t = calendar.timegm(time.strptime(started[:19], "%Y-%m-%dT%H:%M:%S")) if started else 0
    return status if t >= since - 1 else {}


def wait_converged(lab: lablib.Lab, timeout: float = 300, db_nodes: int = 1) -> None:
    """Every service at its replica count, bootservice at 1.0, and the page served."""
    swarm = Swarm(lab)
    wait = lambda what, probe: wait_until(what, probe, timeout, 1.0, error=DeployError)  # noqa: E731
    # A database task is Running only once healthy: with Galera, once Synced.
    wait(f"mysql {db_nodes}/{db_nodes}", lambda: swarm.converged(MYSQL, db_nodes))
    wait("bootservice 3/3 at 1.0", lambda: swarm.converged(BOOT, 3, image("1.0")))
    wait("nginx on 3 nodes", lambda: swarm.converged(NGINX, 3))
    placed = sorted(t["Node"] for t in swarm.tasks(MYSQL))
    if placed != db_nodes_of(lab, db_nodes):
        raise DeployError(
            f"mysql runs on {placed}, not on the labelled {db_nodes_of(lab, db_nodes)}"
        )
    # Ready = the database answers through the whole chain, several times in a row.
    streak: list[bool] = []

    def ready() -> bool:
        with lab_tls.session() as s:
            ok = s.get(f"{lab.lb_url}/readyz", timeout=5).status_code == 200
        streak.append(ok)
        return ok and streak[-6:] == [True] * 6

    wait("/readyz through the front load balancer", ready)


def deploy(
    lab: lablib.Lab,
    say: Callable[[str], None] = print,
    db_nodes: int = 1,
    monitoring: bool | None = None,
) -> dict:
    """The whole deploy; returns its figures (seconds per part).

    `db_nodes` 3 labels every node and deploys with DB_NODES=3: a Galera cluster.
    `monitoring` True adds stack.monitoring.yml, False removes it, None keeps
    what the last deploy had.
    """
    figures: dict = {}
    started = time.monotonic()
    say(f"$ DOCKER_HOST={lab.manager_host} python {' '.join(build_command(lab)[1:])}")
    variables = build_and_push(lab)
    figures["build_seconds"] = round(time.monotonic() - started, 1)
    say(f"  built and pushed in {figures['build_seconds']} s; log: {BUILD_LOG}")
    created = ensure_secrets(lab)
    say(f"$ docker secret create ... ({', '.join(created) or 'all exist'})")
    labelled = db_nodes_of(lab, db_nodes)
    label_db_nodes(lab, labelled)
    say(f"$ docker node update --label-add {DB_LABEL} {' / '.join(labelled)}")
    # The last deploy's secret names (a rotation's), with this build's images.
    variables = {**stack_vars.load(), **variables}
    variables.pop("DB_NODES", None)
    if db_nodes != 1:
        variables["DB_NODES"] = str(db_nodes)
    was_monitored = dws_monitoring.is_enabled(variables)
    if monitoring is None:
        monitoring = was_monitored
    for name in (*dws_monitoring.IMAGE_VARIABLES.values(), "MONITORING_CONFIG"):
        variables.pop(name, None)
    if monitoring:
        variables.update(dws_monitoring.enable(lab, say))
    made = ensure_network(lab)
    say(
        f"$ docker network create --driver overlay --subnet {SUBNET} {NETWORK}"
        + ("" if made else "  (exists)")
    )
    exports = " ".join(f"{k}={v}" for k, v in variables.items())
    files = " ".join(f"-c {f}" for f in stack_vars.stack_files(variables))
    say(f"$ {exports} docker stack deploy {files} {STACK} --with-registry-auth")
    started = time.monotonic()
    stack_deploy(lab, variables, prune=was_monitored and not monitoring)
    wait_converged(lab, db_nodes=db_nodes)
    figures["converge_seconds"] = round(time.monotonic() - started, 1)
    figures["variables"] = variables
    say(f"  converged and serving in {figures['converge_seconds']} s")
    if monitoring:
        started = time.monotonic()
        dws_monitoring.ensure_account(lab, MYSQL)
        say(f"  the database's monitoring account {dws_monitoring.MONITOR_USER} is set")
        dws_monitoring.wait_targets_up(
            lab, dws_monitoring.expected_targets(3, len(lab.nodes), db_nodes)
        )
        figures["monitoring_seconds"] = round(time.monotonic() - started, 1)
        say(
            f"  every Prometheus target up in {figures['monitoring_seconds']} s: "
            f"{dws_monitoring.prometheus_url()}/targets"
        )
    return figures


def next_steps(lab: lablib.Lab, variables: dict[str, str] | None = None) -> str:
    """What to run next, printed after a deploy."""
    exports = " ".join(f"{k}={v}" for k, v in (variables or {}).items())
    return "\n".join(
        [
            f"The tutorial's page: {lab.lb_url}/countries",
            f"  (HTTPS: trust {lab_tls.CA_CERT}, e.g. curl --cacert {lab_tls.CA_CERT} ...;"
            f" {lab.lb_http_url}/ redirects there)",
            f"Log in as {ADMIN_USER} with the password in {ADMIN_PASSWORD_FILE}"
            " (the demo accounts are disabled in a deployed stack).",
            "Next:",
            "  dws tutorial          # the tutorial's steps, one after another (--pause)",
            "  dws watch             # live: nodes, tasks, who answers",
            "or by hand, as on the tutorial's cloud01:",
            f"  export DOCKER_HOST={lab.manager_host}"
            + (f" {exports}  # stack.yml's variables" if exports else ""),
            f"  docker service ps {BOOT}",
            f"  docker service scale {BOOT}=6",
        ]
    )


def stack_exists(lab: lablib.Lab) -> bool:
    """Whether any service of the stack exists."""
    out = lab.docker("stack", "services", STACK, "-q", check=False)
    return bool(out.split())


def stack_removed(lab: lablib.Lab, timeout: float = 150) -> None:
    """`docker stack rm dws`, then wait (bounded) until its services are gone and no
    node runs one of its containers any more (mysql stops within its grace period,
    and a new one must not start on the same volume before)."""
    lab.docker("stack", "rm", STACK, check=False, timeout=120)

    def gone() -> bool:
        if lab.docker("service", "ls", "-q", check=False).split():
            return False
        label = f"label=com.docker.stack.namespace={STACK}"
        return not any(
            lab.node_docker(node, "ps", "-q", "--filter", label, check=False).split()
            for node in lab.nodes
        )

    try:
        wait_until("the stack's services and containers to go", gone, timeout, 1.0)
    except TimeoutError:
        pass
