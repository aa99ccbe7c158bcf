"""The ``since`` query parameter of the room WebSocket: the last seq a client has."""

from __future__ import annotations

from urllib.parse import parse_qs

from chat.wire.errors import CloseCode, Refusal

MAX_DIGITS = 18  # fits a signed 64-bit seq


def parse_since(query_string: bytes) -> int | None:
    """The ``since`` value of a raw query string, or ``Refusal`` 4400 when malformed."""
    values = parse_qs(query_string.decode("latin1")).get("since")
    if not values:
        return None
    value = values[-1]
    if not value.isascii() or not value.isdigit() or len(value) > MAX_DIGITS:
        raise Refusal(CloseCode.BAD_REQUEST, "since must be a non-negative integer")
    return int(value)
