"""autobahn's permessage-deflate: let go of the compressor between messages.

With ``no_context_takeover`` (what ``chat.realtime.compression`` accepts) autobahn
makes a new zlib compressor at the start of every compressed message, but keeps the
last one until then: ~20 KB on every connection that was ever sent a page,
more than the rest of an idle connection. Dropping it after the message is what
autobahn does itself at the next one.
"""

from __future__ import annotations

import inspect

from chat.realtime.internals.contract import Optimisation, require


def _check() -> None:
    from autobahn.websocket.compress_deflate import PerMessageDeflate

    source = inspect.getsource(PerMessageDeflate.start_compress_message)
    require(
        "self._compressor is None or self.server_no_context_takeover" in source,
        "PerMessageDeflate.start_compress_message no longer makes a compressor when "
        "_compressor is None",
    )


DROP_COMPRESSOR = Optimisation(
    name="autobahn.drop_compressor",
    library="autobahn",
    written_for="26.11.1",
    uses="WebSocketProtocol._perMessageCompress, PerMessageDeflate._compressor",
    buys="~20 KB per connection sent a compressed page (CHAT_WEBSOCKET_COMPRESSION)",
    without="each such connection keeps its last compressor",
    check=_check,
    needs_launcher=False,
)


def drop_compressor(protocol) -> None:
    """Forget ``protocol``'s compressor after a message (only without context takeover)."""
    if not DROP_COMPRESSOR.ok():
        return
    try:
        pmce = protocol._perMessageCompress
        if pmce is not None and pmce.server_no_context_takeover:
            pmce._compressor = None
    except Exception as exc:  # noqa: BLE001 - a changed autobahn: keep the compressor
        DROP_COMPRESSOR.fail(exc)
