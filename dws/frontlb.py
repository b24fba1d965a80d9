"""The front load balancer: nginx in front of port 443 of every swarm node.

The stack publishes its ports in host mode (one nginx per node, no routing
mesh), so clients need something in front of the nodes that skips a node whose
port is closed (drained, down) and retries the next. It terminates TLS and
re-encrypts to the nodes, and its plain HTTP port redirects to HTTPS. `render` fills the
recipe (recipes/lab/front-lb.conf) for the lab's loopback front and for
`dws front-lb ADDRESS...`, which prints it for a user's own machine.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from dws.util import RECIPES

TEMPLATE = RECIPES / "lab" / "front-lb.conf"
TEMP_DIRS = ("body", "proxy", "fastcgi", "uwsgi", "scgi")


@dataclass(frozen=True)
class FrontTls:
    """The front's certificate and key, and how it checks the nodes'."""

    certificate: Path
    key: Path
    trusted_ca: Path  # the CA (or bundle) that signed the nodes' certificate
    node_name: str  # a name the nodes' certificate is valid for


def parse_address(text: str, default_port: int = 443) -> str:
    """HOST or HOST:PORT (port 443 by default) as nginx's `server` wants it.

    ValueError for anything else: the value goes into a config file, so only
    host names, IPv4 and [IPv6] literals and a port are accepted.
    """
    host, port = text, str(default_port)
    if text.startswith("["):
        inner, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"not an address: {text!r}")
        ipaddress.IPv6Address(inner)
        host, port = f"[{inner}]", rest[1:] or str(default_port)
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


def check_path(what: str, path: Path) -> None:
    """ValueError unless `path` can stand in the config as it is: absolute,
    and without a character nginx would read as syntax or a variable."""
    if not path.is_absolute() or any(c in str(path) for c in ";{}\"' \n$"):
        raise ValueError(
            f"{what} must be absolute: an absolute path with no spaces, quotes, ;, {{, }} "
            f"or $, got {str(path)!r}"
        )


def render(
    servers: list[tuple[str, str]],
    listen: str,
    state_dir: Path,
    tls: FrontTls,
    http_listen: str,
) -> str:
    """The nginx configuration for ``servers`` [(name, host:port)]: HTTPS on
    ``listen`` (PORT or ADDRESS:PORT), and on ``http_listen`` a redirect to
    that port."""
    if not servers:
        raise ValueError("at least one node address is needed")
    check_path("the certificate", tls.certificate)
    check_path("the key", tls.key)
    check_path("the trusted CA", tls.trusted_ca)
    labels = tls.node_name.split(".")
    if not all(label.replace("-", "").isalnum() and label.isascii() for label in labels):
        raise ValueError(f"not a host name: {tls.node_name!r}")
    https_port = int(listen.rsplit(":", 1)[-1])
    lines = "\n".join(
        f"        server {address} max_fails=1 fail_timeout=2s;  # {name}"
        for name, address in servers
    )
    return (
        TEMPLATE.read_text()
        .replace("@STATE@", str(state_dir))
        .replace("@HTTP_LISTEN@", http_listen)
        .replace("@LISTEN@", listen)
        .replace("@HTTPS_PORT@", "" if https_port == 443 else f":{https_port}")
        .replace("@CERTIFICATE@", str(tls.certificate))
        .replace("@KEY@", str(tls.key))
        .replace("@TRUSTED_CA@", str(tls.trusted_ca))
        .replace("@NODE_NAME@", tls.node_name)
        .replace("@SERVERS@", lines)
    )


def make_state_dir(state_dir: Path) -> None:
    """Create the directories the configuration names (temp files, pid, log)."""
    for sub in TEMP_DIRS:
        (state_dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
