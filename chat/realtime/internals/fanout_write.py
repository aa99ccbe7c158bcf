"""Fan-out writes: a room broadcast's frame bytes written straight to each socket.

Under daphne a connection's ASGI ``send`` ends in ``protocol.handle_reply``, which
UTF-8 encodes and frames the text again for every receiver. A broadcast is the same
bytes for every receiver: its autobahn ``PreparedMessage`` (the complete frame) is
written to the protocol's transport directly (``PREPARED_FRAMES``). And Twisted's
``transport.write`` always queues, registers the socket for writing and sends on a
later loop turn, then unregisters: three system calls per frame per receiver, most
of a big room's fan-out. When Twisted has nothing queued, sending at once (as
asyncio's transports do) keeps the order and costs one (``DIRECT_SEND``).
"""

from __future__ import annotations

# Importing tcp installs no reactor (daphne.server must choose asyncio's first).
from twisted.internet import tcp

from chat.realtime.internals.contract import Optimisation, require


def _check_prepared_frames() -> None:
    from autobahn.websocket.protocol import PreparedMessage, WebSocketProtocol

    frame = PreparedMessage(b"hi", False, False, True)
    require(frame.payloadHybi == b"\x81\x02hi", "PreparedMessage.payloadHybi is not the frame")
    require(hasattr(WebSocketProtocol, "sendPreparedMessage"), "no sendPreparedMessage")
    require(WebSocketProtocol.STATE_OPEN is not None, "no WebSocketProtocol.STATE_OPEN")


PREPARED_FRAMES = Optimisation(
    name="autobahn.prepared_frames",
    library="autobahn",
    written_for="26.11.1",
    uses="PreparedMessage.payloadHybi, WebSocketProtocol.state/STATE_OPEN/send_queue",
    buys="a broadcast is encoded and framed once, not once per receiver, and written "
    "without a coroutine per receiver",
    without="every frame goes through the ASGI send (daphne's handle_reply)",
    check=_check_prepared_frames,
)


class _Reactor:
    """Just enough reactor for a probe ``FileDescriptor``."""

    def addWriter(self, _) -> None:  # noqa: N802 - Twisted's name
        pass

    def removeWriter(self, _) -> None:  # noqa: N802 - Twisted's name
        pass


def _check_direct_send() -> None:
    from twisted.internet import abstract

    probe = abstract.FileDescriptor(reactor=_Reactor())
    require(probe.dataBuffer == b"" and probe.offset == 0, "no dataBuffer/offset")
    require(probe._tempDataBuffer == [] and probe._tempDataLen == 0, "no _tempDataBuffer")
    require(probe._writeDisconnected is False, "no _writeDisconnected")
    probe.connected = True
    probe.write(b"abc")
    require(
        probe._tempDataBuffer == [b"abc"] and probe._tempDataLen == 3,
        "FileDescriptor.write no longer queues in _tempDataBuffer",
    )
    require(callable(getattr(tcp.Connection, "getHandle", None)), "no tcp.Connection.getHandle")


DIRECT_SEND = Optimisation(
    name="twisted.direct_send",
    library="Twisted",
    written_for="26.10.0",
    uses="FileDescriptor.dataBuffer, offset, _tempDataBuffer, _writeDisconnected",
    buys="one system call per write instead of three (most of a big room's fan-out)",
    without="every write goes through transport.write (queued for the next loop turn)",
    check=_check_direct_send,
)


def write(transport, data: bytes) -> None:
    """``transport.write(data)``, sent at once when Twisted has nothing queued."""
    if isinstance(transport, tcp.Connection) and DIRECT_SEND.ok():
        try:
            idle = (
                transport.connected
                and not transport._writeDisconnected
                and not transport._tempDataBuffer
                and transport.offset == len(transport.dataBuffer)
            )
            sock = transport.getHandle() if idle else None
        except Exception as exc:  # noqa: BLE001 - a changed Twisted: the plain path below
            DIRECT_SEND.fail(exc)
            sock = None
        if sock is not None:
            try:
                sent = sock.send(data)
            except OSError:  # full (BlockingIOError), interrupted, or broken: Twisted copes
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
    transport.write(data)
