"""What the API exposes of each table: its fields, filters and validation.

One description per resource drives the JSON API, the legacy read paths and
the OpenAPI document, so the three cannot drift apart. Column lengths come
from the models. The writes themselves are in writes.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from . import passwords
from .apierror import ApiError
from .models import Base, City, Country, User
from .validation import INT32_MAX, clean_int, clean_text, query_text


@dataclass(frozen=True)
class Field:
    """One client-visible field of a resource."""

    name: str
    kind: str = "string"  # "string" or "integer"
    required: bool = False
    write_only: bool = False  # accepted on write, never returned (password)
    low: int = 0
    high: int = INT32_MAX
    default: Any = None  # stored when a create omits the field
    keep_on_put: bool = False  # a PUT that leaves it out keeps the stored value
    private: bool = False  # shown only to administrators and the row's own user
    strip: bool = True  # surrounding white space removed (not for passwords)
    min_length: int = 1
    choices: tuple[str, ...] = ()  # the only values accepted, when set


@dataclass(frozen=True)
class Resource:
    """A table served under /api/v1/<name>."""

    name: str  # plural path segment: "countries"
    singular: str
    model: type[Base]
    fields: tuple[Field, ...]
    filters: tuple[str, ...]  # query parameters searched by substring
    id_max: int = INT32_MAX
    unique: tuple[str, ...] = ()  # fields with a unique index: a clash is 409
    cached: bool = False  # hot reads served from the per-process ReadCache
    # Turns a validated value before it is stored (hashing the password).
    transforms: tuple[tuple[str, Callable[[Any], Any]], ...] = ()

    def max_length(self, field: Field) -> int:
        """The column's VARCHAR length, from the model."""
        return self.model.__table__.c[field.name].type.length

    def field_names(self) -> set[str]:
        """Names a client may send."""
        return {f.name for f in self.fields}

    def to_json(self, row: Base, full: bool = False) -> dict[str, Any]:
        """The row as the API returns it: id first, write-only fields left
        out, private fields only when `full`."""
        out: dict[str, Any] = {"id": row.id}
        for f in self.fields:
            if not f.write_only and (full or not f.private):
                out[f.name] = getattr(row, f.name)
        return out

    def _clean(self, f: Field, raw: Any) -> Any:
        if f.kind == "integer":
            return clean_int(f.name, raw, f.low, f.high, required=f.required)
        value = clean_text(
            f.name,
            raw,
            self.max_length(f),
            required=f.required,
            strip=f.strip,
            min_length=f.min_length,
        )
        if f.choices and value is not None and value not in f.choices:
            choices = " or ".join(repr(c) for c in f.choices)
            raise ApiError(400, "invalid field", {f.name: f"must be {choices}"})
        return value

    def parse_filters(self, args: Any) -> dict[str, str]:
        """The search parameters the query string sets (checked, non-empty)."""
        found = {name: query_text(args, name) for name in self.filters}
        return {name: value for name, value in found.items() if value is not None}

    def search(self, filters: dict[str, str]) -> Select:
        """SELECT of this table, each filter a case-insensitive substring."""
        stmt = select(self.model)
        for name, value in filters.items():
            column = getattr(self.model, name)
            stmt = stmt.where(column.icontains(value, autoescape=True))
        return stmt.order_by(self.model.id)

    def validate(self, body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        """Check a JSON body; returns the column values to store.

        PUT replaces the resource, so the same required fields apply as for
        POST; a write-only field left out of a PUT keeps its stored value.
        """
        if "id" in body and creating:
            raise ApiError(400, "invalid field", {"id": "is assigned by the server"})
        unknown = sorted(set(body) - self.field_names() - {"id"})
        if unknown:
            raise ApiError(400, "unknown fields", {name: "is not a field" for name in unknown})
        values: dict[str, Any] = {}
        problems: dict[str, Any] = {}
        for f in self.fields:
            if f.keep_on_put and not creating and f.name not in body:
                continue
            raw = body.get(f.name, f.default if creating else None)
            try:
                values[f.name] = self._clean(f, raw)
            except ApiError as exc:
                # Every field's problem at once: a form shows each beside its field.
                problems.update(exc.detail)
        if problems:
            raise ApiError(400, "invalid field", problems)
        for name, transform in self.transforms:
            if values.get(name) is not None:
                values[name] = transform(values[name])
        return values


# user_info.usertype: "1" administers users, "2" (or none) edits countries
# and cities and its own profile.
ADMIN = "1"
ORDINARY = "2"

COUNTRIES = Resource(
    name="countries",
    singular="country",
    model=Country,
    fields=(Field("countryname", required=True), Field("countrycode", required=True)),
    filters=("countryname", "countrycode"),
    cached=True,
)

CITIES = Resource(
    name="cities",
    singular="city",
    model=City,
    fields=(Field("name", required=True), Field("state")),
    filters=("name", "state"),
    id_max=2**63 - 1,
)

USERS = Resource(
    name="users",
    singular="user",
    model=User,
    fields=(
        Field("username", required=True),
        Field(
            "password",
            required=True,
            write_only=True,
            keep_on_put=True,
            strip=False,
            min_length=passwords.MIN_LENGTH,
        ),
        Field("usertype", default=ORDINARY, keep_on_put=True, choices=(ADMIN, ORDINARY)),
        Field("enabled", kind="integer", low=0, high=1, required=True, default=1),
        Field("realname", private=True),
        Field("qq", private=True),
        Field("email", private=True),
        Field("tel", private=True),
    ),
    filters=("username", "realname"),
    unique=("username",),
    transforms=(("password", passwords.hash_password),),
)

RESOURCES = (COUNTRIES, CITIES, USERS)
