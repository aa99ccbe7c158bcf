"""The ``since`` and ``changes`` query parameters of the room WebSocket: the last seq
a client has, and the last change (edit, deletion, restore, reaction) it applied."""

from __future__ import annotations

from urllib.parse import parse_qs

from chat.wire.errors import CloseCode, Refusal

MAX_DIGITS = 18  # fits a signed 64-bit seq


def _number(query_string: bytes, name: str) -> int | None:
    values = parse_qs(query_string.decode("latin1")).get(name)
    if not values:
        return None
    value = values[-1]
    if not value.isascii() or not value.isdigit() or len(value) > MAX_DIGITS:
        raise Refusal(CloseCode.BAD_REQUEST, f"{name} must be a non-negative integer")
    return int(value)


def parse_since(query_string: bytes) -> int | None:
    """The ``since`` value of a raw query string, or ``Refusal`` 4400 when malformed."""
    return _number(query_string, "since")


def parse_changes(query_string: bytes) -> int | None:
    """The ``changes`` value of a raw query string, or ``Refusal`` 4400 when malformed."""
    return _number(query_string, "changes")
