"""Configuration from the environment: defaults, secrets from files, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bootservice.config import ConfigError, load_config


def test_defaults_are_embedded_sqlite():
    config = load_config({})
    assert config.embedded and config.app_version == "1.0"
    assert config.secret_key_generated and len(config.secret_key) == 64


def test_mysql_from_parts_with_password_file(tmp_path):
    secret = tmp_path / "db_password"
    secret.write_text("s3cr3t\n")
    config = load_config(
        {
            "DB_HOST": "mysql",
            "DB_USER": "dws",
            "DB_PASSWORD_FILE": str(secret),
            "DB_PORT": "3307",
            "APP_VERSION": "2.0",
        }
    )
    url = config.database_url
    assert (url.drivername, url.host, url.port, url.database) == (
        "mysql+pymysql",
        "mysql",
        3307,
        "citydb",
    )
    assert url.username == "dws" and url.password == "s3cr3t"  # trailing newline stripped
    assert "s3cr3t" not in repr(config)
    assert config.major_version == "2"


def test_secret_key_file(tmp_path):
    key = tmp_path / "key"
    key.write_text("k" * 40 + "\n")
    config = load_config({"SECRET_KEY_FILE": str(key)})
    assert config.secret_key == "k" * 40 and not config.secret_key_generated


@pytest.mark.parametrize(
    "env,variable",
    [
        ({"DB_HOST": "db", "DB_USER": "u", "DB_PORT": "abc"}, "DB_PORT"),
        ({"DB_HOST": "db", "DB_USER": "u", "DB_PORT": "70000"}, "DB_PORT"),
        ({"DB_HOST": "db"}, "DB_USER"),
        ({"DB_HOST": "db host", "DB_USER": "u"}, "DB_HOST"),
        ({"DB_HOST": "db", "DB_USER": "u", "DB_NAME": "city;db"}, "DB_NAME"),
        (
            {"DB_HOST": "db", "DB_USER": "u", "DB_PASSWORD_FILE": "/nonexistent/pw"},
            "DB_PASSWORD_FILE",
        ),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://u@h/db"}, "DATABASE_URL"),
        ({"APP_VERSION": "latest"}, "APP_VERSION"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"DB_CONNECT_TIMEOUT": "0"}, "DB_CONNECT_TIMEOUT"),
    ],
)
def test_bad_variable_is_named(env, variable):
    with pytest.raises(ConfigError) as err:
        load_config(env)
    assert str(err.value).startswith(variable)


def test_empty_password_file_refused(tmp_path):
    empty = tmp_path / "pw"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="DB_PASSWORD_FILE: .* is empty"):
        load_config({"DB_HOST": "db", "DB_USER": "u", "DB_PASSWORD_FILE": str(empty)})


def _start(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a start command that must stop at once on its configuration."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "DATABASE_"))}
    return subprocess.run(
        command,
        env={**clean, "SECRET_KEY": "0123456789abcdef0123", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


GUNICORN = [
    str(Path(sys.executable).with_name("gunicorn")),
    "-c",
    "python:bootservice.gunicorn_conf",
]
SERVE = [sys.executable, "-m", "bootservice.serve"]


@pytest.mark.parametrize(
    "variable,value,message",
    [
        ("GUNICORN_THREADS", "abc", "GUNICORN_THREADS must be an integer, got 'abc'"),
        ("PORT", "0", "PORT must be between 1 and 65535, got 0"),
        ("GRACEFUL_TIMEOUT", "x", "GRACEFUL_TIMEOUT must be an integer, got 'x'"),
        ("SHUTDOWN_DELAY", "-1", "SHUTDOWN_DELAY must be between 0 and 600, got -1"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL must be one of debug, info, warning, error, critical"),
        ("APP_VERSION", "zz", "APP_VERSION must look like 1.0 or 2.0, got 'zz'"),
    ],
)
def test_real_gunicorn_names_a_bad_variable_in_one_line(tmp_path, variable, value, message):
    env = {"SQLITE_PATH": str(tmp_path / "x.sqlite3"), variable: value}
    for command in (GUNICORN, SERVE):
        done = _start(command, env)
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert done.stderr.startswith(f"bootservice: configuration error: {message}")


def test_the_launcher_checks_web_concurrency_before_gunicorn_parses_it(tmp_path):
    # gunicorn itself reads WEB_CONCURRENCY when imported, before any config.
    done = _start(SERVE, {"SQLITE_PATH": str(tmp_path / "x.sqlite3"), "WEB_CONCURRENCY": "abc"})
    assert (done.returncode, done.stderr) == (
        2,
        "bootservice: configuration error: WEB_CONCURRENCY must be an integer, got 'abc'\n",
    )


@pytest.mark.parametrize(
    "where,message",
    [
        ("missing/x.sqlite3", "SQLITE_PATH: folder {tmp}/missing does not exist"),
        ("file/x.sqlite3", "SQLITE_PATH: {tmp}/file is not a folder"),
        ("", "SQLITE_PATH: {tmp} is a folder, not a database file"),
    ],
)
def test_a_bad_sqlite_path_is_named_by_every_start(tmp_path, where, message):
    (tmp_path / "file").write_text("")
    env = {"SQLITE_PATH": str(tmp_path / where) if where else str(tmp_path)}
    expected = "bootservice: configuration error: " + message.format(tmp=tmp_path) + "\n"
    with pytest.raises(ConfigError, match="^SQLITE_PATH: "):
        load_config(env)
    for command in (GUNICORN, SERVE, [sys.executable, "-m", "bootservice", "--port", "1"]):
        done = _start(command, env)
        assert (done.returncode, done.stderr) == (2, expected), command
    assert not (tmp_path / "missing").exists()


def test_the_default_instance_folder_is_created(tmp_path):
    from bootservice.engine import make_engine

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        make_engine(load_config({})).dispose()
    finally:
        os.chdir(cwd)
    assert (tmp_path / "instance").is_dir()
