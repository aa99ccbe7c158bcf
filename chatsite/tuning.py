"""Process-wide tuning of a daphne process, applied by ``chatsite.serve`` before serving.

Found with py-spy under a crowd of 1,000 clients connecting at once
(``python -m bench.run --scenarios 5 --profile 5``).

Tried and rejected: a shorter GIL switch interval (1 ms instead of 5) for the
database thread. Connect storms did not get measurably faster, and with 100 busy
rooms (scenario 3) the threads took turns so often that the process used 69 % of a
core instead of 100 % and latency went from 0.45 s to 3.5 s at p99.
"""

from __future__ import annotations

import pprint


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
    _lazy_autobahn_pformat()
