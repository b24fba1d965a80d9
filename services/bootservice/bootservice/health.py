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
    """Readiness: 200 when the database answers a trivial query, else 503."""
    try:
        with db.engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc) or exc).splitlines()[0][:200]
        return jsonify({"status": "unavailable", "reason": f"database: {reason}"}), 503
    return jsonify({"status": "ready"}), 200
