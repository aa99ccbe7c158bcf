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
    monkeypatch.setattr(transport.OWN_TRANSPORT_CLASS, "state", False)
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
