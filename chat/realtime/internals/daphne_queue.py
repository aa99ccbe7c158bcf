"""daphne: each application's input queue, light (``asyncio.Queue`` was 3 KB per connection).

daphne has no hook for the queue it hands an application; ``ChatServer`` copies
daphne's ``Server.create_application`` to use ``InputQueue``. The check compares
daphne's method with the copy's original, so a changed daphne falls back to its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import re
from functools import partial

from chat.realtime.internals.contract import Optimisation, require

# sha256 of daphne 4.2.3's Server.create_application (the code copied below).
CREATE_APPLICATION_SHA256 = "f1e300b4ecf636c85e1a66250e32af2ebb67728f01919678d43e80c794a79a87"


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


def create_application_source_hash() -> str:
    """sha256 of daphne's ``Server.create_application`` source."""
    import daphne.server

    source = inspect.getsource(daphne.server.Server.create_application)
    return hashlib.sha256(source.encode()).hexdigest()


def _check() -> None:
    import daphne.http_protocol
    import daphne.server
    import daphne.ws_protocol

    require(
        create_application_source_hash() == CREATE_APPLICATION_SHA256,
        "daphne.server.Server.create_application changed (the chat runs a copy of it)",
    )
    used = set()
    for module in (daphne.server, daphne.ws_protocol, daphne.http_protocol):
        source = inspect.getsource(module)
        used |= set(re.findall(r"(?:application_queue|input_queue)\.(\w+)", source))
    require(used <= {"put_nowait", "get"}, f"daphne uses more of the input queue: {used}")


LIGHT_INPUT_QUEUE = Optimisation(
    name="daphne.light_input_queue",
    library="daphne",
    written_for="4.2.3",
    uses="a copy of daphne.server.Server.create_application; Server.connections, "
    "Server.handle_reply",
    buys="3 KB per connection (an asyncio.Queue per application instance)",
    without="daphne's own create_application and asyncio.Queue",
    check=_check,
)


def create_application(server, protocol, scope):
    """daphne 4.2.3's ``Server.create_application``, with an ``InputQueue``."""
    if "application_instance" in server.connections[protocol]:
        raise RuntimeError(f"{protocol!r} already has an application instance")
    input_queue = InputQueue()
    scope.setdefault("asgi", {"version": "3.0"})
    application_instance = server.application(
        scope=scope,
        receive=input_queue.get,
        send=partial(server.handle_reply, protocol),
    )
    if protocol not in server.connections:
        return None
    server.connections[protocol]["application_instance"] = asyncio.ensure_future(
        application_instance,
        loop=asyncio.get_event_loop(),
    )
    return input_queue
