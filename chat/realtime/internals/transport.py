"""Twisted: each accepted TCP connection's transport in a class of the chat's own.

Python shares one table of attribute names among the instance dicts of a class, for
at most 30 names; past that (or once the table is spoilt) every instance gets a
dict of its own. Twisted's ``tcp.Server`` instances had one each: 832 bytes of every
connection for 17 attributes. The same class under another name starts a fresh
table: 192 bytes. ``chat.serve`` sets it on each port daphne listens on.
"""

from __future__ import annotations

from twisted.internet import tcp

from chat.realtime.internals.contract import Optimisation, require


class ChatTransport(tcp.Server):
    """Twisted's ``tcp.Server``, unchanged, with instance dicts that share their keys."""


def _check() -> None:
    require(tcp.Port.transport is tcp.Server, "tcp.Port.transport is no longer tcp.Server")
    require(
        "transport" in tcp.Port.doRead.__code__.co_names,
        "tcp.Port.doRead no longer builds connections with self.transport",
    )


OWN_TRANSPORT_CLASS = Optimisation(
    name="twisted.own_transport_class",
    library="twisted",
    written_for="26.10.0",
    uses="tcp.Port.transport (the class doRead builds each accepted connection with)",
    buys="~640 bytes per connection: transports whose instance dicts share their keys",
    without="each connection's transport keeps an 832-byte dict",
    check=_check,
)


def install(port) -> None:
    """Make listening ``port`` build ``ChatTransport`` (a TCP port only)."""
    if type(port) is tcp.Port and port.transport is tcp.Server and OWN_TRANSPORT_CLASS.ok():
        port.transport = ChatTransport
