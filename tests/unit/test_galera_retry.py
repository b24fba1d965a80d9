"""When bootservice runs a request again after a database error (galera.py).

The errors are PyMySQL's own exception types with the server's error codes;
the real certification conflict is in tests/integration/test_galera.py.
"""

from __future__ import annotations

import pymysql
import pytest
from flask import Flask
from sqlalchemy.exc import OperationalError

from bootservice import db, galera


def _error(code: int) -> OperationalError:
    return OperationalError("COMMIT", {}, pymysql.err.OperationalError(code, "boom"))


@pytest.fixture
def runs(app: Flask) -> dict[str, list]:
    """A fresh app whose extra endpoint fails with the queued errors, in order."""
    calls: dict[str, list] = {"errors": [], "count": [0], "commit_first": [False]}

    def flaky():
        calls["count"][0] += 1
        if calls["commit_first"][0]:
            db.session().commit()
        if calls["errors"]:
            raise calls["errors"].pop(0)
        return {"ok": True}

    app.add_url_rule("/flaky", "flaky", galera._retrying(flaky), methods=["GET", "POST"])
    return calls


def test_a_certification_conflict_runs_the_request_again(client, runs):
    runs["errors"][:] = [_error(galera.DEADLOCK)]
    resp = client.post("/flaky")
    assert resp.status_code == 200
    assert resp.headers["X-DB-Retries"] == "1"
    assert runs["count"][0] == 2


def test_retries_are_bounded(client, runs):
    runs["errors"][:] = [_error(galera.DEADLOCK)] * 5
    resp = client.post("/flaky")
    assert resp.status_code == 503
    assert runs["count"][0] == galera.ATTEMPTS


def test_a_lost_connection_reruns_a_read_but_not_a_write(client, runs):
    runs["errors"][:] = [_error(2013)]
    assert client.get("/flaky").status_code == 200
    assert runs["count"][0] == 2
    runs["errors"][:] = [_error(2013)]
    assert client.post("/flaky").status_code == 503  # it may have been applied
    assert runs["count"][0] == 3


def test_nothing_runs_again_once_the_request_committed(client, runs):
    runs["commit_first"][0] = True
    runs["errors"][:] = [_error(galera.DEADLOCK)]
    assert client.post("/flaky").status_code == 503
    assert runs["count"][0] == 1


def test_other_database_errors_are_not_retried(client, runs):
    runs["errors"][:] = [_error(1146)]  # no such table
    assert client.get("/flaky").status_code in (500, 503)
    assert runs["count"][0] == 1
