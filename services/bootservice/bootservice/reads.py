"""The read path shared by the API, the pages and the legacy paths: paging
parameters, the read-cache decision, and the id parsed once."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request

from . import db
from .apierror import ApiError
from .auth import is_admin, viewer
from .cache import Snapshot
from .paging import page_info, paginate
from .resources import USERS, Resource
from .validation import PAGE_MAX, parse_id, query_int


def page_params() -> tuple[int, int]:
    """The `page` and `rows` query parameters, checked."""
    page = query_int(request.args, "page", 1, PAGE_MAX)
    rows = query_int(request.args, "rows", 10, current_app.config["PAGE_SIZE_MAX"])
    return page, rows


def sees_private(res: Resource, row_id: int | None = None) -> bool:
    """Whether the caller sees private fields: administrators always, a user
    their own row."""
    if res is not USERS:
        return False
    who = viewer()
    return is_admin(who) or (who is not None and row_id is not None and who.id == row_id)


def snapshot(res: Resource) -> Snapshot | None:
    """The read cache's copy of `res`'s table, checked once per request:
    a page that lists the table and renders it reads the counter once."""
    checked = g.setdefault("read_snapshots", {})
    if res.name not in checked:
        checked[res.name] = db.read_cache().table(res)
    return checked[res.name]


def list_json(res: Resource, full: bool = False) -> dict[str, Any]:
    """One page of `res`, filtered by the query string, as PageInfo.

    `full`: include the fields only the row's owner and administrators see
    (and allow searching them).
    """
    page, rows = page_params()
    filters = res.parse_filters(request.args)
    private = {f.name for f in res.fields if f.private}
    if not full and private & set(filters):
        raise ApiError(403, "forbidden", "searching private fields needs an administrator")
    if res.cached and not filters:
        snap = snapshot(res)
        if snap is not None:
            start = (page - 1) * rows
            return page_info(len(snap.rows), page, rows, snap.rows[start : start + rows])
    return paginate(db.session(), res.search(filters), page, rows, lambda r: res.to_json(r, full))


def path_id(res: Resource, raw_id: str) -> int:
    """The path's id, parsed once per request: a positive integer in range, or 400."""
    return parse_id(raw_id, res.id_max)


def read_json(res: Resource, row_id: int, full: bool = False) -> dict[str, Any]:
    """The resource with this id as JSON, or 404."""
    if res.cached:
        snap = snapshot(res)
        if snap is not None:
            found = snap.by_id.get(row_id)
            if found is None:
                raise not_found(res, row_id)
            return found
    return res.to_json(get_row(res, row_id), full)


def get_row(res: Resource, row_id: int, *, for_update: bool = False) -> Any:
    """The row with this id, or 404; `for_update` locks it until the commit,
    so a concurrent write or delete of the same row waits for this one."""
    row = db.session().get(res.model, row_id, with_for_update=for_update or None)
    if row is None:
        raise not_found(res, row_id)
    return row


def not_found(res: Resource, row_id: int) -> ApiError:
    """The 404 of a missing row."""
    return ApiError(404, "not found", f"no {res.singular} with id {row_id}")
