"""`dws rotate`: a secret of the lab's stack replaced under traffic, with no
failed request and nobody logged out.

A Swarm secret cannot change, so every rotation creates the new secret under
the next versioned name (bootservice_secret_key_2, _3, ...), deploys the stack
with the variable that names it (kept for later deploys by dws.stack_vars),
and removes the old secret once no service uses it. The commands are those of
docs/rotation.md, run against the lab's manager and printed as they run:

  session-key  announce (the replicas accept the new key), sign (they sign
               with it and still accept the old one); with ``retire`` the old
               key is then dropped
  db-password  the other of the two application accounts gets a new
               password and the replicas switch to it in a rolling update;
               the account they left is locked once no connection uses it.
               The migration account's password changes with it.
  tls-cert     a new certificate from the lab's CA, nginx updated node by
               node, then the front load balancer reloads it

Each records the step it reached (build/lab/rotation.json): run after an
interruption, it goes on from there; run again after it finished, it starts
the next rotation.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import ssl
import time
from collections.abc import Callable

from cryptography import x509

from dws import check, db, lab_sql, lab_tls, stack_vars
from dws import deploy as deploy_mod
from dws import lab as lablib
from dws.util import LAB_DIR, DwsError, wait_until

PENDING = LAB_DIR / "rotation.json"
KINDS = ("session-key", "db-password", "tls-cert")
BOOT, NGINX, MYSQL = deploy_mod.BOOT, deploy_mod.NGINX, deploy_mod.MYSQL
MIGRATE = f"{deploy_mod.STACK}_migrate"

KEY, KEY_DEFAULT = "BOOTSERVICE_SECRET_KEY_SECRET", "bootservice_secret_key"
FALLBACK = stack_vars.FALLBACK_KEY
USER, USERS = "DB_USER", ("dws", "dws_b")
APP, APP_DEFAULT = "DB_PASSWORD_SECRET", "mysql_app_password"
MIGRATE_SECRET, MIGRATE_DEFAULT = "DB_MIGRATE_PASSWORD_SECRET", "mysql_migrate_password"
MIGRATE_USER = "dws_migrate"
# The files in /run/secrets (stack.yml's keys under `secrets:`).
KEY_FILE, FALLBACK_FILE = "bootservice_secret_key", "bootservice_secret_key_fallbacks"
APP_FILE, MIGRATE_FILE = "db_password", "db_migrate_password"
CERT_FILE, TLS_KEY_FILE = "nginx_tls_certificate", "nginx_tls_key"
CERT, CERT_DEFAULT = "NGINX_TLS_CERTIFICATE_SECRET", "nginx_tls_certificate"
TLS_KEY, TLS_KEY_DEFAULT = "NGINX_TLS_KEY_SECRET", "nginx_tls_key"
# What the application account may do: stack's init script grants the same.
APP_GRANTS = "SELECT, INSERT, UPDATE, DELETE"
ROLL_OUT_SECONDS = 300


class RotationError(DwsError):
    """A rotation could not go on; run it again once the cause is fixed."""

    status = 12


Say = Callable[[str], None]


# ---------------------------------------------------------------- state


def pending() -> dict | None:
    """The rotation under way, if one was interrupted or waits to retire."""
    try:
        return json.loads(PENDING.read_text())
    except FileNotFoundError:
        return None


def _record(state: dict | None) -> None:
    if state is None:
        PENDING.unlink(missing_ok=True)
        return
    PENDING.parent.mkdir(parents=True, exist_ok=True)
    PENDING.write_text(json.dumps(state, indent=2) + "\n")


def _resume(kind: str) -> dict | None:
    """The state of an interrupted ``kind`` rotation (None: none under way);
    RotationError if another kind is under way (it is finished first)."""
    state = pending()
    if state is not None and state["kind"] != kind:
        raise RotationError(
            f"a {state['kind']} rotation is under way: `dws rotate {state['kind']}`"
        )
    return state


def next_name(lab: lablib.Lab, base: str) -> str:
    """The next unused version of a secret's name: base_2, base_3, ..."""
    names = lab.docker("secret", "ls", "--format", "{{.Name}}").split()
    found = [int(m.group(1)) for n in names if (m := re.fullmatch(rf"{base}_(\d+)", n))]
    return f"{base}_{max([1, *found]) + 1}"


def _create_secret(lab: lablib.Lab, name: str, say: Say, value: str | None = None, path=None):
    if value is not None:
        say(f"$ printf '%s' \"$(openssl rand -hex 32)\" | docker secret create {name} -")
        lab.docker("secret", "create", name, "-", input=value.encode())
    else:
        say(f"$ docker secret create {name} {path}")
        lab.docker("secret", "create", name, str(path))


def _remove_secret(lab: lablib.Lab, name: str, say: Say) -> None:
    """`docker secret rm` once no service uses it (one that still does keeps it)."""
    out = lab.docker("secret", "rm", name, check=False)
    if name in out.split():
        say(f"$ docker secret rm {name}")


# ---------------------------------------------------------------- the swarm


def _deploy(lab: lablib.Lab, say: Say, **changes: str | None) -> float:
    """The stack deployed with some variables changed (None: unset); the wall
    time just before."""
    variables = stack_vars.load()
    if not variables or not deploy_mod.stack_exists(lab):
        raise RotationError("no stack deployed by the lab: run `dws lab deploy` first")
    variables = stack_vars.apply(variables, changes)
    shown = " ".join(f"{k}={v}" for k, v in changes.items() if v is not None)
    files = " ".join(f"-c {f}" for f in stack_vars.stack_files(variables))
    say(f"$ {shown} docker stack deploy {files} {deploy_mod.STACK}".replace("$  ", "$ "))
    since = time.time()
    deploy_mod.stack_deploy(lab, variables)
    return since


def _tasks(lab: lablib.Lab, service: str, running: bool = True) -> list[dict]:
    args = ["service", "ps", service, "-q", "--no-trunc"]
    if running:
        args += ["--filter", "desired-state=running"]
    ids = lab.docker(*args).split()
    return json.loads(lab.docker("inspect", *ids)) if ids else []


def secrets_of(task: dict) -> dict[str, str]:
    """{file in /run/secrets: the swarm secret} of a task."""
    return check.container_secrets(task["Spec"]["ContainerSpec"])


def wait_rolled_out(
    lab: lablib.Lab, service: str, wanted: dict[str, str | None], count: int, since: float
) -> float:
    """Until ``count`` tasks run and every running task has the secrets
    ``wanted`` ({file: swarm secret}, None: no such file); the seconds it
    took. RotationError at once if Swarm gave up the update started after
    ``since`` (wall clock)."""
    started = time.monotonic()

    def rolled_out() -> bool:
        state = deploy_mod.update_status(lab, service, since).get("State")
        if state in ("paused", "rollback_started", "rollback_completed"):
            raise RotationError(f"the update of {service} stopped ({state}): see docs/rotation.md")
        tasks = _tasks(lab, service)
        return len(tasks) == count and all(
            t["Status"]["State"] == "running"
            and all(secrets_of(t).get(f) == name for f, name in wanted.items())
            for t in tasks
        )

    wait_until(
        f"{service} with {', '.join(f'{k}={v}' for k, v in wanted.items())}",
        rolled_out,
        ROLL_OUT_SECONDS,
        0.5,
        error=RotationError,
        fatal=(RotationError,),
    )
    return round(time.monotonic() - started, 1)


def _roll(
    lab: lablib.Lab,
    say: Say,
    service: str,
    count: int,
    files: dict[str, str | None],
    **changes: str | None,
) -> float:
    """Deploy with ``changes``, then wait until ``service`` runs with ``files``
    (wait_rolled_out); the seconds the wait took."""
    return wait_rolled_out(lab, service, files, count, _deploy(lab, say, **changes))


def wait_migrated(lab: lablib.Lab, wanted: str) -> None:
    """The migrate task given ``wanted`` ran to its end."""

    def done() -> bool:
        for task in _tasks(lab, MIGRATE, running=False):
            if secrets_of(task).get(MIGRATE_FILE) == wanted:
                state = task["Status"]["State"]
                if state == "complete":
                    return True
                if state in ("failed", "rejected"):
                    err = task["Status"].get("Err", "")
                    raise RotationError(f"the migrate task with {wanted} failed: {err}")
        return False

    wait_until(f"{MIGRATE} with {wanted}", done, ROLL_OUT_SECONDS, 1.0, error=RotationError)


def _replicas(lab: lablib.Lab) -> int:
    spec = json.loads(lab.docker("service", "inspect", BOOT))[0]["Spec"]
    return spec["Mode"]["Replicated"]["Replicas"]


# ---------------------------------------------------------------- the database


def database_containers(lab: lablib.Lab) -> list[tuple[str, str]]:
    """(node, container id) of every running database task."""
    found = lab_sql.database_containers(lab, MYSQL)
    if not found:
        raise RotationError(f"no running {MYSQL} task")
    return found


def connections_of(lab: lablib.Lab, user: str) -> int:
    """Connections of ``user`` on every database node."""
    sql = f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{user}';"
    return sum(
        int(lab_sql.as_root(lab, where, sql).split()[0]) for where in database_containers(lab)
    )


# ---------------------------------------------------------------- the rotations


def _keys(lab: lablib.Lab, say: Say, replicas: int, sign: str, accept: str | None) -> float:
    """The replicas sign with the key in secret ``sign`` and also accept the
    one in ``accept`` (None: only their own); the seconds the update took."""
    files = {KEY_FILE: sign, FALLBACK_FILE: accept}
    return _roll(lab, say, BOOT, replicas, files, **{KEY: sign, FALLBACK: accept})


def session_key(lab: lablib.Lab, retire: bool = False, say: Say = print) -> dict:
    """Announce, sign, and with ``retire`` drop the old key; the figures."""
    state = _resume("session-key")
    figures: dict = {}
    if state is None:
        old = stack_vars.load().get(KEY, KEY_DEFAULT)
        new = next_name(lab, KEY_DEFAULT)
        _create_secret(lab, new, say, value=secrets.token_hex(32))
        state = {"kind": "session-key", "phase": "announce", "old": old, "new": new}
        _record(state)
    old, new = state["old"], state["new"]
    replicas = _replicas(lab)
    if state["phase"] == "announce":
        say("1. announce: the replicas accept the new key and still sign with the old one")
        figures["announce_seconds"] = _keys(lab, say, replicas, sign=old, accept=new)
        state["phase"] = "sign"
        _record(state)
    if state["phase"] == "sign":
        say("2. sign: the replicas sign with the new key and still accept the old one")
        figures["sign_seconds"] = _keys(lab, say, replicas, sign=new, accept=old)
        state["phase"] = "retire"
        _record(state)
    if not retire:
        say(
            f"the old key ({old}) is still accepted: retire it with "
            "`dws rotate session-key --retire` once SESSION_LIFETIME has passed"
        )
        return figures
    say("3. retire: the old key is no longer accepted")
    figures["retire_seconds"] = _keys(lab, say, replicas, sign=new, accept=None)
    _remove_secret(lab, old, say)
    _record(None)
    figures["secret"] = new
    return figures


def _other_user(user: str) -> str:
    if user not in USERS:
        raise RotationError(
            f"DB_USER is {user!r}; a rotation switches between {' and '.join(USERS)}"
        )
    return USERS[1 - USERS.index(user)]


def db_password(lab: lablib.Lab, say: Say = print) -> dict:
    """Switch the replicas to the other account with a new password, lock the
    one they left; the migration account gets a new password too."""
    state = _resume("db-password")
    figures: dict = {}
    if state is None:
        variables = stack_vars.load()
        old_user = variables.get(USER, USERS[0])
        state = {
            "kind": "db-password",
            "phase": "passwords",
            "user": _other_user(old_user),
            "old_user": old_user,
            "old_secret": variables.get(APP, APP_DEFAULT),
            "old_migrate_secret": variables.get(MIGRATE_SECRET, MIGRATE_DEFAULT),
        }
        _record(state)
    user = state["user"]
    if state["phase"] == "passwords":
        # New passwords each time this phase runs: a secret cannot be read
        # back, so after an interruption the values are known only if made anew.
        app_password, migrate_password = secrets.token_hex(32), secrets.token_hex(32)
        say(f"1. {user} (not in use) and {MIGRATE_USER} get new passwords, as root in the database")
        lab_sql.as_root(
            lab,
            database_containers(lab)[0],
            f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{app_password}';\n"
            f"ALTER USER '{user}'@'%' IDENTIFIED BY '{app_password}' ACCOUNT UNLOCK;\n"
            f"GRANT {APP_GRANTS} ON `{db.DATABASE}`.* TO '{user}'@'%';\n"
            f"ALTER USER '{MIGRATE_USER}'@'%' IDENTIFIED BY '{migrate_password}';\n",
        )
        state["secret"] = next_name(lab, APP_DEFAULT)
        state["migrate_secret"] = next_name(lab, MIGRATE_DEFAULT)
        _create_secret(lab, state["secret"], say, value=app_password)
        _create_secret(lab, state["migrate_secret"], say, value=migrate_password)
        state["phase"] = "switch"
        _record(state)
    if state["phase"] == "switch":
        say(f"2. switch: the replicas log in as {user}, in a rolling update")
        figures["switch_seconds"] = _roll(
            lab,
            say,
            BOOT,
            _replicas(lab),
            {APP_FILE: state["secret"]},
            **{USER: user, APP: state["secret"], MIGRATE_SECRET: state["migrate_secret"]},
        )
        wait_migrated(lab, state["migrate_secret"])
        state["phase"] = "retire"
        _record(state)
    old_user = state["old_user"]
    say(f"3. retire: {old_user} is locked once no connection uses it")
    started = time.monotonic()
    wait_until(
        f"no connection of {old_user}",
        lambda: connections_of(lab, old_user) == 0,
        120,
        1.0,
        error=RotationError,
    )
    figures["old_connections_gone_seconds"] = round(time.monotonic() - started, 1)
    lab_sql.as_root(
        lab, database_containers(lab)[0], f"ALTER USER '{old_user}'@'%' ACCOUNT LOCK;\n"
    )
    for name in (state["old_secret"], state["old_migrate_secret"]):
        _remove_secret(lab, name, say)
    _record(None)
    figures.update(user=user, secret=state["secret"])
    return figures


def served_serial(host: str, port: int = 443) -> int:
    """The serial number of the certificate a TLS server presents."""
    context = ssl.create_default_context(cafile=str(lab_tls.CA_CERT))
    context.check_hostname = False
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw) as tls_socket,
    ):
        der = tls_socket.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


def tls_cert(lab: lablib.Lab, say: Say = print) -> dict:
    """A new certificate on every node's nginx, one node at a time, then on the
    front load balancer; the figures (``serial``: the new one, in hex)."""
    state = _resume("tls-cert")
    figures: dict = {}
    if state is None:
        variables = stack_vars.load()
        state = {
            "kind": "tls-cert",
            "phase": "issue",
            "old_cert": variables.get(CERT, CERT_DEFAULT),
            "old_key": variables.get(TLS_KEY, TLS_KEY_DEFAULT),
        }
        _record(state)
    if state["phase"] == "issue":
        say("1. a new certificate from the lab's CA")
        serial = lab_tls.renew(lab.nodes)
        state["cert"] = next_name(lab, CERT_DEFAULT)
        state["key"] = next_name(lab, TLS_KEY_DEFAULT)
        _create_secret(lab, state["cert"], say, path=lab_tls.SITE_CERT)
        _create_secret(lab, state["key"], say, path=lab_tls.SITE_KEY)
        state.update(phase="nodes", serial=f"{serial:x}")
        _record(state)
    serial = int(state["serial"], 16)
    if state["phase"] == "nodes":
        say("2. nginx takes it node by node (stop-first: the front skips the node meanwhile)")
        figures["nodes_seconds"] = _roll(
            lab,
            say,
            NGINX,
            len(lab.nodes),
            {CERT_FILE: state["cert"], TLS_KEY_FILE: state["key"]},
            **{CERT: state["cert"], TLS_KEY: state["key"]},
        )
        state["phase"] = "front"
        _record(state)
    say("3. the front load balancer reloads it")
    lablib.reload_lb()
    wait_until(
        "the front presenting the new certificate",
        lambda: served_serial("127.0.0.1", lab.lb_port) == serial,
        30,
        0.5,
        error=RotationError,
    )
    for name in (state["old_cert"], state["old_key"]):
        _remove_secret(lab, name, say)
    _record(None)
    figures.update(serial=state["serial"], secret=state["cert"])
    return figures


def run(lab: lablib.Lab, kind: str, retire: bool = False, say: Say = print) -> dict:
    """One rotation by its name (KINDS)."""
    if kind == "session-key":
        return session_key(lab, retire=retire, say=say)
    if kind == "db-password":
        return db_password(lab, say=say)
    if kind == "tls-cert":
        return tls_cert(lab, say=say)
    raise RotationError(f"unknown rotation {kind!r}: one of {', '.join(KINDS)}")
