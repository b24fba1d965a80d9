"""The front load balancer: nginx in front of port 80 of every swarm node.

The stack publishes port 80 in host mode (one nginx per node, no routing
mesh), so clients need something in front of the nodes that skips a node whose
port 80 is closed (drained, down) and retries the next. `render` fills the
recipe (recipes/lab/front-lb.conf) for the lab's loopback front and for
`dws front-lb ADDRESS...`, which prints it for a user's own machine.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from dws.util import RECIPES

TEMPLATE = RECIPES / "lab" / "front-lb.conf"
TEMP_DIRS = ("body", "proxy", "fastcgi", "uwsgi", "scgi")


def parse_address(text: str) -> str:
    """HOST or HOST:PORT (port 80 by default) as nginx's `server` wants it.

    ValueError for anything else: the value goes into a config file, so only
    host names, IPv4 and [IPv6] literals and a port are accepted.
    """
    host, port = text, "80"
    if text.startswith("["):
        inner, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"not an address: {text!r}")
        ipaddress.IPv6Address(inner)
        host, port = f"[{inner}]", rest[1:] or "80"
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a port in {text!r}")
    bare = host.strip("[]")
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        labels = bare.split(".")
        if (
            not bare
            or len(bare) > 253
            or not all(
                label
                and len(label) <= 63
                and label.replace("-", "").isalnum()
                and label.isascii()
                and not label.startswith("-")
                and not label.endswith("-")
                for label in labels
            )
        ):
            raise ValueError(f"not a host name or IP address: {text!r}") from None
    return f"{host}:{int(port)}"


def render(servers: list[tuple[str, str]], listen: str, state_dir: Path) -> str:
    """The nginx configuration for ``servers`` [(name, host:port)], listening on ``listen``."""
    if not servers:
        raise ValueError("at least one node address is needed")
    lines = "\n".join(
        f"        server {address} max_fails=1 fail_timeout=2s;  # {name}"
        for name, address in servers
    )
    return (
        TEMPLATE.read_text()
        .replace("@STATE@", str(state_dir))
        .replace("@LISTEN@", listen)
        .replace("@SERVERS@", lines)
    )


def make_state_dir(state_dir: Path) -> None:
    """Create the directories the configuration names (temp files, pid, log)."""
    for sub in TEMP_DIRS:
        (state_dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
