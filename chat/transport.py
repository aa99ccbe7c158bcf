"""How frames reach a client's socket: encoded and framed once per broadcast.

Under daphne a connection's ASGI ``send`` ends in ``protocol.handle_reply``, which
UTF-8 encodes and frames the text again for every receiver. A room broadcast is the
same bytes for every receiver, so a ``Frame`` is prepared once (autobahn's
``PreparedMessage``: the complete WebSocket frame) and ``Socket`` writes it straight
to daphne's protocol object. Anywhere else (channels' test communicator, another
ASGI server) ``Socket`` falls back to the ASGI ``send``.
"""

from __future__ import annotations

from autobahn.websocket.protocol import PreparedMessage


class Frame:
    """One outgoing text frame; its wire bytes are built at most once."""

    __slots__ = ("text", "_prepared")

    def __init__(self, text: str) -> None:
        self.text = text
        self._prepared: PreparedMessage | None = None

    @property
    def prepared(self) -> PreparedMessage:
        if self._prepared is None:
            # Server frames are not masked; daphne negotiates no compression.
            self._prepared = PreparedMessage(self.text.encode(), False, False, True)
        return self._prepared


def daphne_protocol(send):
    """daphne's WebSocket protocol object behind ``send``, or None (tests, other servers).

    Under daphne, ``send`` is ``partial(server.handle_reply, protocol)``; channels'
    SessionMiddleware wraps it in a bound method that keeps it as ``real_send``.
    """
    for _ in range(8):
        inner = getattr(getattr(send, "__self__", None), "real_send", None)
        if getattr(send, "args", None) or inner is None:
            break
        send = inner
    args = getattr(send, "args", ())
    protocol = args[0] if args else None
    return protocol if hasattr(protocol, "sendPreparedMessage") else None


class Socket:
    """The write side of one connection."""

    __slots__ = ("asgi_send", "protocol", "_transport")

    def __init__(self, send) -> None:
        self.asgi_send = send
        self.protocol = daphne_protocol(send)
        transport = getattr(self.protocol, "transport", None)
        self._transport = transport if hasattr(transport, "dataBuffer") else None

    def buffered(self) -> int | None:
        """Bytes written but not yet taken by the client, when the transport tells.

        ASGI has no back-pressure; the Twisted transport's buffer is the only way to
        notice a client that stopped reading.
        """
        transport = self._transport
        if transport is None:
            return None
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    async def send(self, frame: Frame) -> None:
        """Write ``frame``; a socket that is no longer open takes nothing."""
        protocol = self.protocol
        if protocol is None:
            await self.asgi_send({"type": "websocket.send", "text": frame.text})
        elif protocol.state == protocol.STATE_OPEN:
            protocol.sendPreparedMessage(frame.prepared)

    async def close(self, code: int) -> None:
        await self.asgi_send({"type": "websocket.close", "code": code})
