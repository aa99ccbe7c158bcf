"""Per-connection abuse limits: how many frames a client may send, and typing state;
and per-address: how many WebSockets one client address holds open in this process.

Every frame a client sends, except messages (they have ``CHAT_RATE_LIMIT``), takes
a token from a bucket that refills at ``FRAME_RATE`` per second up to
``FRAME_BURST``: typing, pings, history requests, reports, bad input. A frame
without a token is dropped, and the client hears so at most once a second (an error per dropped
frame would let a flood turn into a flood of answers). Kept in the connection: no
store to ask, nothing shared.
"""

from __future__ import annotations

import time

from chat.client_address import scope_address
from chat.conf import chat_settings
from chat.wire.errors import CloseCode, Refusal

FRAME_BURST = 30  # frames a client may send at once
FRAME_RATE = 10.0  # frames per second after that
WARN_INTERVAL = 1.0  # seconds between "slow down" errors to one connection


class ConnectionLimits:
    """The frame budget and typing state of one connection."""

    __slots__ = ("_clock", "_tokens", "_stamp", "_warned_at", "typing_shown", "last_frame_at")

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._tokens = float(FRAME_BURST)
        self._stamp = clock()
        # When the client last sent a whole frame (any frame): the idle timeout's clock.
        self.last_frame_at = self._stamp
        self._warned_at = float("-inf")
        # Whether the room was last told this connection's user is typing: a stop
        # is forwarded only after a start, so stops cannot be flooded either.
        self.typing_shown = False

    def heard(self) -> None:
        """The client sent a frame: it is not idle."""
        self.last_frame_at = self._clock()

    def idle_for(self) -> float:
        """Seconds since the client's last frame."""
        return self._clock() - self.last_frame_at

    def admit_frame(self) -> bool:
        """Take a token for one incoming frame; False when the budget is spent."""
        now = self._clock()
        self._tokens = min(FRAME_BURST, self._tokens + (now - self._stamp) * FRAME_RATE)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def retry_after(self) -> float:
        """Seconds until the next frame would be admitted."""
        return max(0.0, (1 - self._tokens) / FRAME_RATE)

    def should_warn(self) -> bool:
        """True at most once per ``WARN_INTERVAL``: time to tell the client it is dropped."""
        now = self._clock()
        if now - self._warned_at < WARN_INTERVAL:
            return False
        self._warned_at = now
        return True


class AddressCounts:
    """Open WebSockets per client address in this process (``CHAT_MAX_CONNECTIONS_PER_IP``).

    Per process: a fleet of N processes behind a balancer lets one address hold
    up to N times the limit, which is enough to stop one address from taking a
    process's file descriptors and memory.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def open(self, address: str, limit: int) -> bool:
        """Count one more connection of ``address``; False (and not counted) past ``limit``."""
        count = self._counts.get(address, 0)
        if count >= limit:
            return False
        self._counts[address] = count + 1
        return True

    def close(self, address: str) -> None:
        """Count one connection of ``address`` less."""
        count = self._counts.get(address, 0) - 1
        if count > 0:
            self._counts[address] = count
        else:
            self._counts.pop(address, None)

    def count(self, address: str) -> int:
        """Open connections of ``address``."""
        return self._counts.get(address, 0)


ADDRESSES = AddressCounts()


def claim_address(scope) -> str:
    """Count a new WebSocket against its client address; past
    ``CHAT_MAX_CONNECTIONS_PER_IP`` refuse it (4429). Returns the address (release it
    with ``ADDRESSES.close`` when the connection ends)."""
    address = scope_address(scope)
    per_address = chat_settings().max_connections_per_ip
    if not ADDRESSES.open(address, per_address):
        raise Refusal(
            CloseCode.TOO_MANY_CONNECTIONS, f"at most {per_address} connections per client address"
        )
    return address
