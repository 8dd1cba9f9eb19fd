"""The direct data plane's TCP address: which layer sets it, and whether it is one.

Each process of a run listens for direct calls from other machines on this address and
advertises it in its lease, so it must be an address callers can dial: an IP address or a host
name of this machine, never a wildcard. Layers, highest first: ``reverie serve --direct-host``
(``ServeOptions.direct_host``), the deployment file's ``nodes.<node>.direct_host`` for the
node run here (``--node``), ``$REVERIE_DIRECT_HOST``, then loopback.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from reverie.errors import ConfigError

if TYPE_CHECKING:
    from .deployment import Deployment
    from .placement import NodeSection

__all__ = [
    "DEFAULT",
    "ENV",
    "DirectHost",
    "check_listenable",
    "direct_host_problem",
    "resolve_direct_host",
]

ENV = "REVERIE_DIRECT_HOST"
DEFAULT = "127.0.0.1"
OPTION = "--direct-host"

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*\.?$")

#: what to do about a wildcard or a malformed address, wherever it was set
FIX = (
    "give the address the other machines reach this one at: an IP address or host name, no "
    "port (10.0.0.2, node-a.internal), or 127.0.0.1 when every process runs on one machine"
)


class DirectHost(NamedTuple):
    """The resolved address and the layer that set it (``--direct-host``, ``deploy.yaml:7
    (nodes.gpu-a.direct_host)``, ``env REVERIE_DIRECT_HOST`` or ``default``)."""

    value: str
    source: str
    #: how to name the setting in a message (the flag, the file's key, the variable)
    key: str
    #: ``deploy.yaml:7`` when the file set it
    where: str | None = None


def direct_host_problem(value: object) -> str | None:
    """Why ``value`` cannot be the direct plane's TCP address, or None when it can."""
    if not isinstance(value, str) or not value.strip():
        return f"the direct plane's TCP address must be an IP address or host name, got {value!r}"
    text = value.strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        ip = None
    if text == "*" or (ip is not None and ip.is_unspecified):
        return (
            f"the direct plane's TCP address {text!r} is a wildcard: callers need the address "
            f"they reach this process at"
        )
    if ip is not None:
        if ip.is_multicast:
            return f"the direct plane's TCP address {text!r} is a multicast address"
        return None
    if not _HOSTNAME.match(text) or text.replace(".", "").isdigit():
        return (
            f"the direct plane's TCP address {text!r} is not an IP address or host name "
            f"(no port, no scheme: the port is picked at start and advertised)"
        )
    return None


def resolve_direct_host(
    option: str | None,
    deployment: Deployment | None,
    node: str | None,
    environ: Mapping[str, str],
) -> DirectHost:
    """The address from the highest layer that sets one, checked; ``ConfigError`` (or the
    file's ``DeploymentError``, raised when it was read) naming that layer otherwise."""
    if option is not None:
        found = DirectHost(option, OPTION, OPTION)
    elif (section := _node_section(deployment, node)) is not None:
        v = section.direct_host
        assert v is not None  # checked when the file was read
        key = f"nodes.{node}.direct_host"
        found = DirectHost(str(v.value), f"{v.source} ({key})", key, v.source)
    elif environ.get(ENV) is not None:
        found = DirectHost(environ[ENV], f"env {ENV}", f"${ENV}")
    else:
        return DirectHost(DEFAULT, "default", OPTION)
    problem = direct_host_problem(found.value)
    if problem is not None:
        raise ConfigError(problem, key=found.key, source=found.where, value=found.value, fix=FIX)
    return found._replace(value=found.value.strip())


def _node_section(deployment: Deployment | None, node: str | None) -> NodeSection | None:
    if deployment is None or node is None:
        return None
    section = deployment.nodes.get(node)
    if section is None or section.direct_host is None:
        return None
    return section


def check_listenable(found: DirectHost) -> None:
    """Bind the address once (any port) before anything starts: ``ConfigError`` naming the
    layer when this machine has no such address."""
    try:
        infos = socket.getaddrinfo(found.value, 0, type=socket.SOCK_STREAM)
        family, kind, proto, _, addr = infos[0]
        with socket.socket(family, kind, proto) as sock:
            sock.bind(addr)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen for direct calls on {found.value!r}: "
            f"{exc.strerror or exc} (this machine has no such address)",
            key=found.key,
            source=found.where,
            value=found.value,
            fix=FIX + ", or REVERIE_DIRECT=0 to call over NATS only",
        ) from None
