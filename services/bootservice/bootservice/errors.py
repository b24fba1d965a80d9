"""Every failure becomes a clear HTTP answer: JSON for the API, a page for HTML.

The JSON shape is always `{"error": "...", "detail": ...}`. Expected failures
(bad input, missing rows, conflicts, a database that is down) never reach
the 500 handler; that one rolls the session back and logs the traceback.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from . import db
from .apierror import ApiError


def wants_html() -> bool:
    """True for the HTML pages, which show errors as a page, not JSON.

    A path that matched no route gets a page only when the client prefers
    HTML (a browser); API clients and curl get JSON.
    """
    if request.blueprint in ("pages", "auth"):
        return True
    if request.blueprint is None and not request.path.startswith("/api/"):
        best = request.accept_mimetypes.best_match(["application/json", "text/html"])
        return best == "text/html"
    return False


# The pages are bilingual: each status's title in Chinese beside the English.
TITLES_ZH = {
    400: "请求有误",
    401: "需要登录",
    403: "没有权限",
    404: "未找到",
    405: "不允许的方法",
    409: "冲突",
    413: "请求过大",
    415: "不支持的类型",
    429: "尝试次数过多",
    500: "服务器错误",
    503: "服务暂不可用",
}


# The addresses of the pages and the login (pages.py, auth.py); the API,
# the legacy JSON paths and the probes keep their JSON errors.
PAGE_PATHS = ("/countries", "/login", "/logout")
METHOD_NOT_ALLOWED_ZH_EN = (
    "此地址不接受 {method} 请求 (this address does not accept the method {method})"
)


def error_response(
    status: int, error: str, detail: Any = None, html: bool | None = None
) -> Response:
    """Render one error as JSON or as the error page (`html`; default: as
    `wants_html` says), with its status."""
    html = wants_html() if html is None else html
    if html:
        body = render_template(
            "error.html",
            status=status,
            error=error,
            detail=detail,
            title_zh=TITLES_ZH.get(status, "错误"),
        )
        resp = Response(body, status=status, mimetype="text/html")
    else:
        resp = jsonify({"error": error, "detail": detail})
        resp.status_code = status
    if status == 401 and not html:
        resp.headers["WWW-Authenticate"] = 'Basic realm="citydb", charset="UTF-8"'
    if status == 503:
        resp.headers["Retry-After"] = "5"
    return resp


def _database_unavailable(exc: Exception) -> Response:
    db.close_session()
    if isinstance(exc, PoolTimeout):
        reason = "timed out waiting for a database connection"
    else:
        reason = "the database did not answer"
    return error_response(503, "database unavailable", reason)


def _is_connection_failure(exc: DBAPIError) -> bool:
    # OperationalError covers refused connections, timeouts and lost
    # connections; InterfaceError is what PyMySQL raises on a closed socket.
    return isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated


def register(app: Flask) -> None:
    """Install the error handlers on `app`."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        resp = error_response(exc.status, exc.error, exc.detail)
        resp.headers.update(exc.headers)
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        detail, html = exc.description, None
        if exc.code == 405 and request.path.startswith(PAGE_PATHS):
            # A method a page's address has no view for: the answer is a
            # page, and werkzeug's own sentence is English only.
            detail = METHOD_NOT_ALLOWED_ZH_EN.format(method=request.method)
            html = True
        resp = error_response(exc.code or 500, exc.name.lower(), detail, html)
        if exc.code == 405 and exc.valid_methods:
            resp.headers["Allow"] = ", ".join(exc.valid_methods)
        return resp

    @app.errorhandler(IntegrityError)
    def _conflict(exc: IntegrityError) -> Response:
        db.close_session()
        return error_response(409, "conflict", "the change conflicts with existing data")

    @app.errorhandler(StaleDataError)
    def _stale(exc: StaleDataError) -> Response:
        # Another request changed or deleted the row between our read and write.
        db.close_session()
        return error_response(409, "conflict", "the row was changed or deleted concurrently")

    @app.errorhandler(PoolTimeout)
    def _pool_timeout(exc: PoolTimeout) -> Response:
        return _database_unavailable(exc)

    @app.errorhandler(DBAPIError)
    def _dbapi_error(exc: DBAPIError) -> Response:
        if _is_connection_failure(exc):
            app.logger.warning("database unavailable: %s", exc.orig)
            return _database_unavailable(exc)
        return _internal_error(exc)

    @app.errorhandler(Exception)
    def _internal_error(exc: Exception) -> Response:
        db.close_session()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal server error", None)
