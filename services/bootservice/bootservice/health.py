"""Liveness and readiness probes for Docker, Swarm and nginx."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from . import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers. Touches no database on purpose, so a
    database outage never makes Swarm kill healthy web replicas."""
    return jsonify({"status": "ok", "version": current_app.config["APP_VERSION"]})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness: 200 when the database answers and its schema is this
    release's, else 503."""
    # Imported here, not at the top: `python -m bootservice.migrate` imports
    # the package first, which must not have imported the module it runs.
    from .migrate import current_revision, head_revision

    try:
        with db.engine().connect() as conn:
            conn.execute(text("SELECT 1"))
            revision = current_revision(conn)
    except SQLAlchemyError as exc:
        # The driver's text names hosts and accounts: for the log only.
        reason = str(getattr(exc, "orig", exc) or exc).splitlines()[0][:200]
        current_app.logger.warning("readyz: database unavailable: %s", reason)
        return jsonify({"status": "unavailable", "reason": "database unavailable"}), 503
    if revision != head_revision():
        current_app.logger.warning(
            "readyz: schema at %s, this release needs %s", revision, head_revision()
        )
        return jsonify({"status": "unavailable", "reason": "database schema not migrated"}), 503
    return jsonify({"status": "ready"}), 200
