"""`python -m bootservice.migrate` on the embedded SQLite: clear failures,
the head revision, and no published password left usable."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

from werkzeug.security import check_password_hash

from bootservice.migrate import head_revision


def _migrate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "bootservice.migrate", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_new_database_gets_the_head_and_an_admin(tmp_path):
    db = tmp_path / "new.sqlite3"
    secret = tmp_path / "admin"
    secret.write_text("admin-password\n")
    done = _migrate({"DATABASE_URL": f"sqlite:///{db}", "ADMIN_PASSWORD_FILE": str(secret)})
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (head_revision(),)
        ]
        ((password, usertype),) = conn.execute(
            "SELECT password, usertype FROM user_info WHERE username = 'admin'"
        ).fetchall()
    conn.close()
    assert usertype == "1" and check_password_hash(password, "admin-password")


def test_embedded_default_keeps_the_demo_users(app, rows):
    # The development default has the demo users with their passwords.
    assert rows(
        "SELECT COUNT(*) FROM user_info WHERE enabled = 1 AND password LIKE 'scrypt:%'"
    ) == [(5,)]
    assert rows("SELECT version_num FROM alembic_version") == [(head_revision(),)]


def test_bad_usage_and_short_admin_password(tmp_path):
    url = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"}
    extra = _migrate(url, "now")
    assert extra.returncode == 2 and extra.stderr.startswith("usage:")
    short = tmp_path / "short"
    short.write_text("1234567")
    done = _migrate({**url, "ADMIN_PASSWORD_FILE": str(short)})
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "bootservice.migrate: ADMIN_PASSWORD_FILE holds fewer than 8 characters"
    )
    missing = _migrate({**url, "ADMIN_PASSWORD_FILE": str(tmp_path / "nope")})
    assert missing.returncode == 2 and "ADMIN_PASSWORD_FILE: cannot read" in missing.stderr


def test_unreachable_database_is_one_line(tmp_path):
    done = _migrate(
        {"DB_HOST": "127.0.0.1", "DB_PORT": "1", "DB_USER": "x", "DB_CONNECT_TIMEOUT": "1"}
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "database error" in done.stderr
