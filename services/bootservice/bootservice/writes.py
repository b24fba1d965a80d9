"""The writes of a `Resource`'s table: create, update and delete.

Each raises the table's write counter in the same transaction, so that
every worker's read cache sees the change (versions.py, cache.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .apierror import ApiError
from .models import Base
from .resources import Resource
from .versions import bump_version


def check_conflicts(
    res: Resource, session: Session, values: dict[str, Any], row_id: int | None
) -> None:
    """Raise 409 when a unique field's value belongs to another row.

    Checked before the write for a clear message; the unique index still
    guards against a race (its IntegrityError becomes 409 as well).
    """
    for name in res.unique:
        if values.get(name) is None:
            continue
        column = getattr(res.model, name)
        found = session.scalar(select(res.model.id).where(column == values[name]))
        if found is not None and found != row_id:
            raise ApiError(409, "conflict", {name: f"{values[name]!r} is already taken"})


def save(
    res: Resource,
    session: Session,
    row: Base | None,
    values: dict[str, Any],
    commit: bool = True,
) -> Base:
    """Insert a new row (`row` None) or update `row` with validated values.

    With `commit` False the change is only flushed (the row has its id),
    for a caller that commits more in the same transaction.
    """
    if row is None:
        row = res.model(**values)
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    bump_version(session, res.model.__tablename__, res.cached)
    if commit:
        session.commit()
    else:
        session.flush()
    return row


def delete_row(res: Resource, session: Session, row_id: int) -> bool:
    """Delete the row and commit; False when no row had this id (another
    request deleted it first)."""
    table = res.model.__table__
    done = session.execute(delete(table).where(table.c.id == row_id))
    if done.rowcount == 0:  # type: ignore[attr-defined]
        session.rollback()
        return False
    bump_version(session, res.model.__tablename__, res.cached)
    session.commit()
    return True
