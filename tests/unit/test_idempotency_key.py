"""Idempotency-Key on the embedded SQLite default (the Flask test client).

The full semantics, concurrency and expiry run on MariaDB under gunicorn in
tests/integration/test_idempotency.py.
"""

from __future__ import annotations

import pytest

BODY = {"countryname": "Atlantis", "countrycode": "AT"}


def _post(client, auth_header, key: str, body=BODY):
    return client.post(
        "/api/v1/countries", json=body, headers={**auth_header, "Idempotency-Key": key}
    )


def test_repeat_is_replayed_on_sqlite(client, auth_header, rows):
    first = _post(client, auth_header, '"k-1"')
    again = _post(client, auth_header, "k-1")  # bare and quoted forms are the same key
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert rows("SELECT COUNT(*) FROM country WHERE countryname = 'Atlantis'") == [(1,)]
    other = _post(client, auth_header, "k-1", {"countryname": "Mu", "countrycode": "MU"})
    assert other.status_code == 422 and other.get_json()["error"] == "Idempotency-Key reused"


@pytest.mark.parametrize("key", ["abc\x01def", "tab\there", "a,b", "k" * 256, '""', "clé"])
def test_bad_key_is_a_json_400(client, auth_header, rows, key):
    resp = _post(client, auth_header, key)
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "invalid Idempotency-Key"
    assert rows("SELECT COUNT(*) FROM country WHERE countryname = 'Atlantis'") == [(0,)]


def test_key_needs_credentials_first(client):
    resp = client.post("/api/v1/countries", json=BODY, headers={"Idempotency-Key": "k"})
    assert resp.status_code == 401


def test_key_is_ignored_where_requests_are_idempotent(client, auth_header):
    # PUT and DELETE are idempotent by themselves; the header changes nothing.
    headers = {**auth_header, "Idempotency-Key": "k-put"}
    body = {"countryname": "Angola", "countrycode": "AO"}
    assert client.put("/api/v1/countries/1", json=body, headers=headers).status_code == 200
    assert client.put("/api/v1/countries/1", json=body, headers=headers).status_code == 200
