"""How frames reach a client's socket: the consumer's one way to write.

Under ``python -m chat.serve`` the scope carries the connection's daphne protocol
(``chat.realtime.internals.protocol``): a broadcast's frame, prepared once, is then
written straight to it (``internals.fanout_write``), and the protocol tells how far
the client is behind. Anywhere else (plain daphne, channels' test communicator,
another ASGI server), or when an optimisation is off, frames go through the ASGI
``send``. Nothing here raises because a library changed: an optimised path that
fails falls back to the plain one.
"""

from __future__ import annotations

from autobahn.websocket.protocol import PreparedMessage

from chat.realtime import compression
from chat.realtime.internals import deflate, fanout_write
from chat.realtime.internals.protocol import allowed_by_send_close, from_scope


class Frame:
    """One outgoing text frame; its wire bytes are built at most once."""

    __slots__ = ("text", "_prepared")

    def __init__(self, text: str) -> None:
        self.text = text
        self._prepared: PreparedMessage | None = None

    @property
    def prepared(self) -> PreparedMessage:
        if self._prepared is None:
            # Server frames are not masked; never compressed (see chat.realtime.compression).
            self._prepared = PreparedMessage(self.text.encode(), False, False, True)
        return self._prepared


class Socket:
    """The write side of one connection."""

    __slots__ = ("asgi_send", "protocol")

    def __init__(self, scope, send) -> None:
        self.asgi_send = send
        self.protocol = from_scope(scope)

    def backlog(self) -> int | None:
        """Bytes handed over since the client stopped reading; None when unknown.

        ASGI has no back-pressure; the protocol is its transport's producer, and
        Twisted pauses it when more than its buffer size waits for the client.
        """
        protocol = self.protocol
        if protocol is None:
            return None
        return protocol.backlog if protocol.paused else 0

    async def send(self, frames: list[Frame]) -> None:
        """Write ``frames`` in order; a socket that is no longer open takes nothing."""
        if self.send_now(frames):
            return
        protocol = self.protocol
        for frame in frames:
            if protocol is not None:
                protocol.wrote(len(frame.text))
            await self.asgi_send({"type": "websocket.send", "text": frame.text})

    def send_now(self, frames: list[Frame]) -> bool:
        """``send`` without awaiting (True), or False: nothing was written, use ``send``.

        A big room's fan-out calls this once per member per message; skipping the
        coroutine machinery of the ASGI path there is most of its Python cost.
        """
        protocol = self.protocol
        if protocol is None or not fanout_write.PREPARED_FRAMES.ok():
            return False
        try:  # everything that relies on autobahn's internals, before writing anything
            if protocol.state != protocol.STATE_OPEN:
                return True
            pacing = bool(protocol.send_queue)
            if len(frames) == 1:
                data = frames[0].prepared.payloadHybi
            else:
                data = b"".join([frame.prepared.payloadHybi for frame in frames])
        except Exception as exc:  # noqa: BLE001 - a changed autobahn: the ASGI path
            fanout_write.PREPARED_FRAMES.fail(exc)
            return False
        if protocol.paused:
            protocol.backlog += len(data)
        if compression.compresses(protocol) and any(
            len(frame.text) >= compression.MIN_BYTES for frame in frames
        ):
            # Pages are compressed for this connection (autobahn's public sendMessage);
            # small frames stay the shared, uncompressed bytes.
            for frame in frames:
                if len(frame.text) >= compression.MIN_BYTES:
                    protocol.sendMessage(frame.text.encode())
                    deflate.drop_compressor(protocol)
                else:
                    protocol.sendPreparedMessage(frame.prepared)
            return True
        if pacing:  # autobahn is pacing earlier writes: queue behind them
            for frame in frames:
                protocol.sendPreparedMessage(frame.prepared)
        else:
            fanout_write.write(protocol.transport, data)
        return True

    async def close(self, code: int) -> None:
        """Close the WebSocket with ``code``.

        Plain daphne (autobahn's ``sendClose``) refuses 1001 and 1011; the chat's
        protocol sends them. Where they are refused, the close is 1000.
        """
        try:
            await self.asgi_send({"type": "websocket.close", "code": code})
        except Exception:
            if allowed_by_send_close(code):
                raise
            await self.asgi_send({"type": "websocket.close", "code": 1000})
