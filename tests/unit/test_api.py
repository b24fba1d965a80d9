"""The JSON API: shapes, paging, search and writes as a client sees them."""

from __future__ import annotations

from werkzeug.security import check_password_hash

PAGE_KEYS = {"pageNum", "pageSize", "total", "pages", "hasPreviousPage", "hasNextPage", "list"}


def test_list_defaults_to_first_page_of_ten(client):
    body = client.get("/api/v1/countries").get_json()
    assert PAGE_KEYS <= set(body)
    assert (body["pageNum"], body["pageSize"], body["total"], body["pages"]) == (1, 10, 183, 19)
    assert body["hasPreviousPage"] is False and body["hasNextPage"] is True
    assert body["list"][0] == {"id": 1, "countryname": "Angola", "countrycode": "AO"}
    assert [c["id"] for c in body["list"]] == list(range(1, 11))


def test_last_and_beyond_last_page(client):
    last = client.get("/api/v1/countries?page=19&rows=10").get_json()
    assert [c["id"] for c in last["list"]] == [181, 182, 183]
    assert last["hasNextPage"] is False and last["isLastPage"] is True
    beyond = client.get("/api/v1/countries?page=50").get_json()
    assert beyond["list"] == [] and beyond["total"] == 183


def test_rows_capped_at_100(client):
    # 183 rows exist: 100 is served in full, 101 is refused rather than cut.
    assert len(client.get("/api/v1/countries?rows=100").get_json()["list"]) == 100
    resp = client.get("/api/v1/countries?rows=101")
    assert resp.status_code == 400
    assert resp.get_json()["detail"] == "rows must be between 1 and 100, got 101"


def test_search_by_name_is_case_insensitive_substring(client):
    body = client.get("/api/v1/countries?countryname=CHIN").get_json()
    assert {c["countryname"] for c in body["list"]} == {"China"}
    body = client.get("/api/v1/countries?countryname=land&rows=100").get_json()
    assert body["total"] == len(body["list"]) > 5
    assert all("land" in c["countryname"].lower() for c in body["list"])


def test_search_by_code(client):
    body = client.get("/api/v1/countries?countrycode=cn").get_json()
    assert [c["countrycode"] for c in body["list"]] == ["CN"]
    both = client.get("/api/v1/countries?countryname=a&countrycode=US").get_json()
    assert [c["countryname"] for c in both["list"]] == ["United States of America"]


def test_country_crud(client, auth_header, rows):
    resp = client.post(
        "/api/v1/countries",
        json={"countryname": "Atlantis", "countrycode": "AT1"},
        headers=auth_header,
    )
    assert resp.status_code == 201
    created = resp.get_json()
    assert resp.headers["Location"] == f"/api/v1/countries/{created['id']}"
    assert created == {"id": 184, "countryname": "Atlantis", "countrycode": "AT1"}
    assert rows("SELECT countryname FROM country WHERE id = 184") == [("Atlantis",)]

    resp = client.put(
        "/api/v1/countries/184",
        json={"countryname": "Lemuria", "countrycode": "LM"},
        headers=auth_header,
    )
    assert resp.status_code == 200
    assert resp.get_json() == {"id": 184, "countryname": "Lemuria", "countrycode": "LM"}
    assert client.get("/api/v1/countries/184").get_json()["countryname"] == "Lemuria"

    resp = client.delete("/api/v1/countries/184", headers=auth_header)
    assert resp.status_code == 204 and resp.data == b""
    assert client.get("/api/v1/countries/184").status_code == 404
    assert rows("SELECT COUNT(*) FROM country")[0][0] == 183


def test_city_crud_and_legacy_paths(client, auth_header):
    assert client.get("/cities").get_json()["list"] == [
        {"id": 1, "name": "石家庄", "state": "河北"},
        {"id": 2, "name": "邯郸", "state": "河北"},
    ]
    assert client.get("/cities/view/2").get_json()["name"] == "邯郸"
    resp = client.post("/api/v1/cities", json={"name": "保定"}, headers=auth_header)
    assert resp.status_code == 201 and resp.get_json() == {"id": 3, "name": "保定", "state": None}
    assert client.get("/cities/add").get_json() == {"id": None, "name": None, "state": None}


def test_users_never_show_passwords(client):
    for path in ("/users", "/api/v1/users", "/users/view/1", "/api/v1/users/1", "/users/add"):
        text = client.get(path).get_data(as_text=True)
        assert "password" not in text and "scrypt" not in text, path
    listing = client.get("/users").get_json()
    assert [u["username"] for u in listing["list"]] == [f"test{i}" for i in range(1, 6)]


def test_user_password_stored_hashed_and_usable(client, auth_header, rows):
    resp = client.post(
        "/api/v1/users",
        json={"username": "alice", "password": "s3cret-pass", "realname": "Alice", "qq": "12345"},
        headers=auth_header,
    )
    assert resp.status_code == 201
    user = resp.get_json()
    assert "password" not in user and user["enabled"] == 1
    stored = rows("SELECT password FROM user_info WHERE username = 'alice'")[0][0]
    assert stored != "s3cret-pass" and check_password_hash(stored, "s3cret-pass")
    # The new account can write; a PUT without password keeps the old one.
    alice = {
        "Authorization": auth_header["Authorization"].replace(
            auth_header["Authorization"].split()[1],
            __import__("base64").b64encode(b"alice:s3cret-pass").decode(),
        )
    }
    resp = client.put(
        f"/api/v1/users/{user['id']}",
        json={"username": "alice", "enabled": 1, "email": "a@example.org"},
        headers=alice,
    )
    assert resp.status_code == 200 and resp.get_json()["email"] == "a@example.org"
    assert rows("SELECT password FROM user_info WHERE username = 'alice'")[0][0] == stored


def test_disabled_user_cannot_write(client, auth_header):
    resp = client.put(
        "/api/v1/users/2", json={"username": "test2", "enabled": 0}, headers=auth_header
    )
    assert resp.status_code == 200
    from helpers import basic_auth

    resp = client.post(
        "/api/v1/countries",
        json={"countryname": "X", "countrycode": "X"},
        headers=basic_auth("test2", "aaaa"),
    )
    assert resp.status_code == 401


def test_every_response_names_version_and_instance(client):
    import socket

    for path in ("/healthz", "/api/v1/countries", "/countries", "/nope", "/api/v1/countries/x"):
        resp = client.get(path)
        assert resp.headers["X-App-Version"] == "1.0", path
        assert resp.headers["X-Served-By"] == socket.gethostname(), path


def test_health_endpoints(client):
    assert client.get("/healthz").get_json() == {"status": "ok", "version": "1.0"}
    assert client.get("/readyz").get_json() == {"status": "ready"}
