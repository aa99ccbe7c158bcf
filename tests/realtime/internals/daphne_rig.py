"""A ``ChatServer`` with daphne's factories, not listening, and upgraded connections to it."""

from __future__ import annotations

import asyncio

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

HANDSHAKE = (
    b"GET /ws/rooms/lobby/ HTTP/1.1\r\n"
    b"Host: 127.0.0.1\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)


def daphne_server(application):
    """A ``ChatServer`` with daphne's factories, as its ``run`` makes them, not listening."""
    from daphne.http_protocol import HTTPFactory
    from daphne.ws_protocol import WebSocketFactory

    from chat.serve import ChatServer

    server = ChatServer(application=application, endpoints=["tcp:port=0"])
    server.connections = {}
    server.http_factory = HTTPFactory(server)
    server.ws_factory = WebSocketFactory(server, server="Daphne")
    server.ws_factory.setProtocolOptions(
        autoPingTimeout=7, allowNullOrigin=True, maxMessagePayloadSize=4096
    )
    return server


def upgrade(server):
    """Send a WebSocket handshake to a new HTTP connection; return its channel and transport."""
    wrapper = server.http_factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    transport = StringTransport()
    wrapper.makeConnection(transport)
    wrapper.dataReceived(HANDSHAKE)
    return wrapper._channel, transport


async def accepted(*transports, timeout: float = 5.0) -> None:
    """Wait until the application has accepted each upgraded connection (autobahn: open)."""
    async with asyncio.timeout(timeout):
        while any(t.protocol.state != t.protocol.STATE_OPEN for t in transports):
            await asyncio.sleep(0.005)


async def idle_application(scope, receive, send):
    await receive()  # websocket.connect
    await asyncio.Event().wait()


def close(server, transport) -> None:
    from twisted.python.failure import Failure

    protocol = transport.protocol
    protocol.connectionLost(Failure(ConnectionError("test over")))
    for details in server.connections.values():
        if "application_instance" in details:
            details["application_instance"].cancel()
