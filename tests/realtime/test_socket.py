"""``chat.realtime.socket``: the consumer's one way to write, over a real kernel socket."""

from __future__ import annotations

import contextlib
import socket as sockets

import pytest
from twisted.internet import tcp
from twisted.internet.testing import StringTransport

from chat.realtime.consumer import MAX_SOCKET_BUFFER
from chat.realtime.internals import fanout_write
from chat.realtime.internals.protocol import SCOPE_KEY, ChatWebSocketProtocol
from chat.realtime.socket import Frame, Socket
from chat.wire.errors import CloseCode
from tests.helpers.wait import async_wait_until
from tests.helpers.ws import Client, communicator, connect


class _Reactor:
    """What a Twisted transport asks of its reactor when it starts or stops writing."""

    def addWriter(self, _) -> None:  # noqa: N802 - Twisted's name
        pass

    def removeWriter(self, _) -> None:  # noqa: N802 - Twisted's name
        pass


@pytest.fixture
def kernel_socket():
    """A Twisted TCP transport on one end of a socket pair with tiny buffers, and the other end."""
    server_end, client_end = sockets.socketpair()
    server_end.setsockopt(sockets.SOL_SOCKET, sockets.SO_SNDBUF, 4096)
    client_end.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096)
    client_end.setblocking(False)
    transport = tcp.Connection(server_end, None, reactor=_Reactor())
    transport.connected = True
    yield transport, client_end
    server_end.close()
    client_end.close()


def drain(transport, client_end, size: int) -> bytes:
    """Let Twisted write what it queued while the client reads, until ``size`` bytes came."""
    received = bytearray()
    for _ in range(100_000):
        if len(received) >= size:
            break
        transport.doWrite()
        with contextlib.suppress(BlockingIOError):
            received += client_end.recv(65536)
    return bytes(received)


def texts(data: bytes) -> list[str]:
    """The text frames (unmasked, as a server sends them) in ``data``."""
    found, at = [], 0
    while at < len(data):
        assert data[at] == 0x81, data[at]
        length, at = data[at + 1], at + 2
        if length == 126:
            length, at = int.from_bytes(data[at : at + 2], "big"), at + 2
        elif length == 127:
            length, at = int.from_bytes(data[at : at + 8], "big"), at + 8
        found.append(data[at : at + length].decode())
        at += length
    return found


def test_what_the_kernel_did_not_take_goes_out_before_later_writes(kernel_socket):
    transport, client_end = kernel_socket
    first, second, third = b"a" * 300_000, b"b" * 1000, b"c" * 10
    fanout_write.write(transport, first)
    assert transport._tempDataBuffer, "the kernel took it all: the test proves nothing"
    fanout_write.write(transport, second)
    fanout_write.write(transport, third)

    assert drain(transport, client_end, len(first + second + third)) == first + second + third


def test_an_idle_transport_is_written_at_once(kernel_socket):
    transport, client_end = kernel_socket
    fanout_write.write(transport, b"hello")
    assert not transport._tempDataBuffer  # no loop turn needed
    assert client_end.recv(100) == b"hello"


def open_protocol(transport) -> ChatWebSocketProtocol:
    protocol = ChatWebSocketProtocol()
    protocol.state = protocol.STATE_OPEN
    protocol.send_queue = []
    protocol.transport = transport
    return protocol


async def refuse_asgi(message) -> None:
    raise AssertionError(f"the ASGI send was used: {message['type']}")


async def test_frames_reach_the_client_in_order_when_the_kernel_takes_part(kernel_socket):
    transport, client_end = kernel_socket
    socket = Socket({SCOPE_KEY: open_protocol(transport)}, refuse_asgi)
    big = "x" * 200_000
    assert socket.send_now([Frame(big), Frame("one")])
    assert socket.send_now([Frame("two")])
    await socket.send([Frame("three")])

    data = drain(transport, client_end, 200_000 + 30)
    assert texts(data) == [big, "one", "two", "three"]


class _ChangedProtocol(ChatWebSocketProtocol):
    """As if autobahn had renamed what the fan-out write reads."""

    @property
    def state(self):
        raise AttributeError("'WebSocketServerProtocol' object has no attribute 'state'")


async def test_a_failing_optimised_write_falls_back_to_the_asgi_send(monkeypatch):
    monkeypatch.setattr(fanout_write.PREPARED_FRAMES, "state", True)
    sent = []

    async def asgi_send(message) -> None:
        sent.append(message)

    protocol = _ChangedProtocol()
    protocol.transport = StringTransport()
    socket = Socket({SCOPE_KEY: protocol}, asgi_send)

    await socket.send([Frame("a"), Frame("b")])

    assert sent == [{"type": "websocket.send", "text": t} for t in ("a", "b")]
    assert fanout_write.PREPARED_FRAMES.state is False  # off for the process, said once
    assert protocol.transport.value() == b""


async def test_without_the_chats_protocol_the_socket_knows_no_backlog():
    socket = Socket({}, refuse_asgi)
    assert socket.protocol is None and socket.backlog() is None
    assert not socket.send_now([Frame("a")])


@pytest.mark.django_db(transaction=True)
async def test_a_browser_session_connection_that_stops_reading_is_closed_4408(
    embedded, room, user, other_user
):
    """The protocol comes through the scope, so channels' session middleware wrapping
    ``send`` does not hide it (a cookie connection, unlike a bearer token one)."""
    transport = StringTransport()
    protocol = open_protocol(transport)
    comm = communicator(f"/ws/rooms/{room.slug}/", user=user)  # the session stack
    comm.scope[SCOPE_KEY] = protocol
    connected, _ = await comm.connect(timeout=5)
    assert connected
    try:
        # Written straight to the protocol's transport, not through the ASGI send.
        await async_wait_until(lambda: b'"ready"' in transport.value(), 5, "ready written")
        protocol.pauseProducing()  # Twisted: the client stopped taking what we write
        protocol.wrote(MAX_SOCKET_BUFFER + 1)
        async with connect(f"/ws/rooms/{room.slug}/", user=other_user) as bob:
            await bob.send("message", body="hello", client_id="c1")
            await bob.expect("ack")
        await Client(comm).expect_close(CloseCode.TOO_SLOW, timeout=5)
    finally:
        await comm.disconnect()
