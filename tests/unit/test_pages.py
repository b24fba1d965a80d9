"""The HTML pages as a visitor sees them: list, search, paging, login, forms."""

from __future__ import annotations

import re

import pytest

from bootservice import create_app
from bootservice.config import load_config

from helpers import DEMO_USER, csrf_of


def names(html: str) -> list[str]:
    return re.findall(r'<td class="name">([^<]*)</td>', html)


def test_root_redirects_to_list(client):
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/countries"


def test_list_page_1_0(client):
    html = client.get("/countries").get_data(as_text=True)
    assert "<title>国家(地区)列表</title>" in html
    assert 'id="total">183<' in html
    assert names(html)[:3] == ["Angola", "Afghanistan", "Albania"] and len(names(html)) == 10
    assert 'id="app-version">1.0<' in html
    assert "分页信息" in html and "navigatepageNums" in html
    assert 'id="next"' in html and 'id="prev"' not in html


@pytest.mark.parametrize(
    "version,title", [("2.0", "国家(地区)列表-2.0版本"), ("1.0", "国家(地区)列表")]
)
def test_title_follows_app_version(app_env, version, title):
    app = create_app(load_config({**app_env, "APP_VERSION": version}))
    try:
        resp = app.test_client().get("/countries")
    finally:
        app.extensions["db_engine"].dispose()
    html = resp.get_data(as_text=True)
    assert f"<title>{title}</title>" in html and f'id="page-title">{title}<' in html
    assert resp.headers["X-App-Version"] == version


def test_search_and_paging_links_keep_the_query(client):
    html = client.get("/countries?countryname=an&rows=5&page=2").get_data(as_text=True)
    assert all("an" in n.lower() for n in names(html)) and len(names(html)) == 5
    assert 'href="/countries?page=3&amp;countryname=an&amp;countrycode=&amp;rows=5"' in html
    assert 'value="an"' in html  # the search box keeps what was searched


def test_anonymous_sees_no_edit_controls_and_is_sent_to_login(client):
    html = client.get("/countries").get_data(as_text=True)
    assert "删除" not in html and 'id="login-link"' in html
    resp = client.get("/countries/new")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=")


def test_login_wrong_password(client):
    page = client.get("/login").get_data(as_text=True)
    resp = client.post(
        "/login", data={"username": DEMO_USER[0], "password": "x", "csrf_token": csrf_of(page)}
    )
    assert resp.status_code == 401
    assert "用户名或密码错误" in resp.get_data(as_text=True)


def test_login_without_csrf_refused(client):
    client.get("/login")
    resp = client.post("/login", data={"username": DEMO_USER[0], "password": DEMO_USER[1]})
    assert resp.status_code == 400
    assert "CSRF" in resp.get_data(as_text=True)


def test_add_edit_delete_country(logged_in, rows):
    client = logged_in
    form = client.get("/countries/new").get_data(as_text=True)
    resp = client.post(
        "/countries",
        data={"countryname": "Atlantis", "countrycode": "ZZ", "csrf_token": csrf_of(form)},
        follow_redirects=True,
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "已添加" in html and names(html) == ["Atlantis"]
    (cid,) = rows("SELECT id FROM country WHERE countryname = 'Atlantis'")[0]

    form = client.get(f"/countries/{cid}/edit").get_data(as_text=True)
    assert 'value="Atlantis"' in form
    resp = client.post(
        f"/countries/{cid}",
        data={"countryname": "Lemuria", "countrycode": "ZZ", "csrf_token": csrf_of(form)},
        follow_redirects=True,
    )
    assert "已保存" in resp.get_data(as_text=True)
    assert rows("SELECT countryname FROM country WHERE id = :i", i=cid) == [("Lemuria",)]

    resp = client.post(
        f"/countries/{cid}/delete", data={"csrf_token": csrf_of(form)}, follow_redirects=True
    )
    assert "已删除" in resp.get_data(as_text=True)
    assert rows("SELECT COUNT(*) FROM country WHERE id = :i", i=cid) == [(0,)]


def test_form_errors_shown_and_nothing_written(logged_in, rows):
    form = logged_in.get("/countries/new").get_data(as_text=True)
    resp = logged_in.post(
        "/countries",
        data={"countryname": "x" * 300, "countrycode": "", "csrf_token": csrf_of(form)},
    )
    assert resp.status_code == 400
    assert "保存失败" in resp.get_data(as_text=True)
    assert rows("SELECT COUNT(*) FROM country") == [(183,)]


def test_post_without_csrf_changes_nothing(logged_in, rows):
    resp = logged_in.post("/countries/1/delete")
    assert resp.status_code == 400
    resp = logged_in.post("/countries/1/delete", data={"csrf_token": "forged"})
    assert resp.status_code == 400
    assert rows("SELECT COUNT(*) FROM country WHERE id = 1") == [(1,)]


def test_anonymous_post_changes_nothing(client, rows):
    page = client.get("/login").get_data(as_text=True)  # a valid token, but no login
    resp = client.post("/countries/1/delete", data={"csrf_token": csrf_of(page)})
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert rows("SELECT COUNT(*) FROM country WHERE id = 1") == [(1,)]


def test_login_next_is_local_only(client):
    page = client.get("/login").get_data(as_text=True)
    resp = client.post(
        "/login",
        data={
            "username": DEMO_USER[0],
            "password": DEMO_USER[1],
            "csrf_token": csrf_of(page),
            "next": "//evil.example/",
        },
    )
    assert resp.headers["Location"] == "/countries"


def test_logout(logged_in):
    html = logged_in.get("/countries").get_data(as_text=True)
    resp = logged_in.post("/logout", data={"csrf_token": csrf_of(html)})
    assert resp.status_code == 302
    assert 'id="login-link"' in logged_in.get("/countries").get_data(as_text=True)


def test_delete_missing_country_is_html_404(logged_in):
    html = logged_in.get("/countries").get_data(as_text=True)
    resp = logged_in.post("/countries/999999/delete", data={"csrf_token": csrf_of(html)})
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    assert "no country with id 999999" in resp.get_data(as_text=True)


def test_a_country_address_shows_a_visitor_the_list_of_just_it(client):
    anonymous = client.get("/countries/7")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == (
        "/countries?countryname=Antigua+and+Barbuda&countrycode=AG"
    )
    assert names(client.get(anonymous.headers["Location"]).get_data(as_text=True)) == [
        "Antigua and Barbuda"
    ]
    missing = client.get("/countries/99999")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert "未找到" in missing.get_data(as_text=True)


def test_a_country_address_opens_the_edit_form_when_logged_in(logged_in):
    editor = logged_in.get("/countries/7")
    assert editor.status_code == 302 and editor.headers["Location"] == "/countries/7/edit"
    missing = logged_in.get("/countries/99999")
    assert missing.status_code == 404 and "未找到" in missing.get_data(as_text=True)


def test_a_page_address_405_is_the_bilingual_page(client):
    resp = client.delete("/countries/7")
    assert resp.status_code == 405 and resp.mimetype == "text/html"
    assert "不允许的方法" in resp.get_data(as_text=True)
    assert "此地址不接受 DELETE 请求" in resp.get_data(as_text=True)
    assert "GET" in resp.headers["Allow"]
    api = client.delete("/api/v1/openapi.json")
    assert api.status_code == 405 and api.get_json()["error"] == "method not allowed"
