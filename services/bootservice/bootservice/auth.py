"""Who may write: HTTP Basic for the API, a login session for the pages.

Both check the same `user_info` rows. Password hashes are deliberately slow
(scrypt), so a process remembers for a minute which credentials it has just
verified, keyed by a keyed digest that also covers the stored hash: changing
a password or disabling a user takes effect at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select
from werkzeug.security import check_password_hash

from . import db
from .errors import ApiError
from .models import User

bp = Blueprint("auth", __name__)

_CACHE_TTL = 60.0
_CACHE_MAX = 1024
_cache_key = secrets.token_bytes(32)
_verified: dict[bytes, float] = {}
_lock = threading.Lock()
# Spent on unknown users so that their answer takes as long as a wrong password.
_DUMMY_HASH = "scrypt:32768:8:1$dummysaltdummysa$" + "0" * 128


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
    if not check_password_hash(user.password, password):
        return False
    with _lock:
        if len(_verified) >= _CACHE_MAX:
            _verified.clear()
        _verified[key] = now + _CACHE_TTL
    return True


def authenticate(username: str, password: str) -> User | None:
    """The enabled user with these credentials, or None."""
    if not username or len(username) > 32 or len(password) > 1024:
        return None
    user = db.session().scalars(select(User).where(User.username == username)).first()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not user.enabled or not _password_matches(user, password):
        return None
    return user


def require_basic_auth() -> User:
    """The API caller's user, or a 401 asking for HTTP Basic credentials."""
    creds = request.authorization
    if creds is None or creds.type != "basic":
        raise ApiError(401, "authentication required", "send HTTP Basic credentials")
    user = authenticate(creds.username or "", creds.password or "")
    if user is None:
        raise ApiError(401, "invalid credentials", "unknown user, wrong password or disabled")
    return user


# --- the pages: session login and CSRF ------------------------------------


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
            "Reload the page and try again.",
        )


def login_required(view: Any) -> Any:
    """Send anonymous visitors to the login form, then back."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not session.get("username"):
            flash("请先登录 (please log in first)", "error")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect would let a link send users away.
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("pages.countries")


def csrf_on_post() -> None:
    """Before-request hook of the form blueprints: every POST carries the token."""
    if request.method == "POST":
        check_csrf()


bp.before_request(csrf_on_post)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Show the login form; on POST check the credentials against user_info."""
    target = _safe_next(request.values.get("next"))
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        user = authenticate(username, password)
        if user is not None:
            session.clear()
            session["username"] = user.username
            csrf_token()
            flash(f"欢迎, {user.username} (logged in)", "success")
            return redirect(target)
        flash("用户名或密码错误 (wrong username or password)", "error")
        return render_template("login.html", next=target, username=username), 401
    return render_template("login.html", next=target, username="")


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """End the session."""
    session.clear()
    flash("已退出 (logged out)", "success")
    return redirect(url_for("pages.countries"))
