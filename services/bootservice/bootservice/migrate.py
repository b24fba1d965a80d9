"""Schema migrations (Alembic) and the deployment's first administrator.

`python -m bootservice.migrate` brings the configured database to the newest
revision and exits: the stack runs it as a one-shot task with an account
that may change the schema (the service's own account may not). With
`ADMIN_PASSWORD_FILE` it also makes sure the administrator `admin` exists
with that password, and disables every account that still has a password
published with the seed data (the demo users), so that no deployed stack
can be written to with a password from the repository.

A database created by services/mysql/citydb.sql alone (every release before
migrations, and the mysql image's first start) has the baseline tables and
no `alembic_version`: it is stamped as the baseline, then upgraded.
"""

from __future__ import annotations

import logging
import sys
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, select, update

from .config import ConfigError, load_config, read_secret_file
from .models import User
from .passwords import hash_password
from .seed import published_password_hashes

BASELINE = "0001"
ADMIN_USERNAME = "admin"
log = logging.getLogger(__name__)


def _alembic_config(conn: Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = conn
    return cfg


@cache
def head_revision() -> str:
    """The newest revision this code expects."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """The database's revision, None when it has no alembic_version."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the database to the head revision; returns (before, after)."""
    with engine.begin() as conn:
        tables = set(inspect(conn).get_table_names())
        before = current_revision(conn)
        cfg = _alembic_config(conn)
        if before is None and "country" in tables:
            # Created by citydb.sql: the baseline schema, never migrated.
            command.stamp(cfg, BASELINE)
            before = BASELINE
        command.upgrade(cfg, "head")
    return before, head_revision()


def secure_accounts(engine: Engine, admin_password: str) -> list[str]:
    """Create `admin` with `admin_password` unless it exists, then disable
    every account whose stored hash is one the seed data published.

    Returns what it did, one line each. An existing `admin` keeps its
    password: it may have been changed through the service since.
    """
    done = []
    with engine.begin() as conn:
        exists = conn.scalar(select(User.id).where(User.username == ADMIN_USERNAME))
        if exists is None:
            conn.execute(
                User.__table__.insert().values(
                    username=ADMIN_USERNAME,
                    password=hash_password(admin_password),
                    usertype="1",
                    enabled=1,
                )
            )
            done.append(f"created the administrator {ADMIN_USERNAME!r}")
        demo = conn.scalars(
            select(User.username).where(
                User.password.in_(published_password_hashes()), User.username != ADMIN_USERNAME
            )
        ).all()
        if demo:
            # "!" is no hash: no password can ever match it.
            conn.execute(
                update(User).where(User.username.in_(demo)).values(enabled=0, password="!")
            )
            done.append(f"disabled the accounts with published passwords: {', '.join(demo)}")
    return done


def main(argv: list[str] | None = None) -> int:
    """Upgrade the configured database; exit 0 when it is at the head."""
    logging.basicConfig(level=logging.INFO, format="migrate: %(message)s")
    args = sys.argv[1:] if argv is None else argv
    if args:
        print(
            "usage: python -m bootservice.migrate (configured by the environment)", file=sys.stderr
        )
        return 2
    try:
        config = load_config()
        admin_password = read_secret_file("ADMIN_PASSWORD")
    except ConfigError as exc:
        print(f"bootservice.migrate: configuration error: {exc}", file=sys.stderr)
        return 2
    if admin_password is not None and len(admin_password) < 8:
        print(
            "bootservice.migrate: ADMIN_PASSWORD_FILE holds fewer than 8 characters",
            file=sys.stderr,
        )
        return 2
    from sqlalchemy.exc import SQLAlchemyError

    from .engine import make_engine

    engine = make_engine(config)
    try:
        before, after = upgrade(engine)
        log.info("schema %s -> %s", before or "empty", after)
        if admin_password is not None:
            for line in secure_accounts(engine, admin_password):
                log.info("%s", line)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:300]
        print(f"bootservice.migrate: database error: {reason}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
