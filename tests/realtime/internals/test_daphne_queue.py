"""``internals.daphne_queue``: the light input queue and daphne's use of it."""

from __future__ import annotations

import asyncio
import inspect
import re

import pytest

from chat.realtime.internals import daphne_queue
from tests.realtime.internals.daphne_rig import close, daphne_server, idle_application, upgrade

# --- daphne: the application's input queue ------------------------------------------


async def test_daphne_creates_applications_with_the_light_input_queue(tuned):
    server = daphne_server(idle_application)
    _, transport = upgrade(server)
    try:
        queue = transport.protocol.application_queue
        assert isinstance(queue, daphne_queue.InputQueue)
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
    # ChatServer runs a copy of create_application: it must be the one copied.
    assert daphne_queue.create_application_source_hash() == daphne_queue.CREATE_APPLICATION_SHA256


async def test_input_queue_gives_items_in_order():
    queue = daphne_queue.InputQueue()
    queue.put_nowait(1)
    queue.put_nowait(2)

    assert queue.qsize() == 2
    assert [await queue.get(), await queue.get()] == [1, 2]
    assert queue.empty()
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()


async def test_input_queue_wakes_getters_in_order():
    queue = daphne_queue.InputQueue()
    first = asyncio.ensure_future(queue.get())
    second = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)

    queue.put_nowait("a")
    queue.put_nowait("b")

    assert await asyncio.wait_for(first, 1) == "a"
    assert await asyncio.wait_for(second, 1) == "b"


async def test_input_queue_cancelled_getter_loses_no_item():
    queue = daphne_queue.InputQueue()
    first = asyncio.ensure_future(queue.get())
    second = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)

    queue.put_nowait("only")  # wakes the first getter...
    first.cancel()  # ...which is cancelled before it runs: the second gets the item
    assert await asyncio.wait_for(second, 1) == "only"
    assert first.cancelled()


async def test_input_queue_cancelled_waiting_getter_is_forgotten():
    queue = daphne_queue.InputQueue()
    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.sleep(0)

    queue.put_nowait("x")

    assert queue.get_nowait() == "x"
    assert queue._getters == []
