"""Failed-authentication throttling, shared through the database.

Each failed password check counts against the account and against the
client address. Once either reaches its limit within the window, every
attempt for that key answers 429 with Retry-After until the window ends,
without checking the password at all (no scrypt is spent on a flood). The
counters live in `auth_throttle`, so every worker and replica agrees. They
are written on a connection of their own: a failure is counted even though
the request that caused it is refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError

from . import metrics
from .apierror import ApiError
from .models import AuthThrottle


@dataclass(frozen=True)
class Policy:
    """How many failures a key may have per window."""

    window: int
    account_failures: int
    address_failures: int


def keys(username: str, address: str | None) -> dict[str, str]:
    """The throttle keys of an attempt: its account and its client address.

    Usernames compare case-insensitively in MySQL's collation, so the
    account key does too.
    """
    out = {"account": "user:" + username.casefold()[:64]}
    if address:
        out["address"] = "addr:" + address[:64]
    return out


def check(engine: Engine, key_map: dict[str, str]) -> None:
    """Raise 429 when any key is blocked now."""
    now = int(time.time())
    with engine.connect() as conn:
        blocked = conn.scalar(
            select(AuthThrottle.blocked_until)
            .where(AuthThrottle.key.in_(key_map.values()))
            .order_by(AuthThrottle.blocked_until.desc())
            .limit(1)
        )
    if blocked is not None and blocked > now:
        wait = blocked - now
        metrics.count_throttled()
        raise ApiError(
            429,
            "too many failed attempts",
            f"try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def record_failure(engine: Engine, key_map: dict[str, str], policy: Policy) -> None:
    """Count one failure against every key; start a block at the limit."""
    limits = {"account": policy.account_failures, "address": policy.address_failures}
    now = int(time.time())
    for kind, key in key_map.items():
        for _attempt in range(2):  # a concurrent first insert: count again as an update
            try:
                _count(engine, key, limits[kind], policy.window, now)
                break
            except IntegrityError:
                continue


def _count(engine: Engine, key: str, limit: int, window: int, now: int) -> None:
    table = AuthThrottle.__table__
    with engine.begin() as conn:
        row = conn.execute(select(table).where(table.c.key == key).with_for_update()).first()
        if row is None:
            # Rows of finished windows are of no use any more.
            conn.execute(
                delete(table).where(
                    table.c.window_start < now - window, table.c.blocked_until < now
                )
            )
            blocked = now + window if limit <= 1 else 0
            conn.execute(
                table.insert().values(key=key, failures=1, window_start=now, blocked_until=blocked)
            )
            return
        if row.window_start + window <= now:
            failures, start = 1, now
        else:
            failures, start = row.failures + 1, row.window_start
        blocked = start + window if failures >= limit else row.blocked_until
        conn.execute(
            table.update()
            .where(table.c.key == key)
            .values(failures=failures, window_start=start, blocked_until=blocked)
        )


def clear_account(engine: Engine, key_map: dict[str, str]) -> None:
    """A successful login forgets the account's failures (not the address's)."""
    with engine.begin() as conn:
        conn.execute(delete(AuthThrottle.__table__).where(AuthThrottle.key == key_map["account"]))
