"""A lean WebSocket client: websockets' Sans-I/O ``ClientProtocol`` on an asyncio transport.

Why not ``websockets.asyncio.client``: it wakes a task and resolves futures for every
frame received, which costs the load generator more CPU per delivery than a fast
server spends, so the generator would be what is measured. Here each text frame is
handed to a plain callback from ``data_received``: no task, no future, no queue.
The protocol work (handshake, framing, masking, ping/pong, closing handshake) is
still websockets' own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Origin
from websockets.uri import parse_uri

MAX_MESSAGE = 2**23


class ClosedBeforeReady(ConnectionError):
    """The server closed the connection before its first text frame; ``code`` says why."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed {code}")
        self.code = code


class LeanClient(asyncio.Protocol):
    """One client connection. ``opened`` resolves to the first text frame, ``closed`` to the close code."""

    def __init__(
        self, url: str, *, origin: str | None, headers: dict[str, str], compress: bool = False
    ) -> None:
        loop = asyncio.get_running_loop()
        self.protocol = ClientProtocol(
            parse_uri(url),
            origin=Origin(origin) if origin else None,
            max_size=MAX_MESSAGE,
            # permessage-deflate offered as browsers offer it (see bench.compression).
            extensions=enable_client_permessage_deflate(None) if compress else None,
        )
        self.received_bytes = 0  # on the wire, handshake included
        self.headers = headers
        self.on_text: Callable[[str], None] | None = None
        self.opened: asyncio.Future[str] = loop.create_future()
        self.closed: asyncio.Future[int | None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self._fragments: list[bytes] = []

    # --- asyncio.Protocol -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        request = self.protocol.connect()
        for name, value in self.headers.items():
            request.headers[name] = value
        self.protocol.send_request(request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.received_bytes += len(data)
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                self._on_frame(event)
            elif isinstance(event, Response) and self.protocol.handshake_exc is not None:
                self._fail_open(self.protocol.handshake_exc)
        self._flush()

    def eof_received(self) -> bool:
        self.protocol.receive_eof()
        self._flush()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        code = self.protocol.close_code
        self._fail_open(ClosedBeforeReady(code))
        if not self.closed.done():
            self.closed.set_result(code)

    # --- frames -----------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.TEXT or frame.opcode is Opcode.CONT:
            if not frame.fin:
                self._fragments.append(frame.data)
                return
            if self._fragments:
                data = b"".join([*self._fragments, frame.data])
                self._fragments = []
            else:
                data = frame.data
            text = data.decode()
            if not self.opened.done():
                self.opened.set_result(text)
            elif self.on_text is not None:
                self.on_text(text)
        # Pings are answered and close frames acknowledged by the Sans-I/O protocol.

    def _fail_open(self, exc: BaseException) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
            # Retrieved by open_connection; marks it so asyncio never logs it as lost.
            self.opened.exception()

    def _flush(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()

    # --- public -----------------------------------------------------------------

    def send_text(self, text: str) -> None:
        """Send one text frame (buffered by the transport; never waits)."""
        self.protocol.send_text(text.encode())
        self._flush()

    @property
    def is_open(self) -> bool:
        return not self.closed.done()

    async def close(self, timeout: float = 2.0) -> None:
        """Closing handshake with code 1000; the TCP connection is aborted after ``timeout``."""
        if self.closed.done():
            return
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(1000)
            self._flush()
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:
            if self.transport is not None:
                self.transport.abort()


async def open_connection(
    url: str,
    *,
    origin: str | None = None,
    headers: dict[str, str] | None = None,
    compress: bool = False,
    local_host: str | None = None,
) -> tuple[LeanClient, str]:
    """Connect to ``url`` and return the client with the server's first text frame.

    ``local_host`` binds the client socket to that local address (e.g. ``127.0.0.2``):
    each loopback source address has its own ~28,000 ephemeral ports.
    """
    uri = parse_uri(url)
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(
        lambda: LeanClient(url, origin=origin, headers=headers or {}, compress=compress),
        uri.host,
        uri.port,
        local_addr=(local_host, 0) if local_host else None,
    )
    try:
        first = await client.opened
    except BaseException:
        if client.transport is not None:
            client.transport.abort()
        raise
    return client, first
