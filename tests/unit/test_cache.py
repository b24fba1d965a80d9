"""The per-process read cache: local writes show at once, others within the TTL."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from bootservice import create_app, db
from bootservice.config import ConfigError, load_config

from helpers import DEMO_USER, form_login


def _write_behind_the_app(app, sql: str) -> None:
    # Another replica's write: straight to the database, no commit event here.
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(text(sql))


def test_own_writes_are_visible_immediately(client, auth_header):
    assert client.get("/api/v1/countries/3").get_json()["countryname"] == "Albania"
    client.put(
        "/api/v1/countries/3",
        json={"countryname": "Shqipëria", "countrycode": "AL"},
        headers=auth_header,
    )
    assert client.get("/api/v1/countries/3").get_json()["countryname"] == "Shqipëria"
    client.delete("/api/v1/countries/3", headers=auth_header)
    assert client.get("/api/v1/countries/3").status_code == 404
    assert client.get("/api/v1/countries").get_json()["total"] == 182


def test_other_writes_visible_within_ttl(app, client):
    assert client.get("/api/v1/countries/4").get_json()["countryname"] == "Algeria"
    assert "Algeria" in client.get("/countries").get_data(as_text=True)
    _write_behind_the_app(app, "UPDATE country SET countryname = 'Al-Jazair' WHERE id = 4")
    time.sleep(app.extensions["dws_config"].read_cache_ttl + 0.05)
    assert client.get("/api/v1/countries/4").get_json()["countryname"] == "Al-Jazair"
    assert "Al-Jazair" in client.get("/countries").get_data(as_text=True)
    assert client.get("/api/v1/countries?rows=5").get_json()["list"][3]["countryname"] == (
        "Al-Jazair"
    )


def test_cache_serves_from_memory_within_ttl(app, client):
    # Proof that the copy is used at all: a change behind the app's back is
    # not seen until the TTL passes.
    client.get("/api/v1/countries/6")
    _write_behind_the_app(app, "UPDATE country SET countryname = 'Changed' WHERE id = 6")
    assert client.get("/api/v1/countries/6").get_json()["countryname"] == "Anguilla"


def test_ttl_zero_reads_the_database_every_time(app_env):
    app = create_app(load_config({**app_env, "READ_CACHE_TTL": "0"}))
    try:
        client = app.test_client()
        client.get("/api/v1/countries/6")
        _write_behind_the_app(app, "UPDATE country SET countryname = 'Changed' WHERE id = 6")
        assert client.get("/api/v1/countries/6").get_json()["countryname"] == "Changed"
    finally:
        app.extensions["db_engine"].dispose()


def test_logged_in_visitor_never_gets_the_anonymous_copy(app, client):
    anonymous = app.test_client()
    assert 'id="login-link"' in anonymous.get("/countries").get_data(as_text=True)
    assert form_login(client).status_code == 302
    html = client.get("/countries").get_data(as_text=True)
    # The logged-in page: the user's name, log out, edit controls; none of
    # the anonymous copy's login link.
    assert 'id="logout"' in html and 'id="login-link"' not in html
    assert f'id="username">{DEMO_USER[0]}<' in html and 'class="delete"' in html


@pytest.mark.parametrize("value", ["abc", "-1", "2"])
def test_bad_ttl_is_named(value):
    with pytest.raises(ConfigError, match="^READ_CACHE_TTL"):
        load_config({"READ_CACHE_TTL": value})
