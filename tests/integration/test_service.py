"""bootservice under gunicorn on a real MariaDB: what a client and the rows show."""

from __future__ import annotations

import pytest
import requests

from cases import BAD_INPUT, Case
from helpers import DEMO_ORDINARY, DEMO_USER, basic_auth, form_login

COUNTS = (
    "SELECT (SELECT COUNT(*) FROM country), (SELECT COUNT(*) FROM city), "
    "(SELECT COUNT(*) FROM user_info), (SELECT SUM(CRC32(CONCAT(username, password, enabled))) "
    "FROM user_info), (SELECT SUM(CRC32(CONCAT(countryname, countrycode))) FROM country)"
)


@pytest.mark.parametrize("case", BAD_INPUT, ids=lambda c: c.name)
def test_bad_input_refused_and_nothing_written(base_url, citydb, case: Case):
    before = citydb.query(COUNTS)
    resp = requests.request(
        case.method, base_url + case.path, data=case.body, headers=case.headers, timeout=10
    )
    assert resp.status_code == case.status, resp.text
    body = resp.json()
    assert set(body) == {"error", "detail"} and case.error in body["error"]
    assert citydb.query(COUNTS) == before


def test_country_crud_visible_in_rows(base_url, citydb, auth_header):
    resp = requests.post(
        f"{base_url}/api/v1/countries",
        headers=auth_header,
        timeout=10,
        json={"countryname": "Atlantis 🌊", "countrycode": "ATL"},
    )
    assert resp.status_code == 201
    created = resp.json()
    assert resp.headers["Location"] == f"/api/v1/countries/{created['id']}"
    assert citydb.query(
        "SELECT countryname, countrycode FROM country WHERE id = %s", created["id"]
    ) == (("Atlantis 🌊", "ATL"),)

    resp = requests.put(
        f"{base_url}/api/v1/countries/{created['id']}",
        headers=auth_header,
        json={"countryname": "Lemuria", "countrycode": "LM"},
        timeout=10,
    )
    assert resp.status_code == 200 and resp.json()["countryname"] == "Lemuria"
    assert citydb.query("SELECT countryname FROM country WHERE id = %s", created["id"]) == (
        ("Lemuria",),
    )

    resp = requests.delete(
        f"{base_url}/api/v1/countries/{created['id']}", headers=auth_header, timeout=10
    )
    assert resp.status_code == 204
    assert citydb.query("SELECT COUNT(*) FROM country WHERE id = %s", created["id"]) == ((0,),)


def test_search_case_insensitive_on_mariadb(base_url):
    body = requests.get(
        f"{base_url}/api/v1/countries", params={"countryname": "UNITED"}, timeout=10
    ).json()
    assert [c["countryname"] for c in body["list"]] == [
        "United Arab Emirates",
        "United Kiongdom",
        "United States of America",
    ]
    body = requests.get(
        f"{base_url}/api/v1/countries", params={"countryname": "100%"}, timeout=10
    ).json()
    assert body["total"] == 0


def test_user_password_hashed_in_mariadb(base_url, citydb, auth_header):
    resp = requests.post(
        f"{base_url}/api/v1/users",
        headers=auth_header,
        timeout=10,
        json={"username": "bob", "password": "correct horse", "tel": "110"},
    )
    assert resp.status_code == 201 and "password" not in resp.json()
    (stored,) = citydb.query("SELECT password FROM user_info WHERE username = 'bob'")[0]
    assert stored.startswith("scrypt:") and "correct horse" not in stored
    resp = requests.post(
        f"{base_url}/api/v1/cities",
        json={"name": "保定", "state": "河北"},
        headers=basic_auth("bob", "correct horse"),
        timeout=10,
    )
    assert resp.status_code == 201
    resp = requests.post(
        f"{base_url}/api/v1/users",
        headers=auth_header,
        timeout=10,
        json={"username": "bob", "password": "again-and-again"},
    )
    assert resp.status_code == 409 and resp.json()["detail"] == {
        "username": "'bob' is already taken"
    }


def test_legacy_read_paths(base_url):
    cities = requests.get(f"{base_url}/cities", timeout=10).json()
    assert cities["total"] == 2 and cities["list"][0]["name"] == "石家庄"
    assert requests.get(f"{base_url}/cities/view/2", timeout=10).json()["name"] == "邯郸"
    users = requests.get(f"{base_url}/users?rows=3", timeout=10).json()
    assert users["pages"] == 2 and all("password" not in u for u in users["list"])
    assert requests.get(f"{base_url}/users/view/5", timeout=10).json()["username"] == "test5"


def test_pages_and_headers(base_url, gunicorn):
    resp = requests.get(f"{base_url}/countries?page=19", timeout=10)
    assert resp.status_code == 200 and "<title>国家(地区)列表</title>" in resp.text
    assert 'id="total">183<' in resp.text and "Zambia" in resp.text
    assert resp.headers["X-App-Version"] == "1.0" and resp.headers["X-Served-By"]
    ready = requests.get(f"{base_url}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


def test_login_session_shared_by_workers(base_url, citydb):
    # Two workers share SECRET_KEY_FILE, so a login holds on whichever answers.
    session = requests.Session()
    assert form_login(session, base_url).status_code == 302
    for _ in range(6):
        assert 'id="logout"' in session.get(f"{base_url}/countries", timeout=10).text
    session.close()


def test_access_log_line_per_request(base_url, gunicorn):
    requests.get(f"{base_url}/api/v1/countries/7?probe=accesslog", timeout=10)
    lines = [line for line in gunicorn.output().splitlines() if "probe=accesslog" in line]
    assert len(lines) == 1
    line = lines[0]
    assert '"GET /api/v1/countries/7?probe=accesslog HTTP/1.1" 200' in line
    assert "instance=" in line and "ms" in line and "version=1.0" in line


def test_roles_on_mariadb(base_url, citydb):
    admin, ordinary = basic_auth(*DEMO_USER), basic_auth(*DEMO_ORDINARY)
    users = f"{base_url}/api/v1/users"
    refused = requests.post(
        users, json={"username": "x1", "password": "pass-word"}, headers=ordinary, timeout=10
    )
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    own = requests.put(
        f"{users}/2",
        json={"username": "test2", "enabled": 1, "usertype": "1"},
        headers=ordinary,
        timeout=10,
    )
    assert own.status_code == 403
    for uid, change in ((3, {"enabled": 0}), (5, {"enabled": 0})):
        body = {"username": f"test{uid}", **change}
        assert requests.put(f"{users}/{uid}", json=body, headers=admin, timeout=10).ok
    last = requests.delete(f"{users}/1", headers=admin, timeout=10)
    assert last.status_code == 409 and "last enabled administrator" in last.json()["detail"]
    assert citydb.query("SELECT username FROM user_info WHERE usertype = '1' AND enabled = 1") == (
        ("test1",),
    )
    assert set(requests.get(f"{users}/1", timeout=10).json()) == {
        "id",
        "username",
        "usertype",
        "enabled",
    }
    assert "email" in requests.get(f"{users}/1", headers=admin, timeout=10).json()


def test_head_and_options_on_gunicorn(base_url, citydb):
    resp = requests.head(
        f"{base_url}/api/v1/countries",
        data=b'{"countryname": "H", "countrycode": "H"}',
        headers={**basic_auth(*DEMO_USER), "Content-Type": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 200 and resp.content == b""
    assert citydb.query("SELECT COUNT(*) FROM country") == ((183,),)
    options = requests.options(f"{base_url}/api/v1/countries/1", timeout=10)
    assert "DELETE" in options.headers["Allow"]
    patch = requests.patch(f"{base_url}/api/v1/countries/1", timeout=10)
    assert patch.status_code == 405 and "PUT" in patch.headers["Allow"]
