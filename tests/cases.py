"""Bad input the service must refuse with a clear 4xx, shared by two tiers.

The unit tier sends these through Flask's test client on SQLite; the
integration tier sends the same bytes to gunicorn on a real MariaDB. Each
case is transport-neutral: method, path, raw body, headers, and the status
and error text the client must see.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from helpers import DEMO_USER, basic_auth

AUTH = basic_auth(*DEMO_USER)
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Case:
    """One request and the refusal expected for it."""

    name: str
    method: str
    path: str
    status: int
    error: str  # a substring of the JSON "error" (or of the HTML page)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _post(name, path, payload, status, error, method="POST", auth=True, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {**JSON, **(AUTH if auth else {})}
    return Case(name, method, path, status, error, body, headers)


C = "/api/v1/countries"
BAD_READS = [
    Case("id-text", "GET", f"{C}/abc", 400, "invalid id"),
    Case("id-negative", "GET", f"{C}/-1", 400, "invalid id"),
    Case("id-zero", "GET", f"{C}/0", 400, "invalid id"),
    Case("id-decimal", "GET", f"{C}/1.5", 400, "invalid id"),
    Case("id-over-int32", "GET", f"{C}/2147483648", 400, "invalid id"),
    Case("id-huge", "GET", f"{C}/{'9' * 40}", 400, "invalid id"),
    Case("id-unicode-digits", "GET", f"{C}/%D9%A1", 400, "invalid id"),
    Case("id-missing-row", "GET", f"{C}/999999", 404, "not found"),
    Case("page-text", "GET", f"{C}?page=abc", 400, "invalid page"),
    Case("page-zero", "GET", f"{C}?page=0", 400, "invalid page"),
    Case("page-negative", "GET", f"{C}?page=-1", 400, "invalid page"),
    Case("page-huge", "GET", f"{C}?page=99999999999", 400, "invalid page"),
    Case("rows-zero", "GET", f"{C}?rows=0", 400, "invalid rows"),
    Case("rows-over-cap", "GET", f"{C}?rows=101", 400, "invalid rows"),
    Case("rows-float", "GET", f"{C}?rows=1e3", 400, "invalid rows"),
    Case("query-invalid-utf8", "GET", f"{C}?countryname=%ff%fe", 400, "invalid query string"),
    Case("query-nul", "GET", f"{C}?countryname=a%00b", 400, "invalid countryname"),
    Case("query-too-long", "GET", f"{C}?countrycode={'x' * 300}", 400, "invalid countrycode"),
    Case("city-id-text", "GET", "/cities/view/abc", 400, "invalid id"),
    Case("user-id-zero", "GET", "/users/view/0", 400, "invalid id"),
    Case("user-missing", "GET", "/api/v1/users/4242", 404, "not found"),
    Case("unknown-path", "GET", "/api/v1/nothing", 404, "not found"),
    Case("method", "DELETE", C, 405, "method not allowed", headers=AUTH),
]

BAD_WRITES = [
    Case(
        "no-auth",
        "POST",
        C,
        401,
        "authentication required",
        json.dumps({"countryname": "X", "countrycode": "X"}).encode(),
        JSON,
    ),
    Case(
        "wrong-password",
        "POST",
        C,
        401,
        "invalid credentials",
        b'{"countryname": "X", "countrycode": "X"}',
        {**JSON, **basic_auth(DEMO_USER[0], "nope")},
    ),
    Case(
        "unknown-user",
        "POST",
        C,
        401,
        "invalid credentials",
        b'{"countryname": "X", "countrycode": "X"}',
        {**JSON, **basic_auth("ghost", "x")},
    ),
    Case(
        "garbled-auth",
        "POST",
        C,
        401,
        "authentication required",
        b'{"countryname": "X", "countrycode": "X"}',
        {**JSON, "Authorization": "Basic !!!"},
    ),
    Case("no-auth-delete", "DELETE", f"{C}/1", 401, "authentication required"),
    Case(
        "text-plain",
        "POST",
        C,
        415,
        "unsupported media type",
        b'{"countryname": "X", "countrycode": "X"}',
        {**AUTH, "Content-Type": "text/plain"},
    ),
    Case(
        "no-content-type",
        "POST",
        C,
        415,
        "unsupported media type",
        b'{"countryname": "X", "countrycode": "X"}',
        AUTH,
    ),
    _post("malformed-json", C, None, 400, "malformed JSON", raw=b'{"countryname": '),
    _post("invalid-utf8-body", C, None, 400, "malformed JSON", raw=b'{"countryname": "\xff"}'),
    _post("deep-nesting", C, None, 400, "malformed JSON", raw=b"[" * 20000 + b"]" * 20000),
    _post("array", C, [{"countryname": "X", "countrycode": "X"}], 400, "invalid body"),
    _post("string", C, "X", 400, "invalid body"),
    _post("null", C, None, 400, "invalid body"),
    _post("empty-object", C, {}, 400, "invalid field"),
    _post("null-field", C, {"countryname": None, "countrycode": "X"}, 400, "invalid field"),
    _post("number-field", C, {"countryname": 5, "countrycode": "X"}, 400, "invalid field"),
    _post("blank-field", C, {"countryname": "   ", "countrycode": "X"}, 400, "invalid field"),
    _post("too-long", C, {"countryname": "x" * 256, "countrycode": "X"}, 400, "invalid field"),
    _post(
        "unknown-field",
        C,
        {"countryname": "X", "countrycode": "X", "capital": "Y"},
        400,
        "unknown fields",
    ),
    _post("client-id", C, {"id": 7, "countryname": "X", "countrycode": "X"}, 400, "invalid field"),
    _post("control-char", C, {"countryname": "a\u0007b", "countrycode": "X"}, 400, "invalid field"),
    _post(
        "lone-surrogate",
        C,
        None,
        400,
        "invalid field",
        raw=b'{"countryname": "\\ud800", "countrycode": "X"}',
    ),
    _post(
        "too-large",
        C,
        None,
        413,
        "too large",
        raw=b'{"countryname": "' + b"x" * 70000 + b'", "countrycode": "X"}',
    ),
    _post(
        "put-id-mismatch",
        f"{C}/1",
        {"id": 2, "countryname": "X", "countrycode": "X"},
        400,
        "invalid field",
        method="PUT",
    ),
    _post(
        "put-bad-id",
        f"{C}/abc",
        {"countryname": "X", "countrycode": "X"},
        400,
        "invalid id",
        method="PUT",
    ),
    _post(
        "put-missing-row",
        f"{C}/999999",
        {"countryname": "X", "countrycode": "X"},
        404,
        "not found",
        method="PUT",
    ),
    _post("put-partial", f"{C}/1", {"countryname": "X"}, 400, "invalid field", method="PUT"),
    _post(
        "user-enabled-text",
        "/api/v1/users",
        {"username": "u1", "password": "pass-word", "enabled": "yes"},
        400,
        "invalid field",
    ),
    _post(
        "user-enabled-bool",
        "/api/v1/users",
        {"username": "u1", "password": "pass-word", "enabled": True},
        400,
        "invalid field",
    ),
    _post(
        "user-enabled-range",
        "/api/v1/users",
        {"username": "u1", "password": "pass-word", "enabled": 2},
        400,
        "invalid field",
    ),
    _post("user-no-password", "/api/v1/users", {"username": "u1"}, 400, "invalid field"),
    _post(
        "user-short-password",
        "/api/v1/users",
        {"username": "u1", "password": "1234567"},
        400,
        "invalid field",
    ),
    _post(
        "user-unknown-usertype",
        "/api/v1/users",
        {"username": "u1", "password": "pass-word", "usertype": "0"},
        400,
        "invalid field",
    ),
    _post(
        "user-long-name",
        "/api/v1/users",
        {"username": "u" * 33, "password": "pass-word"},
        400,
        "invalid field",
    ),
    _post(
        "user-duplicate",
        "/api/v1/users",
        {"username": "test2", "password": "pass-word"},
        409,
        "conflict",
    ),
    _post(
        "user-rename-clash",
        "/api/v1/users/2",
        {"username": "test1", "password": "pass-word", "enabled": 1},
        409,
        "conflict",
        method="PUT",
    ),
    _post("city-no-name", "/api/v1/cities", {"state": "河北"}, 400, "invalid field"),
    Case("delete-bad-id", "DELETE", f"{C}/0", 400, "invalid id", headers=AUTH),
    Case("delete-missing", "DELETE", f"{C}/999999", 404, "not found", headers=AUTH),
]

BAD_INPUT = BAD_READS + BAD_WRITES
