"""The OpenAPI 3 document of /api/v1, generated from the resource descriptions."""

from __future__ import annotations

from typing import Any

from .paging import PAGE_INFO_SAMPLE
from .resources import RESOURCES, Field, Resource
from .validation import PAGE_MAX, SEARCH_MAX

_ERROR = {"$ref": "#/components/schemas/Error"}


def _field_schema(res: Resource, f: Field) -> dict[str, Any]:
    if f.kind == "integer":
        return {"type": "integer", "minimum": f.low, "maximum": f.high}
    schema: dict[str, Any] = {
        "type": "string",
        "minLength": f.min_length,
        "maxLength": res.max_length(f),
    }
    if f.choices:
        schema["enum"] = list(f.choices)
    return schema


def _schemas(res: Resource) -> dict[str, Any]:
    title = res.singular.capitalize()
    read_props: dict[str, Any] = {"id": {"type": "integer", "minimum": 1, "maximum": res.id_max}}
    write_props: dict[str, Any] = {}
    for f in res.fields:
        schema = _field_schema(res, f)
        write_props[f.name] = schema if f.required else {"anyOf": [schema, {"type": "null"}]}
        if not f.write_only:
            read_props[f.name] = write_props[f.name]
    # Private fields are present only for administrators and the user themself.
    required_read = ["id"] + [f.name for f in res.fields if not f.write_only and not f.private]
    return {
        title: {
            "type": "object",
            "properties": read_props,
            "required": required_read,
            "additionalProperties": False,
        },
        f"{title}Input": {
            "type": "object",
            "properties": write_props,
            "required": [f.name for f in res.fields if f.required and f.default is None],
            "additionalProperties": False,
        },
        f"{title}Page": {
            "allOf": [
                {"$ref": "#/components/schemas/PageInfo"},
                {
                    "type": "object",
                    "properties": {
                        "list": {
                            "type": "array",
                            "items": {"$ref": f"#/components/schemas/{title}"},
                        }
                    },
                },
            ]
        },
    }


def _responses(**codes: Any) -> dict[str, Any]:
    out = {}
    for code, spec in codes.items():
        status = code.lstrip("_")
        if spec is None:
            out[status] = {
                "description": "error",
                "content": {"application/json": {"schema": _ERROR}},
            }
        else:
            out[status] = spec
    return out


def _json(description: str, ref: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _paths(res: Resource, page_size_max: int) -> dict[str, Any]:
    title = res.singular.capitalize()
    body = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{title}Input"}}},
    }
    id_param = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": res.id_max},
    }
    filters = [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": "case-insensitive substring",
            "schema": {"type": "string", "maxLength": SEARCH_MAX},
        }
        for name in res.filters
    ]
    paging = [
        {
            "name": "page",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": 1},
        },
        {
            "name": "rows",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": page_size_max, "default": 10},
        },
    ]
    auth = [{"basicAuth": []}]
    errors = {"_400": None, "_503": None}
    write_errors = {
        "_400": None,
        "_401": None,
        "_403": None,
        "_409": None,
        "_415": None,
        "_429": None,
        "_503": None,
    }
    return {
        f"/api/v1/{res.name}": {
            "get": {
                "summary": f"List {res.name}, paged and searchable",
                "parameters": filters + paging,
                "responses": _responses(_200=_json("one page", f"{title}Page"), **errors),
            },
            "post": {
                "summary": f"Create a {res.singular}",
                "security": auth,
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "a repeat with the same key and body gets the first "
                        "response instead of creating again; kept 24 h",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 257},
                    }
                ],
                "requestBody": body,
                "responses": _responses(
                    _201={
                        **_json(
                            "created (or, on a repeated Idempotency-Key, the first answer)", title
                        ),
                        "headers": {"Location": {"schema": {"type": "string"}}},
                    },
                    **write_errors,
                    _422=None,
                ),
            },
        },
        f"/api/v1/{res.name}/{{id}}": {
            "parameters": [id_param],
            "get": {
                "summary": f"Read one {res.singular}",
                "responses": _responses(_200=_json("found", title), _404=None, **errors),
            },
            "put": {
                "summary": f"Replace a {res.singular}",
                "security": auth,
                "requestBody": body,
                "responses": _responses(_200=_json("replaced", title), _404=None, **write_errors),
            },
            "delete": {
                "summary": f"Delete a {res.singular}",
                "security": auth,
                "responses": _responses(
                    _204={"description": "deleted"},
                    _404=None,
                    _400=None,
                    _401=None,
                    _403=None,
                    _409=None,
                    _429=None,
                    _503=None,
                ),
            },
        },
    }


def _json_type(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, list) and value and isinstance(value[0], int):
        return {"type": "array", "items": {"type": "integer"}}
    return {"type": "array"}


def openapi_document(version: str, page_size_max: int) -> dict[str, Any]:
    """The whole document; `version` is the running APP_VERSION, and
    `page_size_max` the configured cap of `rows`."""
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "properties": {"error": {"type": "string"}, "detail": {}},
            "required": ["error", "detail"],
        },
        "PageInfo": {
            "type": "object",
            "properties": {name: _json_type(value) for name, value in PAGE_INFO_SAMPLE.items()},
            "required": list(PAGE_INFO_SAMPLE),
        },
    }
    paths: dict[str, Any] = {}
    for res in RESOURCES:
        schemas.update(_schemas(res))
        paths.update(_paths(res, page_size_max))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dws bootservice citydb API",
            "version": version,
            "description": "Countries, cities and users of citydb. Reads are public; "
            "writes need HTTP Basic credentials of a user_info account. "
            "Users are changed by administrators (usertype 1), and each user may change "
            "their own password and profile; personal fields (realname, qq, email, tel) "
            "are shown only to administrators and the user themself.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
        },
    }
