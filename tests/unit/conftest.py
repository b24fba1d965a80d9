"""Unit tier: the Flask test client on the embedded SQLite default."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bootservice import create_app, db
from bootservice.config import load_config

from helpers import form_login


@pytest.fixture
def app_env(tmp_path) -> dict[str, str]:
    """The environment the app is built from; tests may change it first."""
    return {
        "SQLITE_PATH": str(tmp_path / "citydb.sqlite3"),
        "SECRET_KEY": "unit-test-key-" + "k" * 20,
        "APP_VERSION": "1.0",
    }


@pytest.fixture
def app(app_env) -> Iterator[Flask]:
    """A fresh app with a freshly seeded SQLite database."""
    application = create_app(load_config(app_env))
    yield application
    application.extensions["db_engine"].dispose()


@pytest.fixture
def client(app) -> FlaskClient:
    """A test client of `app`."""
    return app.test_client()


@pytest.fixture
def rows(app):
    """Run a SELECT on the app's database and return the rows."""

    def query(sql: str, **params):
        from sqlalchemy import text

        with app.app_context(), db.engine().connect() as conn:
            return conn.execute(text(sql), params).all()

    return query


@pytest.fixture
def logged_in(client) -> FlaskClient:
    """`client` after logging in through the login form as DEMO_USER."""
    assert form_login(client).status_code == 302
    return client
