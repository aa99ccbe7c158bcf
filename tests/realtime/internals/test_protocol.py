"""``internals.protocol``: the chat's WebSocket protocol and what it relies on."""

from __future__ import annotations

import asyncio
import gc
import inspect
import re
import weakref
from collections import deque

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from chat.realtime.internals import protocol as chat_protocol
from tests.realtime.internals.daphne_rig import (
    accepted,
    close,
    daphne_server,
    idle_application,
    upgrade,
)

# --- daphne: the HTTP request behind an upgraded connection ---------------------------


async def test_an_upgraded_connection_keeps_nothing_of_its_http_request(tuned):
    server = daphne_server(idle_application)
    channel, transport = upgrade(server)
    try:
        from daphne.ws_protocol import WebSocketProtocol

        assert isinstance(transport.protocol, WebSocketProtocol), "daphne did not upgrade"
        # Twisted's HTTPChannel made itself the transport's producer; the chat's
        # protocol takes its place (back-pressure), so the channel can go.
        assert transport.producer is transport.protocol
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
    server = daphne_server(idle_application)
    wrapper = server.http_factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40001))
    transport = StringTransport()
    wrapper.makeConnection(transport)
    wrapper.dataReceived(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert transport.producer is wrapper._channel  # only WebSocket protocols let it go


# --- back-pressure through Twisted's producer interface -------------------------------


async def test_the_protocol_counts_what_it_is_handed_while_the_client_does_not_read(tuned):
    server = daphne_server(idle_application)
    _, transport = upgrade(server)
    try:
        protocol = transport.protocol
        protocol.wrote(1000)
        assert (protocol.paused, protocol.backlog) == (False, 0)
        protocol.pauseProducing()
        protocol.wrote(1000)
        protocol.pauseProducing()  # Twisted says it again on every write while full
        protocol.wrote(500)
        assert (protocol.paused, protocol.backlog) == (True, 1500)
        protocol.resumeProducing()
        assert (protocol.paused, protocol.backlog) == (False, 0)
    finally:
        close(server, transport)


async def test_a_resumed_protocol_of_a_closing_connection_lets_the_close_finish(tuned):
    server = daphne_server(idle_application)
    _, transport = upgrade(server)
    try:
        protocol = transport.protocol
        protocol.pauseProducing()
        transport.disconnecting = True  # loseConnection was called while paused
        protocol.resumeProducing()
        assert transport.producer is None
    finally:
        close(server, transport)


# --- close codes 1001 and 1011 ----------------------------------------------------------


async def accepting_application(scope, receive, send):
    await receive()
    await send({"type": "websocket.accept"})
    await asyncio.Event().wait()


@pytest.mark.parametrize("code", [1001, 1011])
async def test_the_protocol_closes_with_1001_and_1011(tuned, code):
    server = daphne_server(accepting_application)
    _, transport = upgrade(server)
    try:
        await accepted(transport)
        transport.clear()
        transport.protocol.handle_reply({"type": "websocket.close", "code": code})
        assert transport.value() == b"\x88\x02" + code.to_bytes(2, "big")
    finally:
        close(server, transport)


async def test_without_the_close_frame_optimisation_1011_becomes_1000(tuned, monkeypatch):
    monkeypatch.setattr(chat_protocol.CLOSE_FRAME, "state", False)
    server = daphne_server(accepting_application)
    _, transport = upgrade(server)
    try:
        await accepted(transport)
        transport.clear()
        transport.protocol.handle_reply({"type": "websocket.close", "code": 1011})
        assert transport.value() == b"\x88\x02\x03\xe8"
    finally:
        close(server, transport)


async def test_a_close_frame_sent_in_shutdown_waits_for_the_reply_without_autobahns_reset(tuned):
    server = daphne_server(accepting_application)
    _, before = upgrade(server)
    _, during = upgrade(server)
    try:
        await accepted(before, during)
        # Before the shutdown: autobahn resets a client that has not answered in 1 s.
        before.protocol.handle_reply({"type": "websocket.close", "code": 1001})
        assert before.protocol.closeHandshakeTimeoutCall is not None
        during.protocol.closeHandshakeTimeout = 1  # a copied setting (FACTORY_SETTINGS off)
        chat_protocol.wait_for_close_replies()
        during.protocol.handle_reply({"type": "websocket.close", "code": 1001})
        assert during.value().endswith(b"\x88\x02\x03\xe9")
        assert during.protocol.closeHandshakeTimeoutCall is None
        assert server.ws_factory.closeHandshakeTimeout == 0
    finally:
        close(server, before)
        close(server, during)


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
    from chat.realtime.internals.protocol import ChatWebSocketProtocol as WebSocketProtocol

    protocol = WebSocketProtocol()
    protocol.factory = daphne_server(idle_application).ws_factory
    protocol.autoPingTimeout = 99

    assert protocol.autoPingTimeout == 99
    assert protocol.maxMessagePayloadSize == 4096


def test_autobahn_copies_settings_only_when_the_protocol_lacks_them():
    from autobahn.websocket.protocol import WebSocketProtocol

    source = inspect.getsource(WebSocketProtocol._connectionMade)
    assert "if not hasattr(self, configAttr):" in source
    assert "setattr(self, configAttr, getattr(self.factory, configAttr))" in source


# --- autobahn: the send queue ---------------------------------------------------------


async def test_protocols_get_the_light_send_queue(tuned):
    server = daphne_server(idle_application)
    _, transport = upgrade(server)
    try:
        assert type(transport.protocol.send_queue) is chat_protocol.SendQueue
    finally:
        close(server, transport)


def test_autobahn_uses_its_send_queue_as_a_send_queue_allows():
    from autobahn.websocket import protocol

    source = inspect.getsource(protocol)
    uses = re.findall(r"self\.send_queue(\.\w+|\s*=\s*\w+\(|\)|\s*:)", source)
    assert set(uses) <= {".append", ".popleft", ")", " = deque("}, set(uses)
    assert "len(self.send_queue)" in source


def test_send_queue_is_a_fifo():
    queue = chat_protocol.SendQueue()
    assert not queue and len(queue) == 0
    queue.append(1)
    queue.append(2)
    assert queue and len(queue) == 2
    assert [queue.popleft(), queue.popleft()] == [1, 2]
    assert len(queue) == len(deque())


# --- the handshake's leftovers ----------------------------------------------------------


async def test_an_open_connection_lets_go_of_its_handshake(tuned):
    server = daphne_server(accepting_application)
    _, transport = upgrade(server)
    try:
        await accepted(transport)
        protocol = transport.protocol
        assert protocol.state == protocol.STATE_OPEN
        for name in chat_protocol.HANDSHAKE_ATTRIBUTES:
            assert getattr(protocol, name) is None, name
        # daphne still logs the path when the connection closes.
        assert type(protocol.request) is chat_protocol.OpenRequest
        assert protocol.request.path == "/ws/rooms/lobby/"
    finally:
        close(server, transport)


async def test_without_the_optimisation_the_handshake_stays(tuned, monkeypatch):
    monkeypatch.setattr(chat_protocol.RELEASE_HANDSHAKE, "state", False)
    server = daphne_server(accepting_application)
    _, transport = upgrade(server)
    try:
        await accepted(transport)
        assert transport.protocol.http_headers["host"] == "127.0.0.1"
        assert transport.protocol.clean_headers
    finally:
        close(server, transport)


async def test_a_release_that_raises_turns_the_optimisation_off(tuned, monkeypatch, caplog):
    def broken(self):
        raise AttributeError("no request")

    monkeypatch.setattr(chat_protocol.ChatWebSocketProtocol, "release_handshake", broken)
    server = daphne_server(accepting_application)
    _, transport = upgrade(server)
    try:
        await accepted(transport)
        assert transport.protocol.state == transport.protocol.STATE_OPEN
        assert chat_protocol.RELEASE_HANDSHAKE.state is False
        assert "autobahn.release_handshake" in caplog.text
    finally:
        close(server, transport)


def test_only_the_handshake_reads_the_handshake_state():
    from daphne.ws_protocol import WebSocketProtocol

    readers = chat_protocol.handshake_readers(WebSocketProtocol)
    assert set(readers) == {"processHandshake", "succeedHandshake", "onConnect"}
    assert "request" in readers["onConnect"]  # daphne's onOpen and onClose read only its path


def test_the_check_finds_a_late_reader(monkeypatch):
    from daphne.ws_protocol import WebSocketProtocol

    class Later(WebSocketProtocol):
        def onClose(self, wasClean, code, reason):  # noqa: N802
            return self.http_headers, self.request.peer

    readers = chat_protocol.handshake_readers(Later)
    assert readers["onClose"] == {"http_headers", "request"}
    monkeypatch.setattr(chat_protocol, "WebSocketProtocol", Later)
    with pytest.raises(LookupError, match="read after the handshake"):
        chat_protocol._check_release_handshake()


# --- the instance dict, in slots ------------------------------------------------------


async def test_an_open_connection_keeps_its_attributes_in_slots(tuned):
    server = daphne_server(accepting_application)
    _, transport = upgrade(server)
    try:
        await accepted(transport)
        protocol = transport.protocol
        assert type(protocol) is chat_protocol.SlottedWebSocketProtocol
        assert protocol.state == protocol.STATE_OPEN
        # Only names some library class defines a default for are in the dict.
        defaults = {"_results", "_valid_events", "peer", "connected", "factory", "transport"}
        assert set(vars(protocol)) <= defaults, vars(protocol)
        transport.clear()
        protocol.handle_reply({"type": "websocket.send", "text": "hello"})
        assert transport.value() == b"\x81\x05hello"
    finally:
        close(server, transport)


async def test_without_slots_the_protocol_is_the_plain_one(tuned, monkeypatch):
    monkeypatch.setattr(chat_protocol.PROTOCOL_SLOTS, "state", False)
    server = daphne_server(accepting_application)
    _, transport = upgrade(server)
    try:
        assert type(transport.protocol) is chat_protocol.ChatWebSocketProtocol
    finally:
        close(server, transport)


def test_a_slot_never_hides_a_class_default():
    class Base:
        peer = "<never connected>"
        CONFIG_ATTRS = ("openHandshakeTimeout",)

    names = chat_protocol.slot_names(Base)
    assert "peer" not in names and "state" in names
    assert "openHandshakeTimeout" not in names


def test_the_check_refuses_a_library_reading_the_instance_dict(monkeypatch):
    from daphne.ws_protocol import WebSocketProtocol

    monkeypatch.setattr(WebSocketProtocol, "peek", lambda self: self.__dict__, raising=False)
    with pytest.raises(LookupError, match="dict is read"):
        chat_protocol._check_slots()
