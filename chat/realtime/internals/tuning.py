"""Process-wide tuning of a daphne process, applied by ``chat.serve`` before serving.

The CPU items were found with py-spy under a crowd of 1,000 clients connecting at
once (``python -m bench.run --scenarios 5 --profile 5``); the memory items with
tracemalloc snapshots and RSS of a server holding 2,000 idle connections (scenario
4: every byte kept per connection is paid 10,000 times).

Tried and rejected: a shorter GIL switch interval (1 ms instead of 5) for the
database thread. Connect storms did not get measurably faster, and with 100 busy
rooms (scenario 3) the threads took turns so often that the process used 69 % of a
core instead of 100 % and latency went from 0.45 s to 3.5 s at p99.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import pprint
from collections import deque


class _Pretty:
    """``pprint.pformat(value)``, computed only if a log line is actually written."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return pprint.pformat(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _lazy_autobahn_pformat() -> None:
    """Stop autobahn pretty-printing its configuration for every connection.

    ``WebSocketProtocol._connectionMade`` passes ``pformat(30 settings)`` to a debug
    log call that is normally discarded: 7 % of the server's time in a connect storm.
    The log call formats lazily, so a lazy value keeps the debug output unchanged.
    """
    from autobahn.websocket import protocol

    protocol.pformat = _Pretty
    # The module's one other use must return a real string.
    protocol.Timings.__str__ = lambda self: pprint.pformat(self._timings)


class _FactorySetting:
    """A protocol setting read from the protocol's factory, unless the instance has its own.

    A non-data descriptor: an instance attribute of the same name still wins, as it
    did when autobahn copied the value onto the instance.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, protocol, owner=None):
        if protocol is None:
            return self
        return getattr(protocol.factory, self.name)


def _protocol_settings_from_factory() -> None:
    """Stop autobahn copying 29 factory settings onto every WebSocket protocol instance.

    ``WebSocketProtocol._connectionMade`` copies each of ``CONFIG_ATTRS`` from the
    factory onto the instance unless ``hasattr`` already finds it: 99 attributes per
    instance, a 3.3 KB ``__dict__``. Found on the class instead, the instance keeps
    70 and a dict half that size. The values are the factory's either way; daphne
    configures its one factory before it listens and never changes it. (autobahn's
    debug log of the settings now names the protocol class as their source.)
    """
    from daphne.ws_protocol import WebSocketProtocol

    for name in WebSocketProtocol.CONFIG_ATTRS:
        # A setting some class already has was never copied from the factory.
        if not hasattr(WebSocketProtocol, name):
            setattr(WebSocketProtocol, name, _FactorySetting(name))


class SendQueue(list):
    """autobahn's per-connection ``send_queue`` as a list: 56 bytes where a deque takes 760.

    autobahn only appends to it, pops from the left, takes its ``len`` (and the
    chat's socket tests it for emptiness); it is nearly always empty, holding
    frames only while autobahn paces a chopped or synchronous send.
    """

    __slots__ = ()

    def popleft(self):
        """Remove and return the oldest entry."""
        return self.pop(0)


def _light_send_queue() -> None:
    """Give every autobahn protocol a ``SendQueue`` in place of its new, empty deque."""
    from autobahn.websocket.protocol import WebSocketProtocol

    original = WebSocketProtocol._connectionMade
    if getattr(original, "light_send_queue", False):
        return

    @functools.wraps(original)
    def _connectionMade(self) -> None:  # noqa: N802 - autobahn's name
        original(self)
        if type(self.send_queue) is deque and not self.send_queue:
            self.send_queue = SendQueue()

    _connectionMade.light_send_queue = True
    WebSocketProtocol._connectionMade = _connectionMade


class InputQueue:
    """An application's input queue for daphne: ``asyncio.Queue``'s FIFO in 160 bytes.

    daphne gives every connection an ``asyncio.Queue`` (three deques and an Event's
    deque: 3 KB), and only calls ``put_nowait`` and ``get`` (the ASGI ``receive``)
    and tests it for truth. This keeps an unbounded ``asyncio.Queue``'s semantics for
    those: items in order, getters woken in order, and a getter cancelled after
    being woken passes its turn to the next one.
    """

    __slots__ = ("_items", "_getters")

    def __init__(self) -> None:
        self._items: list = []
        self._getters: list[asyncio.Future] = []

    def qsize(self) -> int:
        """Items waiting."""
        return len(self._items)

    def empty(self) -> bool:
        """True when no item waits."""
        return not self._items

    def put_nowait(self, item) -> None:
        """Append ``item`` and wake the longest-waiting getter."""
        self._items.append(item)
        self._wake_next()

    def get_nowait(self):
        """The oldest item; ``asyncio.QueueEmpty`` when there is none."""
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.pop(0)

    async def get(self):
        """The oldest item, waiting for one if needed."""
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                with contextlib.suppress(ValueError):
                    self._getters.remove(getter)
                if self._items and not getter.cancelled():
                    self._wake_next()
                raise
        return self._items.pop(0)

    def _wake_next(self) -> None:
        while self._getters:
            getter = self._getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                return


def release_upgrade_request(protocol) -> None:
    """Let go of the HTTP request a WebSocket connection was upgraded from.

    Twisted's ``HTTPChannel`` registers itself as its transport's producer, and
    daphne hands that transport to the WebSocket protocol without unregistering it,
    so the channel, its request, headers and buffers lived as long as the
    connection (3.5 KB). As the producer it no longer did anything: its request is
    never finished (``_handlingRequest`` stays set) and has no producer of its own,
    so its ``pauseProducing``, ``resumeProducing`` and ``stopProducing`` only set
    flags of its own. (Except one harm: once a slow client had filled the send
    buffer, Twisted resumed this producer instead of closing when the buffer
    drained, so a ``loseConnection`` in between never completed.)
    """
    from daphne.ws_protocol import WebSocketProtocol
    from twisted.web.http import HTTPChannel

    if not isinstance(protocol, WebSocketProtocol):
        return  # a plain HTTP request: its channel is still the transport's protocol
    transport = getattr(protocol, "transport", None)
    if isinstance(getattr(transport, "producer", None), HTTPChannel):
        transport.unregisterProducer()


def apply() -> None:
    """Apply every tuning above to this process."""
    _lazy_autobahn_pformat()
    _protocol_settings_from_factory()
    _light_send_queue()
