"""The JSON API under /api/v1: list, read, create, replace and delete.

The same handlers serve countries, cities and users, driven by their
`Resource` description. Reads are public; writes need HTTP Basic.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from . import db, idempotency
from .auth import require_basic_auth
from .errors import ApiError
from .openapi import openapi_document
from .paging import page_info, paginate
from .resources import RESOURCES, Resource
from .validation import PAGE_MAX, json_object, parse_id, query_int

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def page_params() -> tuple[int, int]:
    """The `page` and `rows` query parameters, checked."""
    page = query_int(request.args, "page", 1, PAGE_MAX)
    rows = query_int(request.args, "rows", 10, current_app.config["PAGE_SIZE_MAX"])
    return page, rows


def list_json(res: Resource) -> dict[str, Any]:
    """One page of `res`, filtered by the query string, as PageInfo."""
    page, rows = page_params()
    filters = res.parse_filters(request.args)
    if res.cached and not filters:
        snap = db.read_cache().table(res, db.session)
        if snap is not None:
            start = (page - 1) * rows
            return page_info(len(snap.rows), page, rows, snap.rows[start : start + rows])
    return paginate(db.session(), res.search(filters), page, rows, res.to_json)


def read_json(res: Resource, raw_id: str) -> dict[str, Any]:
    """The resource with this id as JSON, or 404."""
    if res.cached:
        snap = db.read_cache().table(res, db.session)
        if snap is not None:
            found = snap.by_id.get(parse_id(raw_id, res.id_max))
            if found is None:
                raise _not_found(res, raw_id)
            return found
    return res.to_json(get_row(res, raw_id))


def get_row(res: Resource, raw_id: str) -> Any:
    """The row with this id, or 404."""
    row = db.session().get(res.model, parse_id(raw_id, res.id_max))
    if row is None:
        raise _not_found(res, raw_id)
    return row


def _not_found(res: Resource, raw_id: str) -> ApiError:
    return ApiError(404, "not found", f"no {res.singular} with id {raw_id}")


def create(res: Resource) -> Response:
    """Insert the request's row, flushed but not committed, and its 201."""
    values = res.validate(json_object(request), creating=True)
    res.conflicts(db.session(), values, None)
    row = res.save(db.session(), None, values, commit=False)
    resp = jsonify(res.to_json(row))
    resp.status_code = 201
    resp.headers["Location"] = url_for(f"api.{res.name}_item", raw_id=row.id)
    return resp


def _register(res: Resource) -> None:
    def collection() -> Any:
        if request.method == "GET":
            return jsonify(list_json(res))
        user = require_basic_auth()
        return idempotency.run_once(user.id, lambda: create(res))

    def item(raw_id: str) -> Any:
        if request.method == "GET":
            return jsonify(read_json(res, raw_id))
        require_basic_auth()
        sess = db.session()
        if request.method == "DELETE":
            sess.delete(get_row(res, raw_id))
            sess.commit()
            return Response(status=204)
        body = json_object(request)
        row = get_row(res, raw_id)
        if "id" in body and body["id"] != row.id:
            raise ApiError(400, "invalid field", {"id": "does not match the id in the path"})
        values = res.validate(body, creating=False)
        res.conflicts(sess, values, row.id)
        res.save(sess, row, values)
        return jsonify(res.to_json(row))

    bp.add_url_rule(f"/{res.name}", f"{res.name}_collection", collection, methods=["GET", "POST"])
    bp.add_url_rule(
        f"/{res.name}/<raw_id>", f"{res.name}_item", item, methods=["GET", "PUT", "DELETE"]
    )


for _res in RESOURCES:
    _register(_res)


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3 description of this API."""
    return jsonify(openapi_document(current_app.config["APP_VERSION"]))
