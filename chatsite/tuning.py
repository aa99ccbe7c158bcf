"""Process-wide tuning of a daphne process, applied by ``chatsite.serve`` before serving.

Both were found with py-spy under a crowd of 1,000 clients connecting at once
(``python -m bench.run --scenarios 5 --profile 5``).
"""

from __future__ import annotations

import pprint
import sys

# The database thread (every sync_to_async call) gives up the GIL inside each SQLite
# or psycopg call and then waits for the busy event loop to hand it back, by default
# for up to 5 ms each time; a connect makes several such calls. 1 ms keeps the
# database thread moving at the cost of a few more thread switches.
SWITCH_INTERVAL = float(__import__("os").environ.get("XSW", "0.001"))


class _Pretty:
    """``pprint.pformat(value)``, computed only if a log line is actually written."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return pprint.pformat(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _lazy_autobahn_pformat() -> None:
    """Stop autobahn pretty-printing its configuration for every connection.

    ``WebSocketProtocol._connectionMade`` passes ``pformat(30 settings)`` to a debug
    log call that is normally discarded: 7 % of the server's time in a connect storm.
    The log call formats lazily, so a lazy value keeps the debug output unchanged.
    """
    from autobahn.websocket import protocol

    protocol.pformat = _Pretty
    # The module's one other use must return a real string.
    protocol.Timings.__str__ = lambda self: pprint.pformat(self._timings)


def apply() -> None:
    """Apply every tuning above to this process."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    _lazy_autobahn_pformat()
