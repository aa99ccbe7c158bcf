"""autobahn: do not pretty-print the protocol settings for every connection.

Found with py-spy under a crowd of 1,000 clients connecting at once
(``python -m bench.run --scenarios 5 --profile 5``).
"""

from __future__ import annotations

import inspect
import pprint

from chat.realtime.internals.contract import Optimisation, require


class _Pretty:
    """``pprint.pformat(value)``, computed only if a log line is actually written."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return pprint.pformat(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _check() -> None:
    from autobahn.websocket import protocol

    require(
        protocol.pformat in (pprint.pformat, _Pretty),
        "autobahn.websocket.protocol.pformat is not pprint.pformat",
    )
    source = inspect.getsource(protocol.WebSocketProtocol._connectionMade)
    require(
        'self.log.debug("\\n{attrs}", attrs=pformat(configAttrLog))' in source,
        "WebSocketProtocol._connectionMade no longer logs pformat(configAttrLog) lazily",
    )
    require(
        "pformat(self._timings)" in inspect.getsource(protocol.Timings.__str__),
        "Timings.__str__ changed",
    )


LAZY_PFORMAT = Optimisation(
    name="autobahn.lazy_pformat",
    library="autobahn",
    written_for="26.11.1",
    uses="autobahn.websocket.protocol.pformat (module global), Timings._timings",
    buys="7 % of the server's CPU in a connect storm: autobahn pretty-prints 30 settings "
    "for a debug log line that is normally discarded",
    without="every connection formats its settings once (CPU only)",
    check=_check,
)


def install() -> None:
    """Make autobahn's settings debug log format lazily (output unchanged)."""
    if not LAZY_PFORMAT.ok():
        return
    from autobahn.websocket import protocol

    if protocol.pformat is _Pretty:
        return
    protocol.pformat = _Pretty
    # The module's one other use must return a real string.
    protocol.Timings.__str__ = lambda self: pprint.pformat(self._timings)
