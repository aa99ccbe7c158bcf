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

    async def send(self, frames: list[Frame]) -> None:
        """Write ``frames`` in order; a socket that is no longer open takes nothing."""
        if not self.send_now(frames):
            for frame in frames:
                await self.asgi_send({"type": "websocket.send", "text": frame.text})

    def send_now(self, frames: list[Frame]) -> bool:
        """``send`` without awaiting when this is daphne's socket; False: use ``send``.

        A big room's fan-out calls this once per member per message; skipping the
        coroutine machinery of the ASGI path there is most of its Python cost.
        """
        protocol = self.protocol
        if protocol is None:
            return False
        if protocol.state == protocol.STATE_OPEN:
            if protocol.send_queue:  # autobahn is pacing earlier writes: queue behind them
                for frame in frames:
                    protocol.sendPreparedMessage(frame.prepared)
            elif len(frames) == 1:
                self._write(frames[0].prepared.payloadHybi)
            else:
                self._write(b"".join(frame.prepared.payloadHybi for frame in frames))
        return True

    def _write(self, data: bytes) -> None:
        """Write to the socket now when Twisted has nothing queued, else through Twisted.

        Twisted's ``transport.write`` always queues, registers the socket for
        writing and sends on a later loop turn, then unregisters: three system calls
        per frame per receiver, most of a big room's fan-out. Sending at once when
        nothing is queued (as asyncio's transports do) keeps the order and costs one.
        """
        transport = self._transport
        if transport is None:  # not a plain TCP transport (e.g. TLS in daphne): no shortcut
            self.protocol.transport.write(data)
            return
        sock = getattr(transport, "socket", None)
        if (
            sock is not None
            and transport.connected
            and not transport._writeDisconnected
            and not transport._tempDataBuffer
            and transport.offset == len(transport.dataBuffer)
        ):
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # let Twisted meet the error on its own path and close
            if sent == len(data):
                return
            data = data[sent:]
        transport.write(data)

    async def close(self, code: int) -> None:
        await self.asgi_send({"type": "websocket.close", "code": code})
