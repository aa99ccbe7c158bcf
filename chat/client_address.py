"""The client's address, trusting ``X-Forwarded-For`` only from configured proxies.

Anyone can send ``X-Forwarded-For``; only the proxies in ``CHAT_TRUSTED_PROXIES``
(addresses or networks) are believed. The header is read from the right: each
hop a trusted proxy appended is skipped, and the first address that is not a
trusted proxy is the client. Without trusted proxies the peer address is the client.
"""

from __future__ import annotations

import ipaddress

from chat.conf import chat_settings


def is_trusted_proxy(address: str) -> bool:
    """Whether ``address`` is one of ``CHAT_TRUSTED_PROXIES``."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    return any(ip in network for network in chat_settings().trusted_proxies)


def client_address(peer: str, forwarded_for: str | None) -> str:
    """The client's address, given the TCP peer and the ``X-Forwarded-For`` header."""
    peer = peer or ""
    if not forwarded_for or not is_trusted_proxy(peer):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted_proxy(hop):
            try:
                return str(ipaddress.ip_address(hop.strip("[]")))
            except ValueError:
                return peer  # garbage from outside the trusted proxies: not an address
    return hops[0] if hops else peer


def request_address(request) -> str:
    """The client's address of a Django request."""
    return client_address(
        request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR")
    )


def scope_header(scope, name: bytes) -> str | None:
    """The first value of an ASGI scope's request header ``name`` (lower case), or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin1")
    return None


def scope_address(scope) -> str:
    """The client's address of an ASGI scope."""
    client = scope.get("client") or ("", 0)
    return client_address(client[0] or "", scope_header(scope, b"x-forwarded-for"))
