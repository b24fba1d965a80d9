"""Every bad request gets a clear 4xx JSON answer and writes nothing."""

from __future__ import annotations

import pytest

from cases import BAD_INPUT, Case

COUNTS = (
    "SELECT (SELECT COUNT(*) FROM country), (SELECT COUNT(*) FROM city), "
    "(SELECT COUNT(*) FROM user_info), (SELECT GROUP_CONCAT(username || password) FROM user_info)"
)


@pytest.mark.parametrize("case", BAD_INPUT, ids=lambda c: c.name)
def test_refused_with_clear_json(client, rows, case: Case):
    before = rows(COUNTS)
    resp = client.open(case.path, method=case.method, data=case.body, headers=case.headers)
    assert resp.status_code == case.status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"error", "detail"}
    assert case.error in body["error"]
    assert rows(COUNTS) == before


def test_country_1_untouched_by_refused_writes(client, rows):
    aimed = [c for c in BAD_INPUT if c.method != "GET" and c.path == "/api/v1/countries/1"]
    assert len(aimed) >= 3
    for case in aimed:
        resp = client.open(case.path, method=case.method, data=case.body, headers=case.headers)
        assert resp.status_code == case.status, case.name
    assert rows("SELECT id, countryname, countrycode FROM country WHERE id = 1") == [
        (1, "Angola", "AO")
    ]
    assert client.get("/api/v1/countries/1").get_json() == {
        "id": 1,
        "countryname": "Angola",
        "countrycode": "AO",
    }


def test_401_asks_for_basic(client):
    resp = client.post("/api/v1/countries", json={"countryname": "X", "countrycode": "X"})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_sql_injection_is_just_a_search_string(client, rows):
    resp = client.get("/api/v1/countries", query_string={"countryname": "' OR 1=1 --"})
    assert resp.status_code == 200
    assert resp.get_json()["total"] == 0
    resp = client.get(
        "/api/v1/countries", query_string={"countryname": "a'; DROP TABLE country; --"}
    )
    assert resp.status_code == 200
    assert rows("SELECT COUNT(*) FROM country")[0][0] == 183


def test_like_wildcards_are_literal(client):
    assert client.get("/api/v1/countries?countryname=%25").get_json()["total"] == 0
    assert client.get("/api/v1/countries?countryname=_").get_json()["total"] == 0


def test_unusual_unicode_is_searchable_and_storable(client, auth_header):
    name = "Ωmega 🌍 العربية e\u0301"
    resp = client.post(
        "/api/v1/countries", json={"countryname": name, "countrycode": "ΩΩ"}, headers=auth_header
    )
    assert resp.status_code == 201
    found = client.get("/api/v1/countries", query_string={"countryname": "🌍"}).get_json()
    assert [c["countryname"] for c in found["list"]] == [name]


def test_html_page_shows_bad_input_message(client):
    resp = client.get("/countries?page=abc")
    assert resp.status_code == 400
    assert resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "invalid page" in page and "page must be a positive integer" in page


def test_unknown_page_is_html_404(logged_in):
    resp = logged_in.get("/countries/999999/edit")
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    assert "no country with id 999999" in resp.get_data(as_text=True)


def test_unknown_page_sends_anonymous_visitors_to_login_first(client):
    # Nothing about the row is revealed before a login.
    resp = client.get("/countries/999999/edit")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=")


def test_get_never_deletes(client, rows):
    # The original's GET /countries/delete/{id} is gone.
    resp = client.get("/countries/delete/1")
    assert resp.status_code == 405 and "deletes are a POST" in resp.get_data(as_text=True)
    assert client.get("/countries/1/delete").status_code == 405
    assert client.get("/cities/delete/1").status_code == 404
    assert rows("SELECT COUNT(*) FROM country WHERE id = 1")[0][0] == 1


def test_unknown_path_is_a_page_for_browsers_and_json_for_clients(client):
    page = client.get("/nowhere", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "返回国家列表" in page.get_data(as_text=True)
    assert client.get("/nowhere").get_json()["error"] == "not found"
    api = client.get("/api/v1/nowhere", headers={"Accept": "text/html"})
    assert api.get_json()["error"] == "not found"
