"""`ApiError`: an expected failure with its HTTP status.

A leaf module: it imports nothing of the package, so validation, resources
and the views can all raise it without importing the error handlers.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An expected failure with its HTTP status, message and optional detail."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}
