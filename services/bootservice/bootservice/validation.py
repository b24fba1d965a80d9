"""Parsing and checking of everything a client sends.

Each function either returns a clean value or raises ApiError(400/415) with a
message that names the offending parameter or field.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Request

from .apierror import ApiError

INT32_MAX = 2**31 - 1
PAGE_MAX = 1_000_000
SEARCH_MAX = 255


def check_query_encoding(req: Request) -> None:
    """Refuse a query string that is not valid UTF-8 once %-decoded."""
    raw = req.query_string
    if not raw:
        return
    try:
        unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid query string", "the query string is not valid UTF-8") from None


def parse_id(raw: str, max_id: int = INT32_MAX) -> int:
    """A path id: a positive integer within the column's range."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 20:
        raise ApiError(400, "invalid id", f"id must be a positive integer, got {raw!r}")
    value = int(raw)
    if not 1 <= value <= max_id:
        raise ApiError(400, "invalid id", f"id must be between 1 and {max_id}, got {value}")
    return value


def query_int(args: Any, name: str, default: int, high: int) -> int:
    """An optional positive integer query parameter, at most `high`."""
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise ApiError(400, f"invalid {name}", f"{name} must be a positive integer, got {raw!r}")
    value = int(raw)
    if not 1 <= value <= high:
        raise ApiError(400, f"invalid {name}", f"{name} must be between 1 and {high}, got {value}")
    return value


def query_text(args: Any, name: str) -> str | None:
    """An optional search string, stripped; None when empty."""
    raw = args.get(name)
    if raw is None:
        return None
    value = raw.strip()
    if not value:
        return None
    if len(value) > SEARCH_MAX:
        raise ApiError(400, f"invalid {name}", f"{name} is longer than {SEARCH_MAX} characters")
    problem = _bad_character(value)
    if problem:
        raise ApiError(400, f"invalid {name}", f"{name} {problem}")
    return value


def _bad_character(value: str) -> str | None:
    # Control characters and lone surrogates cannot be stored as utf8mb4
    # text sensibly (surrogates cannot be encoded at all).
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            return f"contains a control or surrogate character U+{ord(ch):04X}"
    return None


def clean_text(
    name: str,
    value: Any,
    max_length: int,
    *,
    required: bool,
    strip: bool = True,
    min_length: int = 1,
) -> str | None:
    """A text field of a JSON body or a form: a string within the lengths,
    stripped of surrounding white space unless `strip` is False."""
    if value is None:
        if required:
            raise ApiError(400, "invalid field", {name: "is required and may not be null"})
        return None
    if not isinstance(value, str):
        raise ApiError(400, "invalid field", {name: f"must be a string, got {type_name(value)}"})
    if strip:
        value = value.strip()
    if not value:
        if required:
            raise ApiError(400, "invalid field", {name: "may not be empty"})
        return None
    if len(value) < min_length:
        raise ApiError(400, "invalid field", {name: f"is shorter than {min_length} characters"})
    if len(value) > max_length:
        raise ApiError(400, "invalid field", {name: f"is longer than {max_length} characters"})
    problem = _bad_character(value)
    if problem:
        raise ApiError(400, "invalid field", {name: problem})
    return value


def clean_int(name: str, value: Any, low: int, high: int, *, required: bool) -> int | None:
    """An integer field of a JSON body between `low` and `high`."""
    if value is None:
        if required:
            raise ApiError(400, "invalid field", {name: "is required and may not be null"})
        return None
    # bool is an int subclass; true/false is not a number here.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, "invalid field", {name: f"must be an integer, got {type_name(value)}"})
    if not low <= value <= high:
        raise ApiError(400, "invalid field", {name: f"must be between {low} and {high}"})
    return value


def type_name(value: Any) -> str:
    """The JSON name of a decoded value's type."""
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def json_object(req: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 415/400 saying why not."""
    if not req.is_json:
        raise ApiError(
            415,
            "unsupported media type",
            f"send Content-Type: application/json, got {req.mimetype or 'none'!r}",
        )
    raw = req.get_data(cache=True)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "malformed JSON", "the body is not valid UTF-8") from None
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise ApiError(400, "malformed JSON", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid body", f"expected a JSON object, got {type_name(body)}")
    return body
