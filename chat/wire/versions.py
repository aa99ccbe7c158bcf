"""Protocol versions: which one a client asked for (``?v=``) and what each one changed.

A client that does not ask gets version 1 forever: every frame it knows keeps its
meaning. A newer client names the highest version it understands; the server
answers with the version in effect (``ready``'s ``protocol``), at most its own.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from chat.wire.errors import CloseCode, Refusal

ORIGINAL = 1
# Presence as one ``presence`` frame per room per window (arrivals and departures
# together) instead of one ``join``/``leave`` frame per user.
BATCHED_PRESENCE = 2
LATEST = BATCHED_PRESENCE
MAX_DIGITS = 6


def parse_version(query_string: bytes) -> int:
    """The protocol version for a raw query string's ``v``; ``Refusal`` 4400 when malformed.

    Absent: version 1. A version above ``LATEST`` gets ``LATEST`` (a client newer than
    the server speaks the newest both know).
    """
    values = parse_qs(query_string.decode("latin1")).get("v")
    if not values:
        return ORIGINAL
    value = values[-1]
    if not value.isascii() or not value.isdigit() or len(value) > MAX_DIGITS or int(value) < 1:
        raise Refusal(CloseCode.BAD_REQUEST, "v must be a positive integer")
    return min(int(value), LATEST)


def query(since: int | None = None, changes: int | None = None, *, version: int = LATEST) -> str:
    """The query string a client connects with (without ``?``): its version, its
    ``since`` and, with ``since`` only, the last ``changes`` number it applied."""
    parts = [f"v={version}"]
    if since is not None:
        parts.append(f"since={since}")
        if changes is not None:
            parts.append(f"changes={changes}")
    return "&".join(parts)
