"""``internals.transport``: accepted connections built with the chat's transport class."""

from __future__ import annotations

import pytest
from twisted.internet import tcp

from chat.realtime.internals import transport


def test_the_check_passes_on_the_installed_twisted():
    transport._check()


def test_a_tcp_port_builds_chat_transports(tuned):
    port = tcp.Port(0, factory=None)
    transport.install(port)
    assert port.transport is transport.ChatTransport
    assert issubclass(transport.ChatTransport, tcp.Server)
    assert tcp.Port.transport is tcp.Server  # the class itself is untouched


def test_other_ports_and_a_failed_check_keep_twisteds_class(tuned, monkeypatch):
    class OtherPort(tcp.Port):
        pass

    other = OtherPort(0, factory=None)
    transport.install(other)
    assert other.transport is tcp.Server
    monkeypatch.setattr(transport.TRANSPORT_SLOTS, "state", False)
    port = tcp.Port(0, factory=None)
    transport.install(port)
    assert port.transport is tcp.Server


def test_the_check_refuses_a_changed_port(monkeypatch):
    monkeypatch.setattr(tcp.Port, "transport", object)
    with pytest.raises(LookupError, match="no longer tcp.Server"):
        transport._check()


def test_the_chat_server_installs_it_on_each_port_it_listens_on(tuned):
    from chat.serve import ChatServer

    server = ChatServer(application=None, endpoints=["tcp:port=0"])
    port = tcp.Port(0, factory=None)
    port.getHost = lambda: None  # not listening: daphne only logs the address
    server.listen_success(port)
    assert port.transport is transport.ChatTransport


class _Reactor:
    """Just what ``tcp.Server.__init__`` and ``loseConnection`` ask of a reactor."""

    def addReader(self, reader):  # noqa: N802 - Twisted's name
        pass

    def removeReader(self, reader):  # noqa: N802
        pass

    def removeWriter(self, writer):  # noqa: N802
        pass

    def callLater(self, delay, function, *args):  # noqa: N802
        function(*args)


def test_a_chat_transport_keeps_most_attributes_in_slots():
    import socket

    from twisted.internet.protocol import Protocol

    ours, theirs = socket.socketpair()
    try:
        built = transport.ChatTransport(ours, Protocol(), ("127.0.0.1", 40000), None, 7, _Reactor())
        assert built.sessionno == 7 and built.hostname == "127.0.0.1"
        assert set(transport.ChatTransport.__slots__).isdisjoint(vars(built))
        # Names with a Twisted default stay in the dict, so the defaults still apply.
        assert set(vars(built)) <= set(transport.INSTANCE_ATTRIBUTES) - set(
            transport.ChatTransport.__slots__
        )
        assert built.dataBuffer == b"" and built.producer is None
        assert built.fileno() == ours.fileno()
    finally:
        ours.close()
        theirs.close()


def test_slots_never_hide_a_twisted_default():
    assert "fileno" not in transport.ChatTransport.__slots__  # a method, deleted on close
    assert "connected" not in transport.ChatTransport.__slots__
    assert {"socket", "protocol", "server"} <= set(transport.ChatTransport.__slots__)
