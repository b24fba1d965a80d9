"""The variables of the lab's last `docker stack deploy`, kept for the next one.

stack.yml takes its images' versions, DB_NODES and the name of every secret
from variables. A deploy without the variables of the one before goes back
to the defaults: after a rotation that means a retired password or key, and
after a Galera deploy a single database. So the lab records them
(build/lab/stack-variables.json, gone with `dws lab down`) and every deploy,
update and rotation it runs starts from them, as an operator keeps them in an
environment file.
"""

from __future__ import annotations

import json

from dws.util import LAB_DIR

STATE = LAB_DIR / "stack-variables.json"
ROTATION_FILE = "stack.rotation.yml"
# The variable of stack.rotation.yml: with it set, the override is deployed.
FALLBACK_KEY = "BOOTSERVICE_SECRET_KEY_FALLBACKS_SECRET"
MONITORING_FILE = "stack.monitoring.yml"
# A variable of stack.monitoring.yml the lab always sets with it: with it
# set, the override is deployed.
MONITORING_KEY = "PROMETHEUS_IMAGE"
# What a database volume initialised anew does not know: its accounts are
# those of the first passwords (MYSQL_*_PASSWORD_SECRET) again.
DATABASE_ACCOUNTS = ("DB_USER", "DB_PASSWORD_SECRET", "DB_MIGRATE_PASSWORD_SECRET")


def load() -> dict[str, str]:
    """The recorded variables ({} before the first deploy)."""
    try:
        return json.loads(STATE.read_text())
    except FileNotFoundError:
        return {}


def save(variables: dict[str, str]) -> None:
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(dict(sorted(variables.items())), indent=2) + "\n")


def apply(variables: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """`variables` with some set (or, with None, dropped)."""
    changed = dict(variables)
    for name, value in changes.items():
        if value is None:
            changed.pop(name, None)
        else:
            changed[name] = value
    return changed


def update(**changes: str | None) -> dict[str, str]:
    """Set (or, with None, drop) some recorded variables; the recorded ones after."""
    variables = apply(load(), changes)
    save(variables)
    return variables


def forget_database() -> None:
    """The database volumes were removed: the next deploy initialises them
    with the first passwords and the default account."""
    update(**dict.fromkeys(DATABASE_ACCOUNTS))


def stack_files(variables: dict[str, str]) -> list[str]:
    """The stack files a deploy with these variables needs."""
    return [
        "stack.yml",
        *([ROTATION_FILE] if variables.get(FALLBACK_KEY) else []),
        *([MONITORING_FILE] if variables.get(MONITORING_KEY) else []),
    ]
