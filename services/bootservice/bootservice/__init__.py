"""bootservice: the citydb web service of the dws Docker Swarm demo.

`create_app()` is the application factory: defaults, then the environment,
then the overrides a caller (a test) passes.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import BadSignature, URLSafeTimedSerializer

from . import api, auth, db, errors, galera, health, legacy, metrics, pages
from .auth import PRIVATE
from .config import GENERATED_KEY_WARNING, Config, load_config
from .cork import CorkedResponses
from .middleware import FixedHeaders, TrustedProxies
from .validation import check_query_encoding

__all__ = ["create_app", "Config", "load_config"]

BASE_TITLE = "国家(地区)列表"


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS
    (directly, or through a trusted proxy's X-Forwarded-Proto)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # Most requests carry no cookie (API clients, anonymous pages): an
        # empty session needs no serializer built and no signature checked,
        # and without a Cookie header not even the header parsed.
        if "HTTP_COOKIE" not in request.environ or not request.cookies.get(
            self.get_cookie_name(app)
        ):
            return self.session_class()
        session = super().open_session(app, request)
        if session and app.config["SECRET_KEY_FALLBACKS"] and not self._signed_now(app, request):
            # Signed with a key being retired: signed again with today's key
            # in this answer, so a visitor who keeps using the site is not
            # logged out when that key goes.
            session.modified = True
        return session

    def _signed_now(self, app: Flask, request: Request) -> bool:
        """Whether the session cookie is signed with the current key."""
        current = URLSafeTimedSerializer(
            app.secret_key,
            salt=self.salt,
            serializer=self.serializer,
            signer_kwargs={
                "key_derivation": self.key_derivation,
                "digest_method": self.digest_method,
            },
        )
        try:
            current.loads(request.cookies[self.get_cookie_name(app)])
        except BadSignature:
            return False
        return True

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        # A session nobody read or changed sets no cookie and no Vary. (The
        # `session` proxy marks it read when touched at all, so this is
        # asked here, of the object, and not in an after-request hook.)
        if not (session or session.modified or session.accessed):
            return
        super().save_session(app, session, response)
        if "Set-Cookie" in response.headers:
            # This browser's cookie: the answer is for nobody else. (Flask
            # has added `Vary: Cookie`: a cookie is set only for a session
            # that was changed, and so read.)
            response.headers["Cache-Control"] = PRIVATE


def page_title(config: Config) -> str:
    """The list page's title: 1.x shows the original title, later versions
    append the version, as the tutorial's 2.0 image did."""
    if config.major_version == "1":
        return BASE_TITLE
    return f"{BASE_TITLE}-{config.app_version}版本"


def create_app(config: Config | None = None, **overrides: Any) -> Flask:
    """Build the Flask app from `config` (default: the environment)."""
    if config is None:
        config = load_config(**overrides)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=config.secret_key,
        SECRET_KEY_FALLBACKS=list(config.secret_key_fallbacks),
        APP_VERSION=config.app_version,
        PAGE_TITLE=page_title(config),
        PAGE_SIZE_MAX=config.page_size_max,
        MAX_CONTENT_LENGTH=config.max_content_length,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=config.session_lifetime,
        # The login session ends SESSION_LIFETIME after login whatever the
        # cookie says (auth.py): a cookie re-sent with every answer would
        # only cost a signature and make every answer private.
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    app.session_interface = _SessionInterface()
    if config.trusted_proxies:
        # X-Forwarded-For and -Proto from this many proxies in front are
        # believed: the client address (throttling, logs) and HTTPS (cookies).
        app.wsgi_app = TrustedProxies(app.wsgi_app, config.trusted_proxies)  # type: ignore[method-assign]
    instance = socket.gethostname()
    app.wsgi_app = FixedHeaders(app.wsgi_app, config.app_version, instance)  # type: ignore[method-assign]
    # A response leaves in one burst, never its header alone (see cork.py).
    app.wsgi_app = CorkedResponses(app.wsgi_app)  # type: ignore[method-assign]
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    app.extensions["dws_config"] = config

    db.init_app(app, config)
    errors.register(app)
    for blueprint in (health.bp, api.bp, legacy.bp, auth.bp, pages.bp):
        app.register_blueprint(blueprint)
    # After the blueprints: it wraps their views.
    galera.install(app)
    # After the database and the WSGI layers: it watches the pools and wraps
    # the whole app.
    metrics.init_app(app, config)

    @app.before_request
    def _check_query() -> None:
        check_query_encoding(request)

    app.after_request(auth.mark_private)

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        return {
            "app_version": config.app_version,
            "instance": instance,
            "page_title": app.config["PAGE_TITLE"],
            "csrf_token": auth.csrf_token,
            "current_user": auth.page_user,
            "login_next": auth.return_address,
        }

    if config.secret_key_generated and not config.embedded:
        logging.getLogger(__name__).warning(GENERATED_KEY_WARNING)
    return app
