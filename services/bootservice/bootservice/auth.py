"""Who is asking: HTTP Basic for the API, a login session for the pages.

Both check the same `user_info` rows. Password hashes are deliberately slow
(scrypt), so a process remembers for a minute which credentials it has just
verified, keyed by a keyed digest that also covers the stored hash: changing
a password or disabling a user takes effect at once. Failed checks are
throttled per account and per client address (`throttle`).

A page session is a row of `web_session`; the signed cookie carries only a
random token whose digest is the row's key. Logout deletes the row, and so
does disabling, deleting or demoting a user or changing their password, so
a copied cookie stops working on every worker and replica at once. A
session ends `SESSION_LIFETIME` seconds after login whatever happens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from functools import wraps
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import delete, or_, select

from . import db, throttle
from .apierror import ApiError
from .models import User, WebSession
from .passwords import MAX_LENGTH, password_matches
from .resources import ADMIN

bp = Blueprint("auth", __name__)

_CACHE_TTL = 60.0
_CACHE_MAX = 1024
_cache_key = secrets.token_bytes(32)
_verified: dict[bytes, float] = {}
_lock = threading.Lock()
# The Cache-Control of an answer made for one user or one browser.
PRIVATE = "private, no-store"
# Spent on unknown and disabled users (same scrypt parameters as real
# hashes), so that every refused answer takes as long as a wrong password.
_DUMMY_HASH = "scrypt:32768:8:1$dummysaltdummysa$" + "0" * 128


def is_admin(user: User | None) -> bool:
    """True for an enabled administrator."""
    return user is not None and bool(user.enabled) and user.usertype == ADMIN


def _digest(username: str, password: str, stored: str) -> bytes:
    msg = "\0".join((username, password, stored)).encode("utf-8", "surrogatepass")
    return hmac.new(_cache_key, msg, hashlib.sha256).digest()


def _password_matches(user: User, password: str) -> bool:
    key = _digest(user.username, password, user.password)
    now = time.monotonic()
    with _lock:
        expiry = _verified.get(key)
    if expiry is not None and expiry > now:
        return True
    if not password_matches(user.password, password):
        return False
    with _lock:
        if len(_verified) >= _CACHE_MAX:
            _verified.clear()
        _verified[key] = now + _CACHE_TTL
    return True


def _policy() -> throttle.Policy:
    config = current_app.extensions["dws_config"]
    return throttle.Policy(
        config.throttle_window, config.throttle_account_failures, config.throttle_address_failures
    )


def authenticate(username: str, password: str) -> User | None:
    """The enabled user with these credentials, or None; 429 while throttled."""
    if not username or len(username) > 32 or len(password) > MAX_LENGTH:
        return None
    keys = throttle.keys(username, request.remote_addr)
    throttle.check(db.engine(), keys)
    user = db.session().scalars(select(User).where(User.username == username)).first()
    if user is None or not user.enabled:
        password_matches(_DUMMY_HASH, password)
        ok = False
    else:
        ok = _password_matches(user, password)
    if not ok:
        throttle.record_failure(db.engine(), keys, _policy())
        return None
    return user


def basic_user() -> User | None:
    """The API caller named by HTTP Basic credentials; None when none were
    sent; 401 for wrong ones."""
    creds = request.authorization
    if creds is None:
        return None
    if creds.type != "basic":
        raise ApiError(401, "authentication required", "send HTTP Basic credentials")
    if "g_basic_user" not in g:
        user = authenticate(creds.username or "", creds.password or "")
        if user is None:
            raise ApiError(401, "invalid credentials", "unknown user, wrong password or disabled")
        g.g_basic_user = user
    return g.g_basic_user


def forget_users() -> None:
    """Forget the request's users: they are rows of a session that was closed (a
    request run again after a database error looks them up in its new one)."""
    g.pop("g_basic_user", None)
    g.pop("page_user", None)


def require_basic_auth() -> User:
    """The API caller's user, or a 401 asking for HTTP Basic credentials."""
    user = basic_user()
    if user is None:
        raise ApiError(401, "authentication required", "send HTTP Basic credentials")
    return user


def viewer() -> User | None:
    """Who reads: the page session's user, else the HTTP Basic user, if any."""
    return page_user() or basic_user()


# --- page sessions ----------------------------------------------------------


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def page_user() -> User | None:
    """The logged-in user of this page session, checked against the database
    once per request; a session that ended is forgotten."""
    if "page_user" in g:
        return g.page_user
    # Nobody until the database says otherwise: if it cannot answer, the
    # error page rendered next shows an anonymous header rather than asking
    # it again (a second failure inside the error handler would be a 500).
    g.page_user = user = None
    token = session.get("sid")
    if isinstance(token, str):
        now = int(time.time())
        found = (
            db.session()
            .execute(
                select(User)
                .join(WebSession, WebSession.user_id == User.id)
                .where(WebSession.id == _token_id(token), WebSession.expires_at > now)
            )
            .scalar_one_or_none()
        )
        if found is not None and found.enabled:
            user = found
        else:
            session.pop("sid", None)
    g.page_user = user
    return user


def start_session(user: User) -> None:
    """A new session for `user` (a new token: the old cookie is worthless)."""
    config = current_app.extensions["dws_config"]
    now = int(time.time())
    token = secrets.token_urlsafe(32)
    sess = db.session()
    # Sessions past their lifetime are of no use to anyone, and the one this
    # cookie held until now ends with the new login.
    ended = [WebSession.expires_at <= now]
    old = session.get("sid")
    if isinstance(old, str):
        ended.append(WebSession.id == _token_id(old))
    sess.execute(delete(WebSession).where(or_(*ended)))
    sess.add(
        WebSession(
            id=_token_id(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + config.session_lifetime,
        )
    )
    sess.commit()
    session.clear()
    session.permanent = True
    session["sid"] = token
    g.page_user = user


def end_user_sessions(user_id: int) -> None:
    """Delete every session of a user, in the caller's transaction."""
    db.session().execute(delete(WebSession).where(WebSession.user_id == user_id))


# --- the pages: login and CSRF ---------------------------------------------


def csrf_token() -> str:
    """This session's CSRF token, created on first use."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    """Refuse a form POST whose token does not match the session's."""
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(
            400,
            "The form expired or was not sent by this site (CSRF check failed). "
            "Reload the page and try again. / 表单已过期或不是本站提交的, 请刷新页面后重试.",
        )


def login_required(view: Any) -> Any:
    """Send anonymous visitors to the login form, then back."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if page_user() is None:
            flash("请先登录 (please log in first)", "error")
            return redirect(url_for("auth.login", next=return_address()))
        return view(*args, **kwargs)

    return wrapped


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect would let a link send users away.
    # The login form itself is no place to return to: its own `next` is.
    for _ in range(4):
        if not target or not target.startswith("/") or target.startswith("//"):
            break
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or "\\" in target:
            break
        if parts.path != url_for("auth.login"):
            return target
        target = (parse_qs(parts.query).get("next") or [None])[0]
    return url_for("pages.countries")


def return_address() -> str:
    """Where a login started from this request should lead back to: this page,
    or on the login form the page that sent the visitor there."""
    if request.endpoint == "auth.login":
        return _safe_next(request.values.get("next"))
    return request.full_path.rstrip("?")


def mark_private(resp: Response) -> Response:
    """After-request hook: an answer made for one user is kept by no cache
    and shown to nobody else (one that sets the session cookie is marked
    where the session is saved)."""
    # Any Authorization header counts, whether or not it named a user (the
    # Basic user is looked up only when one was sent).
    if g.get("page_user") is not None or "HTTP_AUTHORIZATION" in request.environ:
        resp.headers["Cache-Control"] = PRIVATE
    return resp


def csrf_on_post() -> None:
    """Before-request hook of the form blueprints: every POST carries the token."""
    if request.method == "POST":
        check_csrf()


bp.before_request(csrf_on_post)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Show the login form; on POST check the credentials against user_info."""
    target = _safe_next(request.values.get("next"))
    if request.method != "POST":
        return render_template("login.html", next=target, username="")
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    try:
        user = authenticate(username, password)
    except ApiError as exc:
        if exc.status != 429:
            raise
        flash(f"尝试次数过多, 请稍后再试 (too many failed attempts: {exc.detail})", "error")
        page = render_template("login.html", next=target, username=username)
        return page, 429, exc.headers
    if user is not None:
        throttle.clear_account(db.engine(), throttle.keys(username, request.remote_addr))
        start_session(user)
        csrf_token()
        flash(f"欢迎, {user.username} (logged in)", "success")
        return redirect(target)
    flash("用户名或密码错误 (wrong username or password)", "error")
    return render_template("login.html", next=target, username=username), 401


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """End the session here and in the database."""
    token = session.get("sid")
    if isinstance(token, str):
        sess = db.session()
        sess.execute(delete(WebSession).where(WebSession.id == _token_id(token)))
        sess.commit()
    session.clear()
    g.page_user = None
    flash("已退出 (logged out)", "success")
    return redirect(url_for("pages.countries"))
