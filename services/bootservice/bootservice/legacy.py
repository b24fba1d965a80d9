"""The original service's JSON read paths, kept for its old clients.

`/cities`, `/cities/view/<id>`, `/users`, `/users/view/<id>` answer with the
same shapes as /api/v1 (passwords never included). The original's
`/delete/<id>` GET, which changed data on a GET, is deliberately gone.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from .reads import list_json, path_id, read_json, sees_private
from .resources import CITIES, USERS, Resource

bp = Blueprint("legacy", __name__)


def _register(res: Resource) -> None:
    def listing() -> Any:
        return jsonify(list_json(res, sees_private(res)))

    def view(raw_id: str) -> Any:
        found = path_id(res, raw_id)
        return jsonify(read_json(res, found, sees_private(res, found)))

    def add() -> Any:
        # The original answered /add with an empty object to fill in.
        return jsonify({"id": None} | {f.name: None for f in res.fields if not f.write_only})

    bp.add_url_rule(f"/{res.name}", f"{res.name}_list", listing)
    bp.add_url_rule(f"/{res.name}/view/<raw_id>", f"{res.name}_view", view)
    bp.add_url_rule(f"/{res.name}/add", f"{res.name}_add", add)


for _res in (CITIES, USERS):
    _register(_res)
