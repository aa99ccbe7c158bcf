"""``chatsite.tuning`` and the lean ASGI stack: what they change, and what they rely on.

Each tuning patches or replaces a part of daphne, autobahn or Twisted; these tests
fail when a new version of one of those changes what the tuning depends on.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import re
import weakref
from collections import deque

import pytest
from channels.testing import WebsocketCommunicator
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from chat.realtime.internals import tuning
from chat.stores import history_cache

HANDSHAKE = (
    b"GET /ws/rooms/lobby/ HTTP/1.1\r\n"
    b"Host: 127.0.0.1\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)


@pytest.fixture
def tuned():
    tuning.apply()


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


# --- daphne: the HTTP request behind an upgraded connection ---------------------------


async def test_an_upgraded_connection_keeps_nothing_of_its_http_request(tuned):
    server = daphne_server(idle_application)
    channel, transport = upgrade(server)
    try:
        from daphne.ws_protocol import WebSocketProtocol

        assert isinstance(transport.protocol, WebSocketProtocol), "daphne did not upgrade"
        # Twisted's HTTPChannel made itself the transport's producer; without the
        # tuning it stays there (and alive) for the whole WebSocket connection.
        assert transport.producer is None
        request = channel.requests[0]
        gone = weakref.ref(channel), weakref.ref(request)
        del channel, request
        server.connections = {
            p: d for p, d in server.connections.items() if p is transport.protocol
        }
        gc.collect()
        assert [ref() for ref in gone] == [None, None]
    finally:
        close(server, transport)


def test_the_http_channel_as_producer_of_an_upgraded_connection_does_nothing():
    """What releasing it relies on: mid-request, its producer methods only set its flags."""
    from twisted.web.http import HTTPChannel

    channel = HTTPChannel()
    transport = StringTransport()
    channel.makeConnection(transport)
    assert transport.producer is channel  # it registers itself (what the tuning undoes)
    channel._handlingRequest = True  # daphne never finishes the upgrade request
    channel.pauseProducing()
    channel.resumeProducing()
    channel.stopProducing()
    assert transport.producerState == "producing"
    assert not transport.disconnecting


async def test_a_plain_http_request_keeps_its_channel_as_producer(tuned):
    from daphne.http_protocol import WebRequest

    server = daphne_server(idle_application)
    wrapper = server.http_factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40001))
    transport = StringTransport()
    wrapper.makeConnection(transport)
    channel = wrapper._channel
    request = WebRequest(channel)
    tuning.release_upgrade_request(request)
    assert transport.producer is channel


# --- daphne: the application's input queue ------------------------------------------


async def test_daphne_creates_applications_with_the_light_input_queue(tuned):
    server = daphne_server(idle_application)
    _, transport = upgrade(server)
    try:
        queue = transport.protocol.application_queue
        assert isinstance(queue, tuning.InputQueue)
        assert queue  # daphne tests the queue for truth ("if self.application_queue")
        details = server.connections[transport.protocol]
        assert not details["application_instance"].done()
    finally:
        close(server, transport)


def test_daphne_uses_only_put_nowait_and_get_of_the_input_queue():
    import daphne.http_protocol
    import daphne.server
    import daphne.ws_protocol

    used = set()
    for module in (daphne.server, daphne.ws_protocol, daphne.http_protocol):
        source = inspect.getsource(module)
        used |= set(re.findall(r"(?:application_queue|input_queue)\.(\w+)", source))
    assert used <= {"put_nowait", "get"}, used
    create = inspect.getsource(daphne.server.Server.create_application)
    assert "input_queue = asyncio.Queue()" in create  # ChatServer.create_application copies it


async def test_input_queue_gives_items_in_order():
    queue = tuning.InputQueue()
    queue.put_nowait(1)
    queue.put_nowait(2)

    assert queue.qsize() == 2
    assert [await queue.get(), await queue.get()] == [1, 2]
    assert queue.empty()
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()


async def test_input_queue_wakes_getters_in_order():
    queue = tuning.InputQueue()
    first = asyncio.ensure_future(queue.get())
    second = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)

    queue.put_nowait("a")
    queue.put_nowait("b")

    assert await asyncio.wait_for(first, 1) == "a"
    assert await asyncio.wait_for(second, 1) == "b"


async def test_input_queue_cancelled_getter_loses_no_item():
    queue = tuning.InputQueue()
    first = asyncio.ensure_future(queue.get())
    second = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)

    queue.put_nowait("only")  # wakes the first getter...
    first.cancel()  # ...which is cancelled before it runs: the second gets the item
    assert await asyncio.wait_for(second, 1) == "only"
    assert first.cancelled()


async def test_input_queue_cancelled_waiting_getter_is_forgotten():
    queue = tuning.InputQueue()
    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.sleep(0)

    queue.put_nowait("x")

    assert queue.get_nowait() == "x"
    assert queue._getters == []


# --- autobahn: settings read from the factory -----------------------------------------


async def test_protocol_settings_come_from_the_factory_not_the_instance(tuned):
    server = daphne_server(idle_application)
    _, transport = upgrade(server)
    try:
        protocol = transport.protocol
        factory = server.ws_factory
        for name in protocol.CONFIG_ATTRS:
            assert getattr(protocol, name) == getattr(factory, name), name
            assert name not in vars(protocol), name
        assert protocol.autoPingTimeout == 7
        assert protocol.maxMessagePayloadSize == 4096
    finally:
        close(server, transport)


def test_an_instance_setting_still_wins_over_the_factory(tuned):
    from daphne.ws_protocol import WebSocketProtocol

    protocol = WebSocketProtocol()
    protocol.factory = daphne_server(idle_application).ws_factory
    protocol.autoPingTimeout = 99

    assert protocol.autoPingTimeout == 99
    assert protocol.maxMessagePayloadSize == 4096


def test_autobahn_copies_settings_only_when_the_protocol_lacks_them():
    from autobahn.websocket.protocol import WebSocketProtocol

    source = inspect.getsource(WebSocketProtocol._connectionMade.__wrapped__)
    assert "if not hasattr(self, configAttr):" in source
    assert "setattr(self, configAttr, getattr(self.factory, configAttr))" in source


# --- autobahn: the send queue ---------------------------------------------------------


async def test_protocols_get_the_light_send_queue(tuned):
    server = daphne_server(idle_application)
    _, transport = upgrade(server)
    try:
        assert type(transport.protocol.send_queue) is tuning.SendQueue
    finally:
        close(server, transport)


def test_autobahn_uses_its_send_queue_as_a_send_queue_allows():
    from autobahn.websocket import protocol

    source = inspect.getsource(protocol)
    uses = re.findall(r"self\.send_queue(\.\w+|\s*=\s*\w+\(|\)|\s*:)", source)
    assert set(uses) <= {".append", ".popleft", ")", " = deque("}, set(uses)
    assert "len(self.send_queue)" in source


def test_send_queue_is_a_fifo():
    queue = tuning.SendQueue()
    assert not queue and len(queue) == 0
    queue.append(1)
    queue.append(2)
    assert queue and len(queue) == 2
    assert [queue.popleft(), queue.popleft()] == [1, 2]
    assert len(queue) == len(deque())


# --- the ASGI stack: one coroutine per connection -------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_an_open_websocket_waits_in_the_consumer_coroutine_alone(settings):
    from chat.realtime.consumer import RoomConsumer
    from chat.stores import presence, ratelimit
    from chatsite.asgi import application

    settings.REDIS_URL = ""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    history_cache.reset()
    presence.reset()
    ratelimit.reset()
    # A bearer token (refused or not) skips channels' session middleware, which
    # keeps coroutines of its own.
    communicator = WebsocketCommunicator(
        application, "/ws/rooms/lobby/", headers=[(b"authorization", b"Bearer nope")]
    )
    try:
        await communicator.connect()
        coroutine = communicator.future.get_coro()
        assert coroutine.cr_code is RoomConsumer.__call__.__code__
    finally:
        await communicator.disconnect()


async def test_no_route_is_refused_inside_the_application_task():
    # Refused like an unknown room (tests/test_asgi_unknown_paths.py), not an error.
    from chatsite.asgi import application

    scope = {"type": "websocket", "path": "/nowhere/", "headers": [(b"authorization", b"Bearer x")]}
    sent = []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    awaitable = application(scope, receive, send)  # nothing runs yet
    assert sent == []
    await awaitable

    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert sent[-1]["code"] == 4404


async def test_an_unknown_scope_type_fails_inside_the_application_task():
    from chatsite.asgi import application

    awaitable = application({"type": "lifespan"}, None, None)

    with pytest.raises(ValueError, match="No application configured for scope type"):
        await awaitable
