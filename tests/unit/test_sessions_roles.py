"""Page sessions that follow the account, and who may change what."""

from __future__ import annotations

import pytest

from helpers import DEMO_ADMIN2, DEMO_ORDINARY, DEMO_USER, basic_auth, csrf_of, form_login

ADMIN = basic_auth(*DEMO_USER)
ORDINARY = basic_auth(*DEMO_ORDINARY)
PRIVATE = {"realname", "qq", "email", "tel"}


def _session_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _logged_in_page(client) -> bool:
    return 'id="logout"' in client.get("/countries").get_data(as_text=True)


def test_cookie_copied_before_logout_is_dead_after(app, logged_in):
    copied = _session_cookie(logged_in)
    html = logged_in.get("/countries").get_data(as_text=True)
    assert logged_in.post("/logout", data={"csrf_token": csrf_of(html)}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert not _logged_in_page(thief)
    resp = thief.get("/countries/new")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")


def test_login_rotates_the_session(app, client, rows):
    form_login(client)
    first = _session_cookie(client)
    form_login(client)
    assert _session_cookie(client) != first
    old = app.test_client()
    old.set_cookie("session", first)
    assert not _logged_in_page(old)
    assert rows("SELECT COUNT(*) FROM web_session") == [(1,)]


@pytest.mark.parametrize(
    "change",
    [
        {"username": "test2", "enabled": 0},
        {"username": "test2", "enabled": 1, "password": "a-new-password"},
        {"username": "test2", "enabled": 1, "usertype": "1"},
    ],
    ids=["disabled", "password-changed", "usertype-changed"],
)
def test_changing_a_user_ends_their_sessions(app, change, rows):
    victim = app.test_client()
    assert form_login(victim, user=DEMO_ORDINARY).status_code == 302
    assert _logged_in_page(victim)
    admin = app.test_client()
    assert admin.put("/api/v1/users/2", json=change, headers=ADMIN).status_code == 200
    assert not _logged_in_page(victim)
    assert rows("SELECT COUNT(*) FROM web_session WHERE user_id = 2") == [(0,)]


def test_deleted_user_session_ends(app):
    victim = app.test_client()
    form_login(victim, user=DEMO_ORDINARY)
    assert app.test_client().delete("/api/v1/users/2", headers=ADMIN).status_code == 204
    assert not _logged_in_page(victim)


def test_session_has_an_absolute_lifetime(logged_in, app):
    assert _logged_in_page(logged_in)
    from sqlalchemy import text

    from bootservice import db

    with app.app_context(), db.engine().begin() as conn:
        conn.execute(text("UPDATE web_session SET expires_at = expires_at - 8 * 3600"))
    assert not _logged_in_page(logged_in)


def test_session_lifetime_is_eight_hours(logged_in, rows):
    (lifetime,) = rows("SELECT expires_at - created_at FROM web_session")[0]
    assert lifetime == 8 * 3600


# --- roles -------------------------------------------------------------------


def test_ordinary_user_edits_countries_and_cities(client):
    resp = client.post(
        "/api/v1/countries",
        json={"countryname": "Ordinaria", "countrycode": "OR"},
        headers=ORDINARY,
    )
    assert resp.status_code == 201
    resp = client.post("/api/v1/cities", json={"name": "保定"}, headers=ORDINARY)
    assert resp.status_code == 201


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("POST", "/api/v1/users", {"username": "new", "password": "pass-word"}),
        ("PUT", "/api/v1/users/1", {"username": "test1", "enabled": 0}),
        ("DELETE", "/api/v1/users/1", None),
        ("DELETE", "/api/v1/users/2", None),
        ("PUT", "/api/v1/users/2", {"username": "test2", "enabled": 1, "usertype": "1"}),
        ("PUT", "/api/v1/users/2", {"username": "test2", "enabled": 0}),
    ],
    ids=["create", "disable-other", "delete-other", "delete-self", "promote-self", "disable-self"],
)
def test_ordinary_user_refused_403(client, rows, method, path, body):
    before = rows("SELECT * FROM user_info ORDER BY id")
    resp = client.open(path, method=method, json=body, headers=ORDINARY)
    assert resp.status_code == 403
    assert set(resp.get_json()) == {"error", "detail"} and resp.get_json()["error"] == "forbidden"
    assert rows("SELECT * FROM user_info ORDER BY id") == before


def test_ordinary_user_changes_own_password_and_profile(client, rows):
    resp = client.put(
        "/api/v1/users/2",
        json={"username": "test2", "enabled": 1, "password": " spaced pass ", "email": "t2@x.org"},
        headers=ORDINARY,
    )
    assert resp.status_code == 200 and resp.get_json()["email"] == "t2@x.org"
    assert rows("SELECT usertype, enabled FROM user_info WHERE id = 2") == [("2", 1)]
    # Stored exactly as sent: the spaces belong to the password.
    ok = client.post(
        "/api/v1/cities", json={"name": "x"}, headers=basic_auth("test2", " spaced pass ")
    )
    assert ok.status_code == 201
    stripped = client.post(
        "/api/v1/cities", json={"name": "x"}, headers=basic_auth("test2", "spaced pass")
    )
    assert stripped.status_code == 401


def test_admin_manages_users(client, rows):
    resp = client.post(
        "/api/v1/users",
        json={"username": "carol", "password": "carol-pass", "usertype": "1", "qq": "42"},
        headers=ADMIN,
    )
    assert resp.status_code == 201 and resp.get_json()["usertype"] == "1"
    assert resp.get_json()["qq"] == "42"
    new_id = resp.get_json()["id"]
    resp = client.put(
        f"/api/v1/users/{new_id}",
        json={"username": "carol", "enabled": 1, "usertype": "2"},
        headers=ADMIN,
    )
    assert resp.status_code == 200 and resp.get_json()["usertype"] == "2"
    assert client.delete(f"/api/v1/users/{new_id}", headers=ADMIN).status_code == 204
    assert rows("SELECT COUNT(*) FROM user_info WHERE username = 'carol'") == [(0,)]


def test_new_user_is_ordinary_by_default(client):
    resp = client.post(
        "/api/v1/users", json={"username": "dave", "password": "dave-pass"}, headers=ADMIN
    )
    assert resp.status_code == 201 and resp.get_json()["usertype"] == "2"


def test_last_enabled_admin_cannot_be_removed(client, rows):
    # test1, test3, test5 are the administrators: remove two, the third stays.
    assert (
        client.put(
            "/api/v1/users/3", json={"username": "test3", "enabled": 0}, headers=ADMIN
        ).status_code
        == 200
    )
    assert (
        client.put(
            "/api/v1/users/5",
            json={"username": "test5", "enabled": 1, "usertype": "2"},
            headers=ADMIN,
        ).status_code
        == 200
    )
    before = rows("SELECT * FROM user_info ORDER BY id")
    for method, body in (
        ("PUT", {"username": "test1", "enabled": 0}),
        ("PUT", {"username": "test1", "enabled": 1, "usertype": "2"}),
        ("DELETE", None),
    ):
        resp = client.open("/api/v1/users/1", method=method, json=body, headers=ADMIN)
        assert resp.status_code == 409, (method, body)
        assert "last enabled administrator" in resp.get_json()["detail"]
    assert rows("SELECT * FROM user_info ORDER BY id") == before
    # Another administrator exists again: now test1 may step down.
    assert (
        client.put(
            "/api/v1/users/3", json={"username": "test3", "enabled": 1}, headers=ADMIN
        ).status_code
        == 200
    )
    assert (
        client.put(
            "/api/v1/users/1",
            json={"username": "test1", "enabled": 1, "usertype": "2"},
            headers=ADMIN,
        ).status_code
        == 200
    )


def test_personal_fields_only_for_admins_and_self(client):
    client.put(
        "/api/v1/users/2",
        json={"username": "test2", "enabled": 1, "realname": "Two", "tel": "110"},
        headers=ADMIN,
    )
    for path in ("/api/v1/users/2", "/users/view/2"):
        anonymous = client.get(path).get_json()
        assert set(anonymous) == {"id", "username", "usertype", "enabled"}, path
        assert client.get(path, headers=ADMIN).get_json()["realname"] == "Two"
        assert client.get(path, headers=ORDINARY).get_json()["tel"] == "110"
        other = client.get(path, headers=basic_auth(*DEMO_ADMIN2)).get_json()
        assert other["realname"] == "Two"  # test3 is an administrator
    listing = client.get("/api/v1/users").get_json()["list"]
    assert all(not PRIVATE & set(u) for u in listing)
    assert (
        client.get("/api/v1/users", headers=ORDINARY)
        .get_json()["list"][1]
        .keys()
        .isdisjoint(PRIVATE)
    )
    assert "realname" in client.get("/api/v1/users", headers=ADMIN).get_json()["list"][0]
    # Searching a private field would reveal it letter by letter.
    resp = client.get("/api/v1/users?realname=Tw")
    assert resp.status_code == 403
    assert client.get("/api/v1/users?realname=Tw", headers=ADMIN).get_json()["total"] == 1


def test_wrong_credentials_on_a_read_are_401(client):
    resp = client.get("/api/v1/users/2", headers=basic_auth("test1", "wrong-one"))
    assert resp.status_code == 401


def test_short_password_refused(client):
    resp = client.post(
        "/api/v1/users", json={"username": "eve", "password": "1234567"}, headers=ADMIN
    )
    assert resp.status_code == 400
    assert resp.get_json()["detail"] == {"password": "is shorter than 8 characters"}
