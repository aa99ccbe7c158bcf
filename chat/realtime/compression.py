"""permessage-deflate (RFC 7692) when ``CHAT_WEBSOCKET_COMPRESSION`` is on.

daphne never switches it on; autobahn implements it, and its public server option
``perMessageCompressionAccept`` decides what to accept. Measured (docs/deploy.md,
Compression): a ``ready`` page of 50 messages shrinks about 4x, a chat-sized frame
only about a quarter unless each connection keeps a compressor between messages
(tens of KB per connection, more than the chat's whole connection), and compressing
every frame per receiver costs a big room's fan-out its "prepare once, write to
all" path. So when on, the server accepts the client's offer with small, stateless
compressors (``no_context_takeover``, a 1 KB window) and compresses only frames of
at least ``MIN_BYTES``: ``ready`` and ``history`` pages and recovery bursts. Room
broadcasts stay uncompressed and shared (an uncompressed message is valid on a
connection that negotiated the extension).
"""

from __future__ import annotations

from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept

from chat.conf import chat_settings

MIN_BYTES = 1024  # frames this long or longer are compressed
WINDOW_BITS = 10  # a 1 KB window: a 50-message page still shrinks ~4x
MEM_LEVEL = 4  # with WINDOW_BITS, ~18 KB for a compressor while it compresses


def accept(offers: list) -> PerMessageDeflateOfferAccept | None:
    """autobahn's ``perMessageCompressionAccept``: the first permessage-deflate offer, if any.

    Neither side keeps its (de)compressor between messages when the client allows
    it; the window is at most ``WINDOW_BITS``.
    """
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            bits = WINDOW_BITS
            if offer.request_max_window_bits:
                bits = min(bits, offer.request_max_window_bits)
            return PerMessageDeflateOfferAccept(
                offer,
                request_no_context_takeover=offer.accept_no_context_takeover,
                request_max_window_bits=WINDOW_BITS if offer.accept_max_window_bits else 0,
                no_context_takeover=True,
                window_bits=bits,
                mem_level=MEM_LEVEL,
            )
    return None


def enable(factory):
    """Let daphne's WebSocket ``factory`` accept permessage-deflate if the setting says so."""
    if chat_settings().websocket_compression:
        factory.setProtocolOptions(perMessageCompressionAccept=accept)
    return factory


def compresses(protocol) -> bool:
    """True when ``protocol``'s connection negotiated an extension (permessage-deflate)."""
    return bool(getattr(protocol, "websocket_extensions_in_use", None))
