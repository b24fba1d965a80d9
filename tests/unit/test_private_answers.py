"""Answers made for one user are cached by nobody; the login link leads back
to the page it was followed from, never to the login form itself."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from helpers import DEMO_ORDINARY, DEMO_USER, basic_auth, csrf_of, text_of

PRIVATE = "private, no-store"


def login_link_next(html: str) -> str | None:
    """The `next` of the header's login link."""
    match = re.search(r'<a href="([^"]+)" id="login-link">', html)
    assert match, "the page has no login link"
    query = parse_qs(urlsplit(unescape(match.group(1))).query)
    return (query.get("next") or [None])[0]


def test_anonymous_reads_stay_cacheable(client):
    for path in ("/countries", "/api/v1/countries/1", "/api/v1/users/2"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert "no-store" not in resp.headers.get("Cache-Control", ""), path


def test_answers_vary_on_the_cookie_only_where_it_was_read(client, logged_in):
    # The API's country reads ignore the session: one cached answer fits all.
    for path in ("/api/v1/countries/1", "/api/v1/countries?page=2"):
        assert "Vary" not in client.get(path).headers, path
        as_user = logged_in.get(path)
        assert "Vary" not in as_user.headers and "Set-Cookie" not in as_user.headers, path
    # The page shows who is logged in, so a cache must keep one per cookie.
    assert "Cookie" in client.get("/countries").headers["Vary"]
    assert "Cookie" in logged_in.get("/countries").headers["Vary"]


def test_logged_in_pages_are_private(logged_in):
    for path in ("/countries", "/countries/1/edit", "/api/v1/users/1"):
        resp = logged_in.get(path)
        assert resp.status_code == 200, path
        assert resp.headers["Cache-Control"] == PRIVATE, path


@pytest.mark.parametrize("user", [DEMO_USER, DEMO_ORDINARY])
def test_answers_to_basic_credentials_are_private(client, user):
    resp = client.get("/api/v1/users/2", headers=basic_auth(*user))
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == PRIVATE


def test_wrong_credentials_are_private_too(client):
    resp = client.get("/api/v1/users/2", headers=basic_auth("test1", "wrong-one"))
    assert resp.status_code == 401
    assert resp.headers["Cache-Control"] == PRIVATE


def test_login_form_which_sets_the_cookie_is_private(client):
    resp = client.get("/login")
    assert "Set-Cookie" in resp.headers
    assert resp.headers["Cache-Control"] == PRIVATE
    assert "Cookie" in resp.headers["Vary"]


def test_login_link_leads_back_to_the_page_with_its_query(client):
    html = text_of(client.get("/countries?page=2&name=Chi"))
    assert login_link_next(html) == "/countries?page=2&name=Chi"


def test_login_link_on_the_login_form_does_not_nest(client):
    html = text_of(client.get("/login?next=/cities%3Fpage%3D3"))
    assert login_link_next(html) == "/cities?page=3"
    # Followed again and again, it stays the same.
    again = text_of(client.get("/login?next=" + "/login%3Fnext%3D/cities"))
    assert login_link_next(again) == "/cities"


@pytest.mark.parametrize(
    "target, landing",
    [
        ("/login?next=/cities", "/cities"),
        ("/login?next=/login%3Fnext%3D/cities%3Fpage%3D2", "/cities?page=2"),
        ("/login?next=//evil.example", "/countries"),
        ("/login", "/countries"),
    ],
)
def test_login_never_returns_to_the_login_form(client, target, landing):
    token = csrf_of(text_of(client.get("/login")))
    resp = client.post(
        "/login",
        data={
            "username": DEMO_USER[0],
            "password": DEMO_USER[1],
            "csrf_token": token,
            "next": target,
        },
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == landing
