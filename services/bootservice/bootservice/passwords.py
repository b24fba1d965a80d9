"""Password hashing and the password rules, in one place."""

from __future__ import annotations

from werkzeug.security import check_password_hash, generate_password_hash

# Passwords are stored exactly as sent (no stripping) and need this many
# characters; the upper bound keeps one check's hashing cost bounded.
MIN_LENGTH = 8
MAX_LENGTH = 1024


def hash_password(password: str) -> str:
    """A salted hash in werkzeug's format (scrypt)."""
    return generate_password_hash(password)


def password_matches(stored: str, password: str) -> bool:
    """True when `password` matches the stored hash (False for a non-hash)."""
    return check_password_hash(stored, password)
