"""Methods, throttling, script safety, error shapes and the original URLs."""

from __future__ import annotations

import re
import statistics
import time

import pytest
from flask import request

from bootservice import create_app
from bootservice.config import load_config

from helpers import DEMO_ORDINARY, DEMO_USER, basic_auth, csrf_of, form_login

ADMIN = basic_auth(*DEMO_USER)
HOSTILE = [
    "Cote d'Ivoire",
    'say "hi"',
    "x'+(document.title='PWNED')+'",
    "</script><script>document.title='PWNED'</script>",
    "\u202eevil\u202c e\u0301\u0301",
]


# --- methods -------------------------------------------------------------------


def test_head_never_writes(client, rows):
    body = b'{"countryname": "Headland", "countrycode": "HL"}'
    headers = {**ADMIN, "Content-Type": "application/json"}
    resp = client.head("/api/v1/countries", data=body, headers=headers)
    assert resp.status_code == 200 and resp.data == b""
    assert client.head("/api/v1/countries/1", headers=ADMIN).status_code == 200
    assert rows("SELECT COUNT(*) FROM country") == [(183,)]


def test_options_answers_allow(client):
    resp = client.options("/api/v1/countries")
    assert resp.status_code == 200
    assert set(resp.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    item = client.options("/api/v1/countries/1")
    assert set(item.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}


@pytest.mark.parametrize("method", ["PATCH", "TRACE", "PROPFIND"])
def test_other_methods_405_with_allow(client, method):
    resp = client.open("/api/v1/countries/1", method=method, headers=ADMIN)
    assert resp.status_code == 405 and resp.get_json()["error"] == "method not allowed"
    assert "PUT" in resp.headers["Allow"]


# --- throttling --------------------------------------------------------------


def test_account_throttled_after_failures(client, rows):
    wrong = basic_auth(DEMO_USER[0], "not-the-password")
    body = {"countryname": "X", "countrycode": "X"}
    for _ in range(5):
        assert client.post("/api/v1/countries", json=body, headers=wrong).status_code == 401
    resp = client.post("/api/v1/countries", json=body, headers=wrong)
    assert resp.status_code == 429 and resp.get_json()["error"] == "too many failed attempts"
    assert 0 < int(resp.headers["Retry-After"]) <= 300
    # Even the right password waits: a guess that hits must not be confirmed.
    assert client.post("/api/v1/countries", json=body, headers=ADMIN).status_code == 429
    # Other accounts from elsewhere are not affected.
    other = client.post(
        "/api/v1/countries",
        json=body,
        headers=basic_auth(*DEMO_ORDINARY),
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert other.status_code == 201
    assert rows("SELECT COUNT(*) FROM country") == [(184,)]


def test_address_throttled_across_accounts(client):
    for i in range(20):
        name = f"nobody{i}"
        assert client.get("/api/v1/users/1", headers=basic_auth(name, "x" * 8)).status_code == 401
    resp = client.get("/api/v1/users/1", headers=basic_auth("nobody99", "x" * 8))
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    elsewhere = client.get(
        "/api/v1/users/1", headers=ADMIN, environ_base={"REMOTE_ADDR": "10.0.0.7"}
    )
    assert elsewhere.status_code == 200


def test_login_form_throttled(client):
    page = client.get("/login").get_data(as_text=True)
    for _ in range(5):
        resp = client.post(
            "/login",
            data={"username": DEMO_USER[0], "password": "wrong-pass", "csrf_token": csrf_of(page)},
        )
        assert resp.status_code == 401
    resp = form_login(client)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert "too many failed attempts" in resp.get_data(as_text=True)


def test_throttle_is_shared_by_processes(app_env):
    # Two apps on one database stand for two workers (or replicas).
    first = create_app(load_config(app_env))
    second = create_app(load_config(app_env))
    try:
        wrong = basic_auth(DEMO_USER[0], "not-the-password")
        for i in range(5):
            worker = (first if i % 2 else second).test_client()
            assert worker.get("/api/v1/users/1", headers=wrong).status_code == 401
        for worker in (first, second):
            assert worker.test_client().get("/api/v1/users/1", headers=wrong).status_code == 429
    finally:
        first.extensions["db_engine"].dispose()
        second.extensions["db_engine"].dispose()


def test_refusals_take_the_same_time(client):
    # Unknown user, disabled user and wrong password all spend one scrypt.
    client.put("/api/v1/users/4", json={"username": "test4", "enabled": 0}, headers=ADMIN)

    def median_ms(user: str, address: str) -> float:
        spent = []
        for i in range(3):
            start = time.perf_counter()
            resp = client.get(
                "/api/v1/users/1",
                headers=basic_auth(user, f"wrong-{i}-pass"),
                environ_base={"REMOTE_ADDR": address},
            )
            spent.append((time.perf_counter() - start) * 1000)
            assert resp.status_code == 401
        return statistics.median(spent)

    wrong = median_ms("test5", "10.1.0.1")
    for user, address in (("nobody", "10.1.0.2"), ("test4", "10.1.0.3")):
        assert 0.5 < median_ms(user, address) / wrong < 2.0, user


# --- script safety -------------------------------------------------------------


def test_pages_have_csp_and_no_inline_script(logged_in):
    for name in HOSTILE:
        resp = logged_in.post(
            "/api/v1/countries", json={"countryname": name, "countrycode": "HX"}, headers=ADMIN
        )
        assert resp.status_code == 201
    resp = logged_in.get("/countries?countrycode=HX")
    csp = resp.headers["Content-Security-Policy"]
    for rule in ("script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"):
        assert rule in csp
    html = resp.get_data(as_text=True)
    assert not re.search(r"\son[a-z]+\s*=", html, re.I), "inline event handler"
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html), "inline script"
    assert "<script>document" not in html and "PWNED')</script>" not in html
    assert "&lt;/script&gt;&lt;script&gt;" in html
    assert 'data-confirm="删除 (delete) Cote d&#39;Ivoire?"' in html
    assert len(re.findall(r"data-confirm=", html)) == len(HOSTILE)


def test_confirm_script_is_served(client):
    resp = client.get("/static/confirm.js")
    assert resp.status_code == 200 and "data-confirm" in resp.get_data(as_text=True)
    assert "javascript" in resp.mimetype
    resp.close()


# --- errors, cookies ---------------------------------------------------------------


def test_readyz_hides_the_driver_error(app_env, tmp_path):
    app = create_app(load_config({**app_env, "SQLITE_PATH": str(tmp_path / "x.sqlite3")}))
    try:
        import os

        os.chmod(tmp_path, 0o500)
        app.extensions["db_engine"].dispose()
        (tmp_path / "x.sqlite3").unlink()
    finally:
        os.chmod(tmp_path, 0o700)
    # The file is gone and cannot be created: no such table on a new file.
    resp = app.test_client().get("/readyz")
    body = resp.get_json()
    assert resp.status_code == 503
    assert body["reason"] in ("database unavailable", "database schema not migrated")
    assert "sqlite" not in resp.get_data(as_text=True).lower()
    app.extensions["db_engine"].dispose()


@pytest.mark.parametrize("proxies,secure", [("1", True), ("0", False)])
def test_session_cookie_secure_behind_https_proxy(app_env, proxies, secure):
    app = create_app(load_config({**app_env, "TRUSTED_PROXIES": proxies}))
    try:
        client = app.test_client()
        resp = client.get("/login", headers={"X-Forwarded-Proto": "https"})
        cookie = resp.headers["Set-Cookie"]
        assert ("Secure" in cookie) is secure
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        app.extensions["db_engine"].dispose()


def test_forwarded_for_is_the_throttled_address(app_env):
    app = create_app(load_config({**app_env, "TRUSTED_PROXIES": "1"}))
    try:
        client = app.test_client()
        wrong = basic_auth("nobody", "x" * 8)
        for _ in range(20):
            client.get("/api/v1/users/1", headers={**wrong, "X-Forwarded-For": "203.0.113.5"})
        blocked = client.get("/api/v1/users/1", headers={**wrong, "X-Forwarded-For": "203.0.113.5"})
        assert blocked.status_code == 429
        other = client.get("/api/v1/users/1", headers={**ADMIN, "X-Forwarded-For": "203.0.113.6"})
        assert other.status_code == 200
    finally:
        app.extensions["db_engine"].dispose()


@pytest.mark.parametrize(
    "trusted, forwarded_for, proto, address, scheme",
    [
        # The proxy's own entry is the rightmost; what the client wrote is ignored.
        ("1", "10.9.9.9, 203.0.113.7", "https", "203.0.113.7", "https"),
        ("2", "10.9.9.9, 203.0.113.7, 10.0.0.2", "http, https", "203.0.113.7", "http"),
        # Fewer entries than trusted proxies: nothing is believed.
        ("2", "203.0.113.7", "https", "127.0.0.1", "http"),
        # Not an address, not a scheme: refused, never passed on to logs.
        ("1", "<script>alert(1)</script>", "javascript", "127.0.0.1", "http"),
        ("1", "203.0.113.7,", "HTTPS", "127.0.0.1", "https"),
        ("0", "203.0.113.7", "https", "127.0.0.1", "http"),
    ],
)
def test_trusted_proxies_rule(app_env, trusted, forwarded_for, proto, address, scheme):
    app = create_app(load_config({**app_env, "TRUSTED_PROXIES": trusted}))
    seen = {}

    @app.get("/_seen")
    def _seen():
        seen.update(address=request.remote_addr, scheme=request.scheme)
        return "ok"

    try:
        headers = {"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": proto}
        assert app.test_client().get("/_seen", headers=headers).status_code == 200
        assert seen == {"address": address, "scheme": scheme}
    finally:
        app.extensions["db_engine"].dispose()


# --- the original's URLs and shapes, the pages -----------------------------------


def test_page_info_has_first_and_last_page(client):
    body = client.get("/api/v1/countries?page=10").get_json()
    assert body["navigatepageNums"] == list(range(6, 14))
    assert (body["firstPage"], body["lastPage"]) == (6, 13)
    empty = client.get("/api/v1/countries?countryname=zzzz").get_json()
    assert (empty["firstPage"], empty["lastPage"]) == (0, 0)


def test_original_page_urls(client):
    add = client.get("/countries/add")
    assert add.status_code == 301 and add.headers["Location"] == "/countries/new"
    view = client.get("/countries/view/7")
    assert view.status_code == 301 and view.headers["Location"] == "/countries/7/edit"
    gone = client.get("/countries/delete/7")
    assert gone.status_code == 405 and gone.mimetype == "text/html"
    assert "deletes are a POST from the list" in gone.get_data(as_text=True)


def test_version_badge_and_bilingual_labels(client):
    html = client.get("/countries").get_data(as_text=True)
    assert re.search(r'class="badge" id="version-badge" data-major="1"', html)
    assert 'id="app-version">1.0<' in html and 'id="served-by">' in html
    for label in ("下一页 (next)", "尾页 (last)", "国家名称 (country name)", "查询 (search)"):
        assert label in html
    error = client.get("/countries?page=x").get_data(as_text=True)
    assert "400: 请求有误 (invalid page)" in error


def test_form_errors_next_to_their_fields(logged_in, rows):
    form = logged_in.get("/countries/new").get_data(as_text=True)
    resp = logged_in.post(
        "/countries",
        data={"countryname": "x" * 300, "countrycode": " ", "csrf_token": csrf_of(form)},
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert re.search(r'id="error-countryname">国家名称 \(country name\): is longer than 255', html)
    assert 'id="error-countrycode">国家代码 (country code): may not be empty' in html
    assert rows("SELECT COUNT(*) FROM country") == [(183,)]
