"""SECRET_KEY rotates without logging anyone out: the earlier key stays
accepted (SECRET_KEY_FALLBACKS) until it is retired."""

from __future__ import annotations

import pytest

from bootservice import create_app
from bootservice.config import ConfigError, load_config

from helpers import DEMO_USER, csrf_of, form_login, text_of

OLD = "old-session-key-" + "o" * 20
NEW = "new-session-key-" + "n" * 20


@pytest.fixture
def make_app(app_env):
    """Apps on one database (one file): replicas with different keys."""
    made = []

    def make(key: str, fallbacks: str | None = None):
        env = {**app_env, "SECRET_KEY": key}
        if fallbacks is not None:
            env["SECRET_KEY_FALLBACKS"] = fallbacks
        app = create_app(load_config(env))
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["db_engine"].dispose()


def _moved(client, app):
    """`app`'s test client with `client`'s cookies: the same browser on
    another replica."""
    other = app.test_client()
    for cookie in client._cookies.values():
        other.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
    return other


def _logged_in_as(client) -> bool:
    return DEMO_USER[0] in text_of(client.get("/countries"))


def test_a_session_of_the_old_key_survives_the_new_key(make_app):
    browser = make_app(OLD).test_client()
    assert form_login(browser).status_code == 302
    form = text_of(browser.get("/countries/new"))
    rotated = _moved(browser, make_app(NEW, fallbacks=OLD))
    assert _logged_in_as(rotated)
    # The form's CSRF token, issued under the old key, still submits.
    resp = rotated.post(
        "/countries",
        data={"countryname": "Rotatia", "countrycode": "RT", "csrf_token": csrf_of(form)},
    )
    assert resp.status_code == 302
    assert "Rotatia" in text_of(rotated.get("/countries?name=Rotatia"))


def test_a_cookie_signed_by_a_rotated_replica_holds_on_one_not_yet_rotated(make_app):
    # During the rolling update both kinds of replica serve: each must accept
    # what the other signed (the first step adds the new key as a fallback).
    rotated = make_app(NEW, fallbacks=OLD).test_client()
    assert form_login(rotated).status_code == 302
    assert _logged_in_as(_moved(rotated, make_app(OLD, fallbacks=NEW)))


def test_a_visitor_who_comes_back_after_the_switch_survives_the_retirement(make_app):
    # Signed again with the new key on the first request after the switch,
    # so retiring the old key does not end a session that is in use.
    browser = make_app(OLD).test_client()
    assert form_login(browser).status_code == 302
    switched = _moved(browser, make_app(NEW, fallbacks=OLD))
    resp = switched.get("/countries")
    assert DEMO_USER[0] in text_of(resp)
    assert "session=" in resp.headers.get("Set-Cookie", "")
    assert resp.headers["Cache-Control"] == "private, no-store"
    # Already on the new key: no cookie is sent again.
    assert "Set-Cookie" not in switched.get("/countries").headers
    assert _logged_in_as(_moved(switched, make_app(NEW)))


def test_without_the_fallback_the_old_session_ends(make_app):
    browser = make_app(OLD).test_client()
    assert form_login(browser).status_code == 302
    assert not _logged_in_as(_moved(browser, make_app(NEW)))


@pytest.mark.parametrize(
    "fallbacks, message",
    [
        ("short", "key 1 is shorter than 16 characters"),
        (OLD + "\n\nshort", "key 3 is shorter than 16 characters"),
    ],
)
def test_bad_fallbacks_are_named(app_env, fallbacks, message):
    with pytest.raises(ConfigError, match=f"^SECRET_KEY_FALLBACKS: {message}$"):
        load_config({**app_env, "SECRET_KEY_FALLBACKS": fallbacks})


def test_fallbacks_drop_the_current_key_and_repeats(app_env, tmp_path):
    path = tmp_path / "previous"
    path.write_text(f"{OLD}\n{NEW}\n{OLD}\n", encoding="utf-8")
    config = load_config({**app_env, "SECRET_KEY": NEW, "SECRET_KEY_FALLBACKS_FILE": str(path)})
    assert config.secret_key_fallbacks == (OLD,)
    assert OLD not in repr(config)
