"""Machinery of the tutorial replay: the traffic probe and swarm polling helpers.

Used by the replay (dws.replay). The probe only ever talks to the lab's front load balancer
on 127.0.0.1 and the lab's own node addresses.
"""

from __future__ import annotations

import html
import http.client
import itertools
import json
import queue
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import requests

from dws import tls
from dws.replay_report import FORM_INVALID, FORM_REFUSED, LOGGED_IN, LOGGED_OUT, attempts
from dws.util import StepFailed, wait_until

REPORT = Path(__file__).resolve().parents[1] / "build" / "reports" / "replay.json"

TITLE_RE = re.compile(r"<title>\s*([^<]*?)\s*</title>", re.S)
# Through the whole stack a request needs a few ms; a generous read timeout
# still keeps a hung request visible as a failure rather than a stall.
TIMEOUT = (3.0, 30.0)


# Substrings searched by the readers that always reach the database (a
# filtered list is never served from a replica's copy of the table).
SEARCHES = ("an", "ia", "ch", "ra", "ma", "ka", "el", "or", "us", "in")
# A POST whose outcome the writer did not learn is sent again with the same
# Idempotency-Key, with this backoff, for at most this long.
RETRY_BACKOFF = (0.25, 0.5, 1.0, 2.0)
RETRY_FOR_S = 90.0
UNKNOWN_OUTCOME = (None, 409, 502, 503, 504)

# The logged-in visitor: it checks a page that needs a login this often, and
# posts back the form that page showed, held open meanwhile, every
# FORM_EVERY checks (a few seconds old by then).
SESSION_EVERY = 0.5
FORM_EVERY = 6
LOGIN_PATH = "/login"
LOGIN_FORM = "login-form"
SESSION_PAGE = "/countries/new"
COUNTRY_FORM = "country-form"
# Left empty, the new-country form's fields fail validation: the form is
# answered, and no row is created.
INVALID_COUNTRY = {"countryname": "", "countrycode": ""}
# auth.check_csrf's refusal, and what marks the form shown again with its errors.
CSRF_FAILED = "CSRF check failed"
FIELD_ERROR = 'class="field-error"'
USERNAME_RE = re.compile(r'<span id="username">([^<]*)</span>')
REDIRECTS = (301, 302, 303, 307, 308)
# The statuses a request of each kind is answered when it goes as planned
# (any other kind: 200). A visitor sent to the login form, or a form the
# CSRF check refused, is answered as designed: they are counted as logouts
# and refused forms, not as failed requests.
EXPECTED_STATUS = {
    "write": (201,),
    "login": (200, 302),
    "session": (200, 302),
    "form": (400, 302),
}

Verdict = tuple[str | None, str | None]  # (outcome, error)

# Open loop: the reads are due on a fixed schedule, whatever the answers
# before them, and each one's time runs from the moment it was due. A slow
# stack then shows as slow answers, not as fewer requests (what load testers
# call coordinated omission). The workers are many, so that a read waits for
# one only when the stack holds that many answers at once.
OPEN_WORKERS = 64


@dataclass
class Record:
    """One probe request and what came back."""

    step: str
    kind: str  # page | read | search | fresh-read | write | login | session | form
    status: int | None  # None: connection error or timeout
    served_by: str | None
    version: str | None
    title: str | None
    error: str | None
    started: float
    seconds: float
    created_id: int | None = None
    created_name: str | None = None
    node: str | None = None  # X-Lab-Node: which node the front load balancer used
    request_id: str | None = None
    # The proxies' upstream attempts ($upstream_status): "502, 200" was retried.
    front_status: str | None = None
    node_status: str | None = None
    key: str | None = None  # a write's Idempotency-Key
    attempt: int = 1  # a write's attempt with that key
    # A write attempt with an unknown outcome that a later attempt with the
    # same key settled: absorbed by the client, not a failure.
    settled_by_retry: bool = False
    # What a request of the logged-in visitor found (dws.replay_report's
    # LOGGED_IN, LOGGED_OUT, FORM_INVALID, FORM_REFUSED); None for the others.
    outcome: str | None = None
    # Sent again on a new connection after the server closed the first one
    # without an answer (Probe._request): absorbed by the client.
    reconnected: bool = False
    # An open-loop read: `started` is when it was due, and `queued` how long
    # after that it was sent (waiting for a free worker).
    scheduled: bool = False
    queued: float = 0.0

    @property
    def failed(self) -> bool:
        """A connection error, a timeout, a 5xx, or any status but the kind's
        expected ones (EXPECTED_STATUS)."""
        expected = EXPECTED_STATUS.get(self.kind, (200,))
        return self.status not in expected or (self.error is not None)

    @property
    def front_attempts(self) -> int:
        """Attempts the front load balancer made (0: not reported)."""
        return attempts(self.front_status)

    @property
    def node_attempts(self) -> int:
        """Attempts the answering node's nginx made (0: not reported)."""
        return attempts(self.node_status)


def closed_unanswered(exc: BaseException) -> bool:
    """Whether a request failed because the server closed its connection
    before answering (the cause somewhere in the exception's chain)."""
    pending, seen = [exc], 0
    while pending and seen < 20:
        err = pending.pop()
        seen += 1
        if isinstance(err, (http.client.RemoteDisconnected, ConnectionResetError)):
            return True
        pending += [a for a in err.args if isinstance(a, BaseException)]
        if err.__cause__ is not None:
            pending.append(err.__cause__)
    return False


class _Forms(HTMLParser):
    """The forms of a page: id -> (action, the hidden inputs' names and values)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, tuple[str, dict[str, str]]] = {}
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._open = found.get("id", "")
            self.forms[self._open] = (found.get("action", ""), {})
        elif tag == "input" and self._open is not None and found.get("type") == "hidden":
            if found.get("name"):
                self.forms[self._open][1][found["name"]] = found.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def page_form(body: str, form_id: str) -> tuple[str, dict[str, str]] | None:
    """The form `form_id` of a page: its action and hidden inputs (the
    csrf_token), as a browser would submit them; None if the page has none."""
    parser = _Forms()
    parser.feed(body)
    parser.close()
    return parser.forms.get(form_id)


def shows_user(body: str, username: str) -> bool:
    """Whether a page shows `username` as the logged-in user (templates/base.html)."""
    return any(html.unescape(name) == username for name in USERNAME_RE.findall(body))


def to_login(location: str | None) -> bool:
    """Whether a redirect sends the visitor to the login form."""
    return bool(location) and urlsplit(location).path == LOGIN_PATH


def login_page_verdict(status: int, location: str | None, body: str) -> Verdict:
    """GET /login: the login form with its csrf_token."""
    if status in REDIRECTS:
        return None, f"the login form redirected to {location}"
    if status == 200 and "csrf_token" not in (page_form(body, LOGIN_FORM) or ("", {}))[1]:
        return None, "no login form with a csrf_token"
    return None, None


def login_verdict(status: int, location: str | None, body: str) -> Verdict:
    """POST /login: logged in is a redirect away from the login form."""
    if status in REDIRECTS and not to_login(location):
        return LOGGED_IN, None
    if status in REDIRECTS or status == 200:
        return None, f"not logged in: {status} {location or ''}".rstrip()
    return None, None


def session_verdict(status: int, location: str | None, body: str, username: str) -> Verdict:
    """GET of a page that needs a login, redirects not followed: logged in is
    a 200 showing the user; a redirect to the login form, or a 200 without
    the user, is logged out. A 5xx or a connection error is neither: the
    recording marks it failed."""
    if status == 200:
        return (LOGGED_IN if shows_user(body, username) else LOGGED_OUT), None
    if status in REDIRECTS:
        if to_login(location):
            return LOGGED_OUT, None
        return None, f"redirected to {location}"
    return None, None


def form_verdict(status: int, location: str | None, body: str) -> Verdict:
    """POST of the new-country form left empty: the service shows the form
    again with its errors, status 400 (pages.py `_render_form`); the CSRF
    check's refusal is a 400 too, told apart by its message (auth.check_csrf).
    The CSRF check runs first, so a form that reaches the login check was
    accepted by it: a redirect to the login form means logged out."""
    if status == 400:
        if CSRF_FAILED in body:
            return FORM_REFUSED, None
        if FIELD_ERROR in body and page_form(body, COUNTRY_FORM) is not None:
            return FORM_INVALID, None
        return None, "a 400 that is neither the form's errors nor the CSRF refusal"
    if status in REDIRECTS:
        if to_login(location):
            return LOGGED_OUT, None
        return None, f"the invalid form was accepted: redirected to {location}"
    return None, None


class Probe:
    """Continuous mixed traffic through the front load balancer, recorded per step.

    ``readers`` threads share a budget of ``rate`` requests per second:
    pages and API reads that a replica may serve from its copy of the
    country table, searches that always reach the database, and reads of
    rows just written (by name, through the database). One writer creates
    countries with HTTP Basic auth and an Idempotency-Key, and sends a POST
    whose outcome it did not learn again with the same key. Every request
    asks the proxies for their upstream attempts and carries its own
    X-Request-ID. A visitor logs in through the login form and, every
    ``session_every`` seconds, checks that it is still logged in and now and
    then posts back a form it has held open (0: no visitor); it counts per
    step the times it found itself logged out and the forms the CSRF check
    refused. Bounded: it stops itself after ``max_seconds`` or
    ``max_requests``, whichever comes first.
    """

    def __init__(
        self,
        base_url: str,
        auth: tuple[str, str],
        run_id: str,
        *,
        readers: int = 8,
        rate: float = 100.0,
        write_every: float = 0.5,
        session_every: float = SESSION_EVERY,
        form_every: int = FORM_EVERY,
        max_seconds: float = 2400,
        max_requests: int = 400_000,
        verify: str | bool = True,
        open_rate: float = 0.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.verify = verify  # the CA bundle that signed the front's certificate
        self.auth = auth
        self.run_id = run_id
        self.readers = readers
        self.rate = rate
        # > 0: the reads are open-loop, due at this many a second.
        self.open_rate = open_rate
        # The stack's measured capacity, when the rate was chosen from it.
        self.capacity_rps: float | None = None
        self._due: queue.SimpleQueue[tuple[float, int] | None] = queue.SimpleQueue()
        self.write_every = write_every
        self.session_every = session_every
        self.form_every = max(1, form_every)
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.step = "deploy"
        self.records: list[Record] = []
        # name -> (id, countrycode) of every acknowledged write; names whose
        # outcome the writer never learned.
        self.acknowledged: dict[str, tuple[int, str]] = {}
        self.unknown: list[str] = []
        self._recent: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Set by stop() only: a write of unknown outcome stops repeating too.
        self._abort = threading.Event()
        self._finishing = 0.0
        # Writes a repeat with the same key settled; of those, the ones settled
        # after the last step (while finish() let them repeat).
        self.settled_by_repeat = 0
        self.settled_after_last_step = 0
        self._threads: list[threading.Thread] = []
        self._write_seq = itertools.count(1)
        self._request_seq = itertools.count(1)
        self._started = 0.0
        # Per step: the visitor's logouts, refused forms, checks and form posts.
        self._logouts: Counter[str] = Counter()
        self._forms_refused: Counter[str] = Counter()
        self._session_checks: Counter[str] = Counter()
        self._form_posts: Counter[str] = Counter()

    # -- control

    @property
    def load(self) -> dict[str, object]:
        """How the reads were offered: the report's `load`."""
        if self.open_rate > 0:
            return {
                "mode": "open",
                "offered_rps": self.open_rate,
                "capacity_rps": self.capacity_rps,
                "workers": OPEN_WORKERS,
            }
        return {"mode": "closed", "readers": self.readers, "paced_rps": self.rate}

    def start(self) -> None:
        """Start the client threads."""
        self._started = time.monotonic()
        if self.open_rate > 0:
            readers = [(self._schedule_loop, 0, "probe-schedule")] + [
                (self._open_worker, i, f"probe-open-{i}") for i in range(OPEN_WORKERS)
            ]
        else:
            readers = [(self._read_loop, i, f"probe-reader-{i}") for i in range(self.readers)]
        for loop, i, name in readers:
            self._threads.append(
                threading.Thread(target=self._run, args=(loop, i), name=name, daemon=True)
            )
        if self.write_every > 0:
            self._threads.append(
                threading.Thread(
                    target=self._run, args=(self._write_loop, 0), name="probe-writer", daemon=True
                )
            )
        if self.session_every > 0:
            self._threads.append(
                threading.Thread(
                    target=self._run,
                    args=(self._session_loop, 0, "session"),
                    name="probe-session",
                    daemon=True,
                )
            )
        for t in self._threads:
            t.start()

    def finish(self) -> None:
        """Stop after the last step as a real client would: no new request, but
        a write whose outcome is still unknown goes on repeating with its key
        for up to RETRY_FOR_S from its first attempt, longer than the service's
        claim lease (a claim whose request died with its node is taken over
        only after it), then every thread is joined."""
        if self._threads and not self._finishing:
            self._finishing = time.monotonic()
        self._stop.set()
        self._join(RETRY_FOR_S + TIMEOUT[1] + 10)

    def stop(self) -> None:
        """Stop at once (a run that failed): a write being repeated stops
        repeating; requests in flight complete."""
        self._abort.set()
        self._stop.set()
        self._join(TIMEOUT[1] + 10)

    def _join(self, timeout: float) -> None:
        for t in self._threads:
            t.join(timeout=timeout)
        self._threads = [t for t in self._threads if t.is_alive()]

    @property
    def started_at(self) -> float:
        """Monotonic time the probe started (0 before)."""
        return self._started

    def set_step(self, name: str) -> None:
        """Label the requests that start from now on."""
        self.step = name

    @property
    def logouts(self) -> dict[str, int]:
        """Step -> times the logged-in visitor found itself logged out."""
        with self._lock:
            return dict(self._logouts)

    @property
    def forms_refused(self) -> dict[str, int]:
        """Step -> open forms the CSRF check refused."""
        with self._lock:
            return dict(self._forms_refused)

    @property
    def session_checks(self) -> dict[str, int]:
        """Step -> the visitor's checks that it is still logged in."""
        with self._lock:
            return dict(self._session_checks)

    @property
    def form_posts(self) -> dict[str, int]:
        """Step -> open forms the visitor posted back."""
        with self._lock:
            return dict(self._form_posts)

    def _expired(self) -> bool:
        return (
            self._stop.is_set()
            or time.monotonic() - self._started > self.max_seconds
            or len(self.records) >= self.max_requests
        )

    # -- clients

    def _run(
        self, loop: Callable[[requests.Session, int], None], index: int, kind: str = "page"
    ) -> None:
        # Never let an exception escape a thread: pytest turns it into an error
        # far from its cause; record it as a failed request instead.
        with tls.client_session(self.verify) as session:
            try:
                loop(session, index)
            except Exception as exc:  # noqa: BLE001 - recorded, then the thread ends
                self._record(
                    kind,
                    None,
                    None,
                    f"probe thread crashed: {exc!r}",
                    time.monotonic(),
                    self.step,
                )

    def _read_choice(self, rnd: random.Random, n: int) -> tuple[str, str, str | None]:
        """The n-th read of a reader: (path, kind, the written name it must find)."""
        choice = n % 5
        if choice == 0:
            return f"/countries?page={rnd.randint(1, 19)}", "page", None
        if choice == 1:
            return f"/api/v1/countries/{rnd.randint(1, 183)}", "read", None
        if choice == 2:
            term = rnd.choice(SEARCHES)
            return f"/api/v1/countries?countryname={term}&rows=20", "search", None
        if choice == 3:
            return f"/countries?countryname={rnd.choice(SEARCHES)}", "search", None
        with self._lock:
            check_name = rnd.choice(self._recent) if self._recent else None
        if check_name is None:
            return f"/api/v1/cities?name={rnd.choice(SEARCHES)}", "search", None
        return f"/api/v1/countries?countryname={check_name}&rows=100", "fresh-read", check_name

    def _read_loop(self, session: requests.Session, index: int) -> None:
        rnd = random.Random(index)
        interval = self.readers / self.rate if self.rate > 0 else 0.0
        due = time.monotonic()
        n = 0
        while not self._expired():
            n += 1
            path, kind, check_name = self._read_choice(rnd, n)
            self._request(session, "GET", path, kind, expect_name=check_name)
            # Paced: together the readers send about `rate` requests a second;
            # a reader that fell behind does not catch up in a burst.
            due = max(due + interval, time.monotonic() - 1.0)
            self._stop.wait(max(0.0, due - time.monotonic()))

    def _schedule_loop(self, _session: requests.Session, _index: int) -> None:
        """Open loop: a read due every 1 / open_rate s from the start, handed
        to the workers; the schedule never waits for an answer."""
        interval = 1.0 / self.open_rate
        first = time.monotonic()
        n = 0
        try:
            while not self._expired():
                due = first + n * interval
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    break
                self._due.put((due, n))
                n += 1
        finally:
            for _ in range(OPEN_WORKERS):
                self._due.put(None)

    def _open_worker(self, session: requests.Session, index: int) -> None:
        rnd = random.Random(index)
        while (item := self._due.get()) is not None:
            if self._abort.is_set():
                continue  # a failed run: what is still due is not sent
            due, n = item
            path, kind, check_name = self._read_choice(rnd, n)
            self._request(session, "GET", path, kind, expect_name=check_name, scheduled=due)

    def _write_loop(self, session: requests.Session, _index: int) -> None:
        while not self._expired():
            seq = next(self._write_seq)
            name = f"e2e-{self.run_id}-{seq}"
            code = f"Z{seq % 1000:03d}"
            self._write(session, name, code, f"{self.run_id}-{seq}")
            self._stop.wait(self.write_every)

    def _session_loop(self, session: requests.Session, _index: int) -> None:
        """A visitor of the pages: logs in through the login form, then now
        and then posts back the form it holds open and checks that it is
        still logged in; logs in again whenever it finds itself logged out."""
        check = partial(session_verdict, username=self.auth[0])
        logged_in = False
        open_form: tuple[str, dict[str, str]] | None = None
        checks = 0
        while not self._expired():
            if not logged_in:
                # A new login gives the session a new CSRF token: a form
                # opened before it would be refused for that alone.
                open_form = None
                logged_in = self._login(session)
            else:
                checks += 1
                # The form goes first, on the cookie as the last answer left
                # it: a session the service can no longer read shows as a
                # refused form here and as a logout in the check after it.
                if open_form is not None and checks % self.form_every == 0:
                    logged_in = self._post_form(session, open_form)
                    open_form = None
                if logged_in:
                    rec, body = self._page(session, "GET", SESSION_PAGE, "session", check)
                    if rec.outcome == LOGGED_OUT:
                        logged_in = False
                    elif rec.outcome == LOGGED_IN and open_form is None:
                        open_form = page_form(body, COUNTRY_FORM)
            self._stop.wait(self.session_every)

    def _login(self, session: requests.Session) -> bool:
        """Log in through the login form as a browser does; whether it worked."""
        rec, body = self._page(session, "GET", LOGIN_PATH, "login", login_page_verdict)
        form = None if rec.failed else page_form(body, LOGIN_FORM)
        if form is None:
            return False
        action, hidden = form
        data = {**hidden, "username": self.auth[0], "password": self.auth[1]}
        rec, _ = self._page(session, "POST", action or LOGIN_PATH, "login", login_verdict, data)
        return rec.outcome == LOGGED_IN and not rec.failed

    def _post_form(self, session: requests.Session, form: tuple[str, dict[str, str]]) -> bool:
        """Submit an open form, left invalid so that nothing is written;
        False if the answer says the visitor was logged out."""
        action, hidden = form
        path = action if action.startswith("/") else SESSION_PAGE
        rec, _ = self._page(
            session, "POST", path, "form", form_verdict, {**hidden, **INVALID_COUNTRY}
        )
        return rec.outcome != LOGGED_OUT

    def _page(
        self,
        session: requests.Session,
        method: str,
        path: str,
        kind: str,
        verdict: Callable[[int, str | None, str], Verdict],
        data: dict[str, str] | None = None,
    ) -> tuple[Record, str]:
        """One request of the visitor, as a browser sends it: a form body, the
        session cookie, no Basic credentials, redirects not followed (where
        one leads is the answer). Its record and the page it got."""
        page = {"body": ""}

        def judge(resp: requests.Response, body: str) -> Verdict:
            page["body"] = body
            return verdict(resp.status_code, resp.headers.get("Location"), body)

        rec = self._request(session, method, path, kind, data=data, follow=False, judge=judge)
        return rec, page["body"]

    def _write(self, session: requests.Session, name: str, code: str, key: str) -> None:
        """POST one country; repeat it with its key until its outcome is known."""
        first = time.monotonic()
        attempts: list[Record] = []
        for attempt in itertools.count(1):
            rec = self._request(
                session,
                "POST",
                "/api/v1/countries",
                "write",
                json_body={"countryname": name, "countrycode": code},
                created_name=name,
                key=key,
                attempt=attempt,
            )
            attempts.append(rec)
            if rec.status not in UNKNOWN_OUTCOME:
                break
            if time.monotonic() - first > RETRY_FOR_S:
                break
            if self._abort.wait(RETRY_BACKOFF[min(attempt, len(RETRY_BACKOFF)) - 1]):
                break
        last = attempts[-1]
        with self._lock:
            if last.status == 201 and last.created_id is not None:
                self.acknowledged[name] = (last.created_id, code)
                self._recent = [*self._recent[-19:], name]
                for rec in attempts[:-1]:
                    rec.settled_by_retry = True
                if len(attempts) > 1:
                    self.settled_by_repeat += 1
                    if self._finishing and last.started >= self._finishing:
                        self.settled_after_last_step += 1
            elif last.status in UNKNOWN_OUTCOME:
                self.unknown.append(name)

    def _request(
        self,
        session: requests.Session,
        method: str,
        path: str,
        kind: str,
        *,
        json_body: dict | None = None,
        data: dict[str, str] | None = None,
        follow: bool = True,
        judge: Callable[[requests.Response, str], Verdict] | None = None,
        created_name: str | None = None,
        expect_name: str | None = None,
        key: str | None = None,
        attempt: int = 1,
        scheduled: float | None = None,
    ) -> Record:
        step = self.step
        request_id = f"{self.run_id}-{next(self._request_seq)}"
        headers = {"X-Upstream-Trace": "1", "X-Request-ID": request_id}
        if key is not None:
            headers["Idempotency-Key"] = f'"{key}"'
        extra: dict = {"request_id": request_id, "key": key, "attempt": attempt}
        started = time.monotonic()
        if scheduled is not None:
            # Timed from when it was due, as the user who asked then waits.
            extra.update(scheduled=True, queued=max(0.0, started - scheduled))
            started = scheduled
        for again in (False, True):
            try:
                resp = session.request(
                    method,
                    self.base_url + path,
                    json=json_body,
                    data=data,
                    headers=headers,
                    timeout=TIMEOUT,
                    # The API writer's credentials: the visitor's pages go by
                    # their login session alone.
                    auth=self.auth if kind == "write" else None,
                    allow_redirects=follow,
                )
                break
            except requests.RequestException as exc:
                # As a browser does (RFC 9112, 9.3.1): a GET whose connection
                # the server closed before any answer (an idle keep-alive
                # connection closed by a reload) is sent once more on a new
                # one. Counted, as absorbed by the client.
                if method == "GET" and not again and closed_unanswered(exc):
                    extra["reconnected"] = True
                    continue
                return self._record(
                    kind, None, None, f"{type(exc).__name__}: {exc}", started, step, **extra
                )
        with resp:
            body = resp.text
            title = None
            created_id = None
            error = None
            outcome = None
            if judge is not None:
                outcome, error = judge(resp, body)
            elif kind == "page":
                m = TITLE_RE.search(body)
                title = m.group(1) if m else None
            elif kind == "fresh-read" and resp.status_code == 200:
                # A row acknowledged earlier must be there, read from the database.
                try:
                    names = [row["countryname"] for row in json.loads(body)["list"]]
                except (ValueError, KeyError, TypeError):
                    names = []
                if expect_name not in names:
                    error = f"acknowledged write {expect_name} not found"
            elif kind == "write" and resp.status_code == 201:
                try:
                    created_id = int(json.loads(body)["id"])
                except (ValueError, KeyError, TypeError):
                    created_id = None
                if not resp.headers.get("Location") or created_id is None:
                    error = f"201 without Location or id: {body[:200]}"
            return self._record(
                kind,
                resp.status_code,
                resp,
                error,
                started,
                step,
                title=title,
                created_id=created_id,
                created_name=created_name,
                outcome=outcome,
                **extra,
            )

    def _record(
        self,
        kind: str,
        status: int | None,
        resp: requests.Response | None,
        error: str | None,
        started: float,
        step: str,
        *,
        title: str | None = None,
        created_id: int | None = None,
        created_name: str | None = None,
        request_id: str | None = None,
        key: str | None = None,
        attempt: int = 1,
        outcome: str | None = None,
        reconnected: bool = False,
        scheduled: bool = False,
        queued: float = 0.0,
    ) -> Record:
        headers = resp.headers if resp is not None else {}
        if error is None and status is not None and status >= 500:
            error = f"HTTP {status}"
        rec = Record(
            step=step,
            kind=kind,
            status=status,
            served_by=headers.get("X-Served-By"),
            version=headers.get("X-App-Version"),
            title=title,
            error=error,
            started=started,
            seconds=time.monotonic() - started,
            created_id=created_id,
            created_name=created_name,
            node=headers.get("X-Lab-Node"),
            request_id=request_id,
            front_status=headers.get("X-Front-Upstream-Status"),
            node_status=headers.get("X-Upstream-Status"),
            key=key,
            attempt=attempt,
            outcome=outcome,
            reconnected=reconnected,
            scheduled=scheduled,
            queued=queued,
        )
        with self._lock:
            self.records.append(rec)
            if outcome == LOGGED_OUT:
                self._logouts[step] += 1
            elif outcome == FORM_REFUSED:
                self._forms_refused[step] += 1
            if kind == "session":
                self._session_checks[step] += 1
            elif kind == "form":
                self._form_posts[step] += 1
        return rec

    # -- queries

    def of_step(self, step: str) -> list[Record]:
        """The records of one step."""
        with self._lock:
            return [r for r in self.records if r.step == step]

    def since(self, started: float) -> list[Record]:
        """The records of requests started at or after a monotonic time."""
        with self._lock:
            return [r for r in self.records if r.started >= started]

    def writes(self) -> list[Record]:
        """Every successful write (201 with an id)."""
        with self._lock:
            return [r for r in self.records if r.kind == "write" and r.created_id is not None]


def wait_for(
    what: str, check: Callable[[], object], timeout: float, interval: float = 1.0
) -> object:
    """Poll ``check`` until it returns something truthy; StepFailed on timeout."""
    return wait_until(what, check, timeout, interval, error=StepFailed)


class Swarm:
    """Read the swarm's state through the manager's CLI (``lab.Lab.docker``)."""

    def __init__(self, lab) -> None:
        self.lab = lab

    def _json_lines(self, *args: str) -> list[dict]:
        out = self.lab.docker(*args, "--format", "{{json .}}")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def tasks(self, service: str) -> list[dict]:
        """Tasks Swarm wants running (`docker service ps --filter desired-state=running`)."""
        return self._json_lines("service", "ps", service, "--filter", "desired-state=running")

    def service(self, service: str) -> dict:
        """`docker service inspect` of one service."""
        return json.loads(self.lab.docker("service", "inspect", service))[0]

    def nodes(self) -> dict[str, dict]:
        """`docker node ls` by host name."""
        return {n["Hostname"]: n for n in self._json_lines("node", "ls")}

    def active_nodes(self) -> list[str]:
        """Host names of the nodes that are Ready and Active."""
        return sorted(
            h
            for h, n in self.nodes().items()
            if n["Status"] == "Ready" and n["Availability"] == "Active"
        )

    def converged(
        self, service: str, count: int, image: str | None = None, not_on: str | None = None
    ) -> list[dict] | None:
        """The running tasks if exactly ``count`` run (of ``image``, not on ``not_on``)."""
        tasks = self.tasks(service)
        ok = (
            len(tasks) == count
            and all(t["CurrentState"].startswith("Running") for t in tasks)
            and (image is None or all(t["Image"] == image for t in tasks))
            and (not_on is None or all(t["Node"] != not_on for t in tasks))
        )
        return tasks if ok else None

    def container_hosts(self, service: str) -> set[str]:
        """Host names (container id prefixes) of the running tasks: their X-Served-By."""
        hosts = set()
        for task in self.tasks(service):
            info = json.loads(self.lab.docker("inspect", task["ID"]))[0]
            cid = info.get("Status", {}).get("ContainerStatus", {}).get("ContainerID")
            if cid:
                hosts.add(cid[:12])
        return hosts

    def task_container(self, task_id: str) -> tuple[str, str]:
        """(node, container id) of one task."""
        info = json.loads(self.lab.docker("inspect", task_id))[0]
        node_id = info["NodeID"]
        node = json.loads(self.lab.docker("node", "inspect", node_id))[0]["Description"]["Hostname"]
        return node, info["Status"]["ContainerStatus"]["ContainerID"]
