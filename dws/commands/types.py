"""Argument types shared by every command: each value is checked where it is read."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

_LISTEN = re.compile(r"^(?:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$")


def _number(text: str, kind: type) -> float | int:
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None


def port(text: str) -> int:
    """A TCP port, 1-65535."""
    value = _number(text, int)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, not {text!r}")
    return value


def port_or_zero(text: str) -> int:
    """A TCP port, or 0 for a free one."""
    return 0 if text.strip() == "0" else port(text)


def bounded(low: float, high: float, kind: type = float) -> Callable[[str], float | int]:
    """A number in (low, high] for floats, [low, high] for whole numbers."""

    def check(text: str) -> float | int:
        value = _number(text, kind)
        inside = low <= value <= high if kind is int else low < value <= high
        if not inside:
            span = f"[{low}, {high}]" if kind is int else f"({low:g}, {high:g}]"
            raise argparse.ArgumentTypeError(f"must be in {span}: {text!r}")
        return value

    check.__name__ = "number"
    return check


positive = bounded(0, 86400)
count = bounded(1, 10_000, int)
at_least_zero = bounded(0, 10_000, int)


def listen(text: str) -> str:
    """An nginx `listen` value: PORT, HOST:PORT or [IPv6]:PORT."""
    match = _LISTEN.match(text)
    if not match or not 1 <= int(match.group(1)) <= 65535:
        raise argparse.ArgumentTypeError(f"not PORT, ADDRESS:PORT or [IPv6]:PORT: {text!r}")
    return text
