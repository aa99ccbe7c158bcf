"""Twisted: each accepted TCP connection's transport with its attributes in slots.

Twisted's ``tcp.Server`` keeps 17 attributes in an instance dict, and in a server
that dict stopped sharing its keys with the other instances' (a dict once read as a
whole can only append keys in the class's order): 832 bytes of every connection.
``ChatTransport`` keeps the names no Twisted class defines a default for in slots
(8 bytes each) and the rest, seven, in a dict of 464 bytes. ``chat.serve`` sets
it on each TCP port daphne listens on.
"""

from __future__ import annotations

from twisted.internet import tcp

from chat.realtime.internals import slots
from chat.realtime.internals.contract import Optimisation, require

# What tcp.Server's __init__ and its writes set on every instance.
INSTANCE_ATTRIBUTES = (
    "_tempDataBuffer", "_tempDataLen", "client", "connected", "dataBuffer", "fileno",
    "hostname", "logstr", "offset", "producer", "protocol", "reactor", "repstr", "server",
    "sessionno", "socket", "streamingProducer",
)  # fmt: skip


class ChatTransport(tcp.Server):
    """Twisted's ``tcp.Server``, unchanged but for where its attributes live."""

    # A slot would hide a class default: its value before the instance sets one, and
    # again after Twisted deletes the instance's (``fileno``).
    __slots__ = slots.slot_names(tcp.Server, INSTANCE_ATTRIBUTES)


def _check() -> None:
    require(tcp.Port.transport is tcp.Server, "tcp.Port.transport is no longer tcp.Server")
    require(
        "transport" in tcp.Port.doRead.__code__.co_names,
        "tcp.Port.doRead no longer builds connections with self.transport",
    )
    read_whole = slots.dict_readers(tcp.Server.__mro__)
    require(not read_whole, f"Twisted reads the transport's __dict__: {read_whole}")


TRANSPORT_SLOTS = Optimisation(
    name="twisted.transport_slots",
    library="twisted",
    written_for="26.10.0",
    uses="tcp.Port.transport (the class doRead builds each accepted connection with), "
    "the names tcp.Server sets on its instances; no Twisted method reads __dict__",
    buys="~300 bytes per connection: ten of the transport's attributes in slots",
    without="each connection's transport keeps its attributes in an 832-byte dict",
    check=_check,
)


def install(port) -> None:
    """Make listening ``port`` build ``ChatTransport`` (a TCP port only)."""
    if type(port) is tcp.Port and port.transport is tcp.Server and TRANSPORT_SLOTS.ok():
        port.transport = ChatTransport
