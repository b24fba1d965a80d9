"""The JSON API under /api/v1: list, read, create, replace and delete.

The same handlers serve countries, cities and users, driven by their
`Resource` description. Reads are public; writes need HTTP Basic. Any
enabled user may change countries and cities; users are changed by
administrators, and by each user for their own password and profile.
Each method has a view of its own, so HEAD (Flask's GET without a body)
never reaches a write.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from sqlalchemy import select

from . import db, idempotency, writes
from .apierror import ApiError
from .auth import end_user_sessions, is_admin, require_basic_auth
from .models import User
from .openapi import openapi_document
from .reads import get_row, list_json, not_found, path_id, read_json, sees_private
from .resources import ADMIN, RESOURCES, USERS, Resource
from .validation import json_object

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _forbidden(detail: str) -> ApiError:
    return ApiError(403, "forbidden", detail)


def _other_enabled_admins(row_id: int) -> int:
    """Enabled administrators besides `row_id`, locked until the commit so
    that two requests cannot each remove one of the last two."""
    ids = (
        db.session()
        .scalars(
            select(User.id)
            .where(User.usertype == ADMIN, User.enabled == 1, User.id != row_id)
            .with_for_update()
        )
        .all()
    )
    return len(ids)


def _guard_last_admin(row: User, stays_admin: bool) -> None:
    if is_admin(row) and not stays_admin and _other_enabled_admins(row.id) == 0:
        raise ApiError(
            409,
            "conflict",
            "the last enabled administrator cannot be disabled, demoted or deleted",
        )


def _authorize_user_write(caller: User, row: User | None, values: dict[str, Any]) -> None:
    """Administrators may change anything; others only their own profile."""
    if is_admin(caller):
        return
    if row is None or row.id != caller.id:
        raise _forbidden("only an administrator may create, change or delete other users")
    for name in ("usertype", "enabled"):
        if name in values and values[name] != getattr(row, name):
            raise _forbidden(f"a user cannot change their own {name}")


def _register(res: Resource) -> None:
    def listing() -> Any:
        return jsonify(list_json(res, sees_private(res)))

    def read(raw_id: str) -> Any:
        found = path_id(res, raw_id)
        return jsonify(read_json(res, found, sees_private(res, found)))

    def create() -> Any:
        caller = require_basic_auth()
        return idempotency.run_once(caller.id, lambda: insert(caller))

    def insert(caller: User) -> Response:
        """The new row, flushed but not committed (run_once commits), and its 201."""
        values = res.validate(json_object(request), creating=True)
        if res is USERS:
            _authorize_user_write(caller, None, values)
        sess = db.session()
        writes.check_conflicts(res, sess, values, None)
        row = writes.save(res, sess, None, values, commit=False)
        resp = jsonify(res.to_json(row, full=res is USERS))
        resp.status_code = 201
        resp.headers["Location"] = url_for(f"api.{res.name}_item", raw_id=row.id)
        return resp

    def replace(raw_id: str) -> Any:
        caller = require_basic_auth()
        found = path_id(res, raw_id)
        body = json_object(request)
        if "id" in body and body["id"] != found:
            raise ApiError(400, "invalid field", {"id": "does not match the id in the path"})
        values = res.validate(body, creating=False)
        sess = db.session()
        row = get_row(res, found, for_update=True)
        if res is USERS:
            _authorize_user_write(caller, row, values)
            stays_admin = values.get("usertype", row.usertype) == ADMIN and values["enabled"] == 1
            _guard_last_admin(row, stays_admin)
            if (
                "password" in values
                or values["enabled"] != row.enabled
                or values.get("usertype", row.usertype) != row.usertype
            ):
                end_user_sessions(row.id)
        writes.check_conflicts(res, sess, values, row.id)
        writes.save(res, sess, row, values)
        return jsonify(res.to_json(row, full=res is USERS))

    def remove(raw_id: str) -> Any:
        caller = require_basic_auth()
        found = path_id(res, raw_id)
        if res is USERS:
            row = get_row(res, found, for_update=True)
            _authorize_user_write(caller, row, {})
            if not is_admin(caller):
                raise _forbidden("only an administrator may delete users")
            _guard_last_admin(row, stays_admin=False)
            end_user_sessions(row.id)
        if not writes.delete_row(res, db.session(), found):
            raise not_found(res, found)
        return Response(status=204)

    collection = f"/{res.name}"
    item = f"/{res.name}/<raw_id>"
    bp.add_url_rule(collection, f"{res.name}_collection", listing, methods=["GET"])
    bp.add_url_rule(collection, f"{res.name}_create", create, methods=["POST"])
    bp.add_url_rule(item, f"{res.name}_item", read, methods=["GET"])
    bp.add_url_rule(item, f"{res.name}_replace", replace, methods=["PUT"])
    bp.add_url_rule(item, f"{res.name}_delete", remove, methods=["DELETE"])


for _res in RESOURCES:
    _register(_res)


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3 description of this API."""
    config = current_app.extensions["dws_config"]
    return jsonify(openapi_document(config.app_version, config.page_size_max))
