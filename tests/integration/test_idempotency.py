"""`Idempotency-Key` on the API's POSTs, on MariaDB under gunicorn with several workers.

Concurrent requests land on different worker processes, so what keeps a
write from being applied twice is the database, as across replicas.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from dws.harness import Gunicorn

from helpers import basic_auth

# The expiry test's TTL: short, so that it waits seconds, not a day. Every
# other test runs with the default (a day), so a slow machine cannot make a
# stored response expire between a request and its repeat.
TTL_S = 3


def _start(mariadb, tmp_path_factory, ttl: int | None) -> Gunicorn:
    """bootservice with 4 workers and, when given, its own IDEMPOTENCY_TTL."""
    tmp = tmp_path_factory.mktemp("idempotency")
    key = tmp / "secret_key"
    key.write_text("idempotency-" + "k" * 40)
    env = {**mariadb.app_env(), "SECRET_KEY_FILE": str(key), "READ_CACHE_TTL": "0"}
    if ttl is not None:
        env["IDEMPOTENCY_TTL"] = str(ttl)
    server = Gunicorn(env, tmp / "gunicorn.log", workers=4)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def service(mariadb, tmp_path_factory) -> Iterator[Gunicorn]:
    """bootservice with the default IDEMPOTENCY_TTL and 4 workers."""
    server = _start(mariadb, tmp_path_factory, None)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def short_ttl_service(mariadb, tmp_path_factory) -> Iterator[Gunicorn]:
    """bootservice with IDEMPOTENCY_TTL of TTL_S seconds and 4 workers."""
    server = _start(mariadb, tmp_path_factory, TTL_S)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def url(service, citydb) -> str:
    return f"{service.url}/api/v1"


@pytest.fixture
def short_ttl_url(short_ttl_service, citydb) -> str:
    return f"{short_ttl_service.url}/api/v1"


def _post(url: str, resource: str, body: dict, key: str | None, auth: dict) -> requests.Response:
    headers = dict(auth)
    if key is not None:
        headers["Idempotency-Key"] = key
    return requests.post(f"{url}/{resource}", json=body, headers=headers, timeout=30)


def _country_rows(citydb, name: str) -> int:
    return citydb.query("SELECT COUNT(*) FROM country WHERE countryname = %s", name)[0][0]


def _fresh() -> str:
    return f'"{uuid.uuid4()}"'


def test_repeat_returns_the_stored_response_and_inserts_nothing(url, citydb, auth_header):
    key = _fresh()
    body = {"countryname": "Atlantis", "countrycode": "AT"}
    first = _post(url, "countries", body, key, auth_header)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = [_post(url, "countries", body, key, auth_header) for _ in range(3)]
    for resp in again:
        assert resp.status_code == 201
        assert resp.json() == first.json()
        assert resp.headers["Location"] == first.headers["Location"]
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.headers["Idempotent-Replayed"] == "true"
    assert _country_rows(citydb, "Atlantis") == 1
    # The stored Location points at the one row.
    got = requests.get(f"{url}/countries/{first.json()['id']}", timeout=10).json()
    assert got == {"id": first.json()["id"], "countryname": "Atlantis", "countrycode": "AT"}


def test_repeat_of_a_user_is_not_a_username_conflict(url, citydb, auth_header):
    key = _fresh()
    body = {"username": "idem-user", "password": "s3cret-pass", "realname": "Idem"}
    first = _post(url, "users", body, key, auth_header)
    second = _post(url, "users", body, key, auth_header)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and "password" not in second.json()
    # Without the key the same body is a new request: the username is taken.
    assert _post(url, "users", body, None, auth_header).status_code == 409
    assert citydb.query("SELECT COUNT(*) FROM user_info WHERE username = 'idem-user'")[0][0] == 1


def test_same_key_other_body_or_path_is_422(url, citydb, auth_header):
    key = _fresh()
    mu = {"countryname": "Mu", "countrycode": "MU"}
    assert _post(url, "countries", mu, key, auth_header).status_code == 201
    lemuria = {"countryname": "Lemuria", "countrycode": "LM"}
    other = _post(url, "countries", lemuria, key, auth_header)
    assert other.status_code == 422
    assert other.json()["error"] == "Idempotency-Key reused"
    elsewhere = _post(url, "cities", {"name": "Mu", "state": "MU"}, key, auth_header)
    assert elsewhere.status_code == 422
    assert _country_rows(citydb, "Lemuria") == 0
    assert citydb.query("SELECT COUNT(*) FROM city WHERE name = 'Mu'")[0][0] == 0


def test_keys_belong_to_their_user(url, citydb, auth_header):
    second_user = {"username": "idem-other", "password": "other-pass-1", "realname": "Other"}
    assert _post(url, "users", second_user, None, auth_header).status_code == 201
    other_auth = basic_auth("idem-other", "other-pass-1")
    key = _fresh()
    body = {"countryname": "Hy-Brasil", "countrycode": "HB"}
    mine = _post(url, "countries", body, key, auth_header)
    theirs = _post(url, "countries", body, key, other_auth)
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert _country_rows(citydb, "Hy-Brasil") == 2


def test_concurrent_first_requests_apply_once_and_the_rest_get_409(url, citydb, auth_header):
    """Six copies of one POST at once: one runs, the others are told it is running."""
    key = _fresh()
    body = {"countryname": "Thule", "countrycode": "TH"}
    results: list[requests.Response] = []
    errors: list[BaseException] = []
    lock = citydb.connect()
    try:
        # The table lock holds the winner inside its INSERT, after its claim:
        # a real slow request, no test hook in the service.
        with lock.cursor() as cur:
            cur.execute("LOCK TABLES country WRITE")

        def send() -> None:
            try:
                results.append(_post(url, "countries", body, key, auth_header))
            except requests.RequestException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=send) for _ in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        # While the winner waits, every copy that came later has its answer.
        assert len(results) == 5 and not errors
        for resp in results:
            assert resp.status_code == 409
            assert resp.json()["error"] == "request in progress"
        with lock.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        for thread in threads:
            thread.join(30)
    finally:
        lock.close()
    assert not errors
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409, 409, 409, 409, 409]
    winner = next(r for r in results if r.status_code == 201)
    # Once it finished, a repeat is its stored answer.
    again = _post(url, "countries", body, key, auth_header)
    assert again.status_code == 201 and again.json() == winner.json()
    assert _country_rows(citydb, "Thule") == 1


def test_key_expires_after_the_ttl_and_expired_rows_are_deleted(short_ttl_url, citydb, auth_header):
    url = short_ttl_url
    key = _fresh()
    body = {"countryname": "Avalon", "countrycode": "AV"}
    first = _post(url, "countries", body, key, auth_header)
    assert first.status_code == 201
    stored = citydb.query("SELECT COUNT(*) FROM idempotency_key WHERE status = 201")[0][0]
    assert stored >= 1
    time.sleep(TTL_S * 2 + 0.5)
    # Past the TTL the key is new again: the same POST creates a second row.
    later = _post(url, "countries", body, key, auth_header)
    assert later.status_code == 201 and "Idempotent-Replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]
    assert _country_rows(citydb, "Avalon") == 2
    # Any keyed request deletes what expired (here: everything but `later`'s
    # key), with the app user's DELETE right only.
    _post(url, "countries", {"countryname": "Lyonesse", "countrycode": "LY"}, _fresh(), auth_header)
    expired = citydb.query(
        "SELECT COUNT(*) FROM idempotency_key WHERE expires_at <= UTC_TIMESTAMP()"
    )
    assert expired == ((0,),)


def test_refused_request_stores_nothing_and_its_repeat_runs_again(url, citydb, auth_header):
    key = _fresh()
    bad = {"countryname": "", "countrycode": "XX"}
    assert _post(url, "countries", bad, key, auth_header).status_code == 400
    repeat = _post(url, "countries", bad, key, auth_header)
    assert repeat.status_code == 400 and repeat.json()["error"] == "invalid field"
    assert citydb.query("SELECT COUNT(*) FROM idempotency_key WHERE owner IS NOT NULL") == ((0,),)


@pytest.mark.parametrize(
    ("key", "detail"),
    [
        ("k" * 256, "longer than 255"),
        ('""', "empty"),
        ("abc def", "visible ASCII"),
        ("clé-1", "visible ASCII"),
    ],
)
def test_bad_keys_are_a_400_in_json(url, citydb, auth_header, key, detail):
    headers = {**auth_header, "Idempotency-Key": key}
    resp = requests.post(
        f"{url}/countries",
        data=b'{"countryname": "Bad", "countrycode": "BD"}',
        headers={**headers, "Content-Type": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid Idempotency-Key"
    assert detail in resp.json()["detail"]
    assert _country_rows(citydb, "Bad") == 0


def test_control_character_in_a_key_is_refused_by_gunicorn(url, citydb, auth_header):
    # gunicorn refuses the header field itself (its own 400 page) before the
    # app sees it; the app's JSON answer to it is tested in the unit tier.
    headers = {**auth_header, "Idempotency-Key": "abc\x01def"}
    body = {"countryname": "Ctl", "countrycode": "CT"}
    resp = requests.post(f"{url}/countries", json=body, headers=headers, timeout=10)
    assert resp.status_code == 400
    assert _country_rows(citydb, "Ctl") == 0


def test_two_key_headers_are_a_400(url, citydb, auth_header):
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest("POST", f"{parts.path}/countries")
        for name, value in [
            *auth_header.items(),
            ("Content-Type", "application/json"),
            ("Idempotency-Key", '"one"'),
            ("Idempotency-Key", '"two"'),
        ]:
            conn.putheader(name, value)
        payload = b'{"countryname": "Twice", "countrycode": "TW"}'
        conn.putheader("Content-Length", str(len(payload)))
        conn.endheaders(payload)
        resp = conn.getresponse()
        assert resp.status == 400
        assert b"one Idempotency-Key" in resp.read()
    finally:
        conn.close()
    assert _country_rows(citydb, "Twice") == 0
