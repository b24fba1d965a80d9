"""`Idempotency-Key` for the API's POSTs: a retried create is applied once.

Follows the IETF HTTP API working group's draft "The Idempotency-Key HTTP
Header Field". A client that did not learn the outcome of a POST (a reset
connection, a 502/504, a timeout) sends it again with the same key:

- the first request claims the key by inserting its row in a transaction of
  its own, before any work. The primary key makes exactly one of several
  concurrent first requests win, across workers and replicas alike: the
  database is the only shared state;
- the winner stores its response in the same transaction as the row it
  creates, so a stored response exists exactly when the insert committed;
- a repeat with the same body gets the stored response (status, body,
  `Location`) and `Idempotent-Replayed: true`, and inserts nothing;
- the same key with a different method, path or body is 422; a repeat while
  the first is still running is 409. A claim whose request died with its
  worker or node (nothing committed) can be taken over after a lease longer
  than any request may run, so such a key is not blocked for a day.

Keys are scoped to the authenticated user. Only completed 2xx responses are
stored: a request refused for bad input or a database error stores nothing
and releases its claim, and its repeat runs again (and is refused again).
A stored response is kept `IDEMPOTENCY_TTL` seconds (24 h) from its
completion; expired rows are deleted lazily by the requests themselves,
which needs only DELETE on the table.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Response, current_app, request
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from . import db, metrics
from .apierror import ApiError
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
KEY_MAX = 255
# Longer than a request can run (gunicorn's 30 s worker timeout, the
# proxies' read timeouts): only a claim whose request is certainly gone is
# taken over.
LEASE_S = 45
# How often one process deletes every expired row (a row found expired on
# its own key is deleted at once).
PURGE_EVERY_S = 60.0  # or the TTL, when shorter

log = logging.getLogger(__name__)


def _now() -> datetime:
    # Naive UTC, whole seconds: what a DATETIME column keeps on both engines.
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def request_key() -> str | None:
    """The request's Idempotency-Key, checked; None when it sends none.

    The draft's form is a quoted string (`"8e03978e-..."`); a bare value is
    accepted too. The key is 1 to 255 visible ASCII characters.
    """
    values = request.headers.getlist(HEADER)
    if not values:
        return None
    # Repeated header fields may reach the app joined by a comma; a key with
    # a comma is refused as well, so the two cannot be confused.
    if len(values) > 1 or "," in values[0]:
        raise ApiError(
            400, "invalid Idempotency-Key", "send one Idempotency-Key header, without commas"
        )
    key = values[0].strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key:
        raise ApiError(400, "invalid Idempotency-Key", "the key is empty")
    if len(key) > KEY_MAX:
        raise ApiError(
            400, "invalid Idempotency-Key", f"the key is longer than {KEY_MAX} characters"
        )
    if not all("\x21" <= ch <= "\x7e" for ch in key) or '"' in key or "\\" in key:
        raise ApiError(
            400,
            "invalid Idempotency-Key",
            "the key may hold only visible ASCII characters, without quotes or backslashes",
        )
    return key


def _fingerprint() -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _key_hash(user_id: int, key: str) -> str:
    return hashlib.sha256(f"{user_id}\0{key}".encode()).hexdigest()


@dataclass
class Claim:
    """This request's hold on a key, until its response is stored."""

    key_hash: str
    owner: str
    ttl: int

    def record(self, response: Response) -> None:
        """Store `response` in the request's own transaction (not committed here).

        If the lease ran out and another request took the key over, nothing
        of this request may commit: the transaction is rolled back and the
        client gets 409.
        """
        sess = db.session()
        done = sess.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key_hash == self.key_hash, IdempotencyKey.owner == self.owner)
            .values(
                expires_at=_now() + timedelta(seconds=self.ttl),
                owner=None,
                locked_until=None,
                status=response.status_code,
                location=response.headers.get("Location"),
                body=response.get_data(as_text=True),
            )
        )
        if done.rowcount != 1:
            sess.rollback()
            raise _in_progress()

    def release(self) -> None:
        """Give the key up (the request failed): a repeat runs again."""
        try:
            with db.engine().begin() as conn:
                conn.execute(
                    delete(IdempotencyKey).where(
                        IdempotencyKey.key_hash == self.key_hash,
                        IdempotencyKey.owner == self.owner,
                        IdempotencyKey.status.is_(None),
                    )
                )
        except DBAPIError as exc:
            # The lease expires by itself; the request's own error is what
            # the client must see.
            log.warning("could not release an idempotency key: %s", exc.orig)


def _in_progress() -> ApiError:
    return ApiError(
        409,
        "request in progress",
        "a request with this Idempotency-Key is still running; retry later",
    )


def _replay(row: IdempotencyKey) -> Response:
    # The first request may have died between its commit and its answer,
    # before its hold on the read cache's lease ran out: hold this one, as
    # the commit is known to be no later than now.
    db.hold_answer(time.monotonic())
    metrics.count_idempotent_replay()
    resp = Response(row.body, status=row.status, mimetype="application/json")
    if row.location:
        resp.headers["Location"] = row.location
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


_purge_lock = threading.Lock()
_next_purge = 0.0


def _purge_expired(now: datetime, ttl: int) -> None:
    """Delete every expired row, at most once per PURGE_EVERY_S (or TTL) per process."""
    global _next_purge
    with _purge_lock:
        if time.monotonic() < _next_purge:
            return
        _next_purge = time.monotonic() + min(PURGE_EVERY_S, ttl)
    try:
        with db.engine().begin() as conn:
            conn.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))
    except DBAPIError as exc:
        # Best effort (e.g. a lock wait with a concurrent purge); the next
        # one will do it. Expired rows are ignored by lookups anyway.
        log.warning("could not delete expired idempotency keys: %s", exc.orig)


def _claim(key_hash: str, fingerprint: str) -> Claim | Response:
    """Claim the key, or answer for it: a replay, 409 or 422."""
    ttl = current_app.extensions["dws_config"].idempotency_ttl
    engine = db.engine()
    owner = secrets.token_hex(16)
    now = _now()
    _purge_expired(now, ttl)
    for _ in range(3):
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(IdempotencyKey).values(
                        key_hash=key_hash,
                        fingerprint=fingerprint,
                        # Kept at least as long as the lease, so a
                        # running request's key never expires under it.
                        expires_at=now + timedelta(seconds=ttl + LEASE_S),
                        owner=owner,
                        locked_until=now + timedelta(seconds=LEASE_S),
                    )
                )
            return Claim(key_hash, owner, ttl)
        except IntegrityError:
            pass  # the key is taken: look at what holds it
        with engine.begin() as conn:
            row = conn.execute(
                select(IdempotencyKey).where(IdempotencyKey.key_hash == key_hash)
            ).first()
            if row is None:
                continue  # released or purged meanwhile: claim again
            if row.expires_at <= now:
                conn.execute(
                    delete(IdempotencyKey).where(
                        IdempotencyKey.key_hash == key_hash, IdempotencyKey.expires_at <= now
                    )
                )
                continue
            if row.fingerprint != fingerprint:
                raise ApiError(
                    422,
                    "Idempotency-Key reused",
                    "this key was used for a request with a different method, path or body",
                )
            if row.status is not None:
                return _replay(row)
            if row.locked_until is not None and row.locked_until > now:
                raise _in_progress()
            # The first request's lease ran out: its worker or node is gone
            # and nothing of it committed (its response would be stored).
            taken = conn.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.key_hash == key_hash, IdempotencyKey.owner == row.owner)
                .values(owner=owner, locked_until=now + timedelta(seconds=LEASE_S))
            )
            if taken.rowcount == 1:
                return Claim(key_hash, owner, ttl)
    raise _in_progress()


def run_once(user_id: int, create: Callable[[], Response]) -> Response:
    """Run `create` (which flushes but does not commit) once per key; commit.

    Without an Idempotency-Key header this is `create()` and a commit.
    """
    key = request_key()
    sess = db.session()
    if key is None:
        resp = create()
        sess.commit()
        return resp
    claim = _claim(_key_hash(user_id, key), _fingerprint())
    if isinstance(claim, Response):
        return claim
    try:
        resp = create()
        claim.record(resp)
        sess.commit()
    except BaseException:
        sess.rollback()
        claim.release()
        raise
    return resp
