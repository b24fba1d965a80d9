"""Configuration from the environment: defaults, secrets from files, clear errors."""

from __future__ import annotations

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
