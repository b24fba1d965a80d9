"""The replay probe's logged-in visitor: how it reads the service's real answers
(Flask's test client on the app factory), what it records and counts, and the
whole visitor against the app served on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from werkzeug.serving import make_server

from bootservice import db
from dws import probe as probe_mod
from dws.probe import (
    COUNTRY_FORM,
    INVALID_COUNTRY,
    LOGIN_FORM,
    SESSION_PAGE,
    Probe,
    Record,
    form_verdict,
    login_page_verdict,
    login_verdict,
    page_form,
    session_verdict,
)
from dws.replay_report import (
    FORM_INVALID,
    FORM_REFUSED,
    LOGGED_IN,
    LOGGED_OUT,
    step_stats,
    violations,
)

from helpers import DEMO_USER, SEED_COUNTRIES

STEP = "rotate-session-key"


def answer(resp) -> tuple[int, str | None, str]:
    """What the probe's verdicts read of an answer: status, Location, body."""
    return resp.status_code, resp.headers.get("Location"), resp.get_data(as_text=True)


def check(client) -> tuple[tuple[str | None, str | None], str]:
    """The visitor's check of a login-required page: its verdict and the page."""
    status, location, body = answer(client.get(SESSION_PAGE))
    return session_verdict(status, location, body, DEMO_USER[0]), body


def post(client, form: tuple[str, dict[str, str]]) -> tuple[str | None, str | None]:
    """Post an open form back, left invalid as the visitor leaves it."""
    action, hidden = form
    return form_verdict(*answer(client.post(action, data={**hidden, **INVALID_COUNTRY})))


def log_in(client) -> None:
    """Log in as the visitor does: the login form's hidden inputs, the credentials."""
    page = answer(client.get("/login"))
    assert login_page_verdict(*page) == (None, None)
    action, hidden = page_form(page[2], LOGIN_FORM)
    data = {**hidden, "username": DEMO_USER[0], "password": DEMO_USER[1]}
    assert login_verdict(*answer(client.post(action, data=data))) == (LOGGED_IN, None)


def open_form(client) -> tuple[str, dict[str, str]]:
    verdict, page = check(client)
    assert verdict == (LOGGED_IN, None)
    form = page_form(page, COUNTRY_FORM)
    assert form is not None and form[0] == "/countries" and form[1]["csrf_token"]
    return form


def test_the_three_answers_from_the_real_pages(client, rows):
    assert check(client)[0] == (LOGGED_OUT, None)  # never logged in: sent to /login
    log_in(client)
    form = open_form(client)
    # The invalid form is answered 400 with the form and its errors, and
    # writes nothing.
    status, _, body = answer(client.post(form[0], data={**form[1], **INVALID_COUNTRY}))
    assert status == 400 and 'id="error-countryname"' in body
    assert form_verdict(status, None, body) == (FORM_INVALID, None)
    assert rows("SELECT COUNT(*) FROM country") == [(SEED_COUNTRIES,)]
    # A new login gives the session a new CSRF token: the form held open
    # from before it is refused by the CSRF check, also with a 400.
    log_in(client)
    status, _, body = answer(client.post(form[0], data={**form[1], **INVALID_COUNTRY}))
    assert status == 400 and "CSRF check failed" in body
    assert form_verdict(status, None, body) == (FORM_REFUSED, None)
    assert check(client)[0] == (LOGGED_IN, None)


def test_a_session_ended_on_the_server_is_a_logout(app, client):
    log_in(client)
    form = open_form(client)
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(text("DELETE FROM web_session"))
    # Its cookie still holds the CSRF token: the form passes the CSRF check
    # and meets the login check.
    assert post(client, form) == (LOGGED_OUT, None)
    assert check(client)[0] == (LOGGED_OUT, None)


def test_a_signing_key_rotated_with_its_fallback_keeps_the_visitor(app, client):
    log_in(client)
    form = open_form(client)
    old = app.secret_key
    app.secret_key = "rotated-unit-test-key-" + "r" * 20
    app.config["SECRET_KEY_FALLBACKS"] = [old]
    assert check(client)[0] == (LOGGED_IN, None)
    assert post(client, form) == (FORM_INVALID, None)


def test_a_signing_key_rotated_without_its_fallback_logs_out_and_refuses_forms(app, client):
    log_in(client)
    form = open_form(client)
    app.secret_key = "rotated-unit-test-key-" + "r" * 20
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert post(client, form) == (FORM_REFUSED, None)
    assert check(client)[0] == (LOGGED_OUT, None)


def test_answers_that_are_neither_are_errors():
    assert session_verdict(302, "/countries", "", "admin") == (None, "redirected to /countries")
    assert session_verdict(200, None, '<span id="username">other</span>', "admin")[0] == LOGGED_OUT
    assert session_verdict(503, None, "", "admin") == (None, None)
    assert form_verdict(400, None, "<h1>400</h1>")[1]
    assert "accepted" in form_verdict(302, "/countries?countryname=x", "")[1]
    assert form_verdict(302, "https://h/login?next=/countries", "") == (LOGGED_OUT, None)
    assert login_verdict(401, None, "")[0] is None
    assert login_verdict(200, None, "")[1]
    assert login_page_verdict(200, None, "<p>no form</p>")[1]


def rec(kind: str, status: int | None, outcome: str | None = None, **kw) -> Record:
    base = dict(served_by="r1", version="1.0", title=None, error=None, started=100, seconds=0.01)
    base.update(kw)
    return Record(step=STEP, kind=kind, status=status, outcome=outcome, **base)


def test_each_kind_fails_on_other_statuses_than_its_own():
    assert not rec("session", 200, LOGGED_IN).failed
    assert not rec("session", 302, LOGGED_OUT).failed  # a logout, counted as one
    assert not rec("form", 400, FORM_INVALID).failed
    assert not rec("form", 400, FORM_REFUSED).failed  # a refused form, counted as one
    assert rec("form", 200).failed and rec("session", 404).failed
    assert rec("session", None, error="ConnectionError").failed
    assert rec("session", 503, error="HTTP 503").failed
    assert rec("session", 302, error="redirected to /countries").failed
    # The other kinds keep theirs.
    assert not rec("write", 201).failed and rec("write", 200).failed
    assert not rec("read", 200).failed and rec("page", 302).failed and rec("read", 400).failed


def test_the_probe_counts_what_its_records_found_per_step():
    probe = Probe("http://127.0.0.1:9", DEMO_USER, run_id="t")
    found = [
        ("session", 200, LOGGED_IN),
        ("session", 302, LOGGED_OUT),
        ("login", 302, LOGGED_IN),
        ("form", 400, FORM_REFUSED),
        ("form", 302, LOGGED_OUT),
        ("session", 503, None),
        ("form", 400, FORM_INVALID),
    ]
    for kind, status, outcome in found:
        probe._record(kind, status, None, None, time.monotonic(), STEP, outcome=outcome)
    probe._record("session", 200, None, None, time.monotonic(), "other", outcome=LOGGED_IN)
    assert probe.logouts == {STEP: 2}
    assert probe.forms_refused == {STEP: 1}
    assert probe.session_checks == {STEP: 3, "other": 1}
    assert probe.form_posts == {STEP: 3}
    stats = step_stats(STEP, probe.of_step(STEP), 100, 1)
    assert (stats["logouts"], stats["forms_refused"]) == (2, 1)
    assert (stats["session_checks"], stats["form_posts"]) == (3, 3)
    assert stats["failures"] == 1  # the 503, marked failed by the recording
    assert stats["by_kind"] == {"form": 3, "login": 1, "session": 3}


# ------------------------------------------------ the visitor on loopback


@pytest.fixture
def served(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def wait(what: str, condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def checks_after_logout(records: list[Record]) -> list[str | None]:
    """The outcomes of the session checks after the first logout."""
    records = list(records)
    outcomes = [r.outcome for r in records]
    if LOGGED_OUT not in outcomes:
        return []
    after = records[outcomes.index(LOGGED_OUT) + 1 :]
    return [r.outcome for r in after if r.kind == "session"]


@pytest.fixture
def visitor(served, monkeypatch) -> Iterator[Probe]:
    """A probe with only its visitor (and a writer that writes once), quick
    checks and a form posted back every other check, in STEP."""
    monkeypatch.setattr(probe_mod, "TIMEOUT", (3.0, 10.0))
    probe = Probe(
        served, DEMO_USER, run_id="t", readers=0, write_every=60, session_every=0.02, form_every=2
    )
    probe.set_step(STEP)
    probe.start()
    try:
        yield probe
    finally:
        probe.finish()


def visitor_records(probe: Probe) -> list[Record]:
    """The visitor's records once it stopped, none of them failed."""
    probe.finish()
    assert [t for t in threading.enumerate() if t.name == "probe-session"] == []
    records = [r for r in probe.records if r.kind != "write"]
    assert not [r for r in records if r.failed], [r for r in records if r.failed][:3]
    return records


def test_the_visitor_stays_logged_in_posts_its_forms_and_notices_a_logout(app, visitor, rows):
    wait("two form posts", lambda: visitor.form_posts.get(STEP, 0) >= 2)
    assert visitor.logouts == {} and visitor.forms_refused == {}
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(text("DELETE FROM web_session"))
    wait("logged in again", lambda: checks_after_logout(visitor.records))
    records = visitor_records(visitor)
    assert visitor.logouts == {STEP: 1} and visitor.forms_refused == {}
    forms = [r for r in records if r.kind == "form"]
    assert forms and {r.outcome for r in forms} <= {FORM_INVALID, LOGGED_OUT}
    checks = [r.outcome for r in records if r.kind == "session"]
    assert checks.count(LOGGED_IN) >= 2 and set(checks_after_logout(records)) == {LOGGED_IN}
    # The forms wrote nothing: only the writer's rows were added.
    assert rows("SELECT COUNT(*) FROM country") == [(SEED_COUNTRIES + len(visitor.writes()),)]


@pytest.mark.parametrize("fallback", [True, False], ids=["with-fallback", "without-fallback"])
def test_a_signing_key_rotated_under_the_visitor(app, visitor, fallback):
    wait("a form post", lambda: visitor.form_posts.get(STEP, 0) >= 1)
    visitor.set_step("rotated")
    old = app.secret_key
    app.config["SECRET_KEY_FALLBACKS"] = [old] if fallback else []
    app.secret_key = "rotated-unit-test-key-" + "r" * 20
    wait(
        "two checks and two form posts after the rotation",
        lambda: (
            visitor.session_checks.get("rotated", 0) >= 2
            and visitor.form_posts.get("rotated", 0) >= 2
        ),
    )
    # A check sent just before the step changed may be answered after the
    # key did: the whole run is counted.
    stats = step_stats("rotated", visitor_records(visitor), visitor.started_at, 1)
    problems = violations("rotated", stats)
    if fallback:
        assert (stats["logouts"], stats["forms_refused"], problems) == (0, 0, [])
    else:
        # Whether the form held open was posted before the check noticed
        # depends on when the key changed between the two.
        assert stats["logouts"] == 1 and stats["forms_refused"] <= 1
        assert "rotated: 1 logouts of the logged-in visitor" in problems
