"""Whom a local server answers: requests addressed to this machine's loopback only.

A web page open in the developer's browser may rebind its own name to 127.0.0.1 (DNS rebinding): its requests then
reach a loopback server as same-origin ones, ``Origin`` and ``Host`` alike naming the page's site. What such a page
cannot make its browser send is a ``Host`` that names loopback: checking it is what keeps the admin and control routes
the developer's own.
"""

from __future__ import annotations

import ipaddress

# names that are loopback wherever they are resolved (RFC 6761's "localhost"; the loopback literals below)
_LOOPBACK_NAMES = frozenset({"localhost"})
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def loopback_host(header: str | None, bound: str = "") -> bool:
    """Whether a request's ``Host`` header names loopback (``localhost``, ``127.x.x.x``, ``[::1]``, with or without a
    port), or the one address the server is bound to (``bound``; a wildcard binding adds none)."""
    if not header:
        return False
    host = header.strip().lower()
    if host.startswith("["):  # [v6]:port
        name = host[1 : host.find("]")] if "]" in host else ""
    elif host.count(":") == 1:  # name:port or v4:port
        name = host.split(":", 1)[0]
    else:
        name = host
    if name in _LOOPBACK_NAMES or (bound.lower() not in _WILDCARDS and name == bound.lower().strip("[]")):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
