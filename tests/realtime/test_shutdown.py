"""``chat.realtime.shutdown.drain``: 1001 for every connection, then the data made safe.

The order matters: connections close first (clients reconnect elsewhere and resend),
then the commits in flight finish, then presence is withdrawn, then everything
committed is published. The steps are observed on the objects ``drain`` uses (each
call recorded, then passed on to the real one) and by their effects.
"""

import asyncio
import threading

import pytest

from chat import history, services
from chat.events.publisher import Publisher
from chat.models import Message
from chat.realtime import shutdown
from chat.realtime.hub import Hub
from chat.realtime.writer import writer
from chat.stores import presence
from chat.stores.history_cache import cache
from tests.helpers.db import hold_write_lock
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _forget_shutdown():
    yield
    shutdown.reset()


async def test_a_connection_arriving_during_the_drain_is_refused_with_1001(embedded, room, token):
    await shutdown.drain()
    assert shutdown.stopping()
    async with connect("/ws/rooms/lobby/", token=token, expect_ready=False) as late:
        await late.expect_close(1001)
        assert not [f for f in late.seen if f["type"] == "ready"]


async def test_a_connection_still_joining_when_the_drain_starts_gets_1001(
    embedded, room, token, monkeypatch
):
    reading = asyncio.Event()
    release = asyncio.Event()
    read_latest = history.latest

    async def slow_latest(**kwargs):
        reading.set()  # subscribed to the room, ready not sent yet
        await release.wait()
        return await read_latest(**kwargs)

    monkeypatch.setattr(history, "latest", slow_latest)
    async with connect("/ws/rooms/lobby/", token=token, expect_ready=False) as joining:
        await asyncio.wait_for(reading.wait(), 5)
        try:
            await shutdown.drain()
            await joining.expect_close(1001)
        finally:
            release.set()
        # Nothing follows the close, though the join goes on to its end.
        assert await joining.communicator.receive_nothing(0.3), "a frame after the close"
        assert not [f for f in joining.seen if f["type"] == "ready"]


def _pause_before(monkeypatch, method_name: str):
    """Make ``Hub.<method_name>`` wait for ``release`` before it registers a connection."""
    arrived, release = asyncio.Event(), asyncio.Event()
    real = getattr(Hub, method_name)

    async def paused(self, *args, **kwargs):
        arrived.set()  # accepted, past the stopping() check, not in the hub yet
        await release.wait()
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(Hub, method_name, paused)
    return arrived, release


async def test_a_connection_not_in_the_hub_yet_when_the_drain_starts_gets_1001(
    embedded, room, token, monkeypatch
):
    # close_all closes what the hub holds; a connection still on its way there
    # (sessions, presence) must close itself once it arrives, not wait for the kill.
    arrived, release = _pause_before(monkeypatch, "join")
    async with connect("/ws/rooms/lobby/", token=token, expect_ready=False) as joining:
        await asyncio.wait_for(arrived.wait(), 5)
        try:
            await shutdown.drain()
        finally:
            release.set()
        await joining.expect_close(1001)
        assert not [f for f in joining.seen if f["type"] == "ready"]
    assert not list(Hub.current().connections())
    assert await presence.presence().online(room.pk) == []


async def test_a_sidebar_socket_not_in_the_hub_yet_when_the_drain_starts_gets_1001(
    embedded, user, token, monkeypatch
):
    arrived, release = _pause_before(monkeypatch, "add_sidebar")
    async with connect("/ws/me/", token=token, expect_ready=False) as joining:
        await asyncio.wait_for(arrived.wait(), 5)
        try:
            await shutdown.drain()
        finally:
            release.set()
        await joining.expect_close(1001)
        assert not [f for f in joining.seen if f["type"] == "sidebar_ready"]
    assert not Hub.current().sidebar_connections()


async def test_the_steps_run_in_order_and_an_inflight_commit_finishes(
    embedded, room, user, token, monkeypatch
):
    steps: list[str] = []

    def recorded(name, method, after=None):
        async def step(*args, **kwargs):
            steps.append(f"{name} begins")
            try:
                return await method(*args, **kwargs)
            finally:
                steps.append(f"{name} ends" + (f" ({after()})" if after else ""))

        return step

    async with connect("/ws/rooms/lobby/", token=token) as alice:
        assert await presence.presence().online(room.pk) == ["alice"]
        # A message in flight: its commit waits for a write lock held for a moment.
        held = threading.Event()
        locker = asyncio.create_task(asyncio.to_thread(hold_write_lock, room.pk, 1.0, held))
        await asyncio.to_thread(held.wait, 5)
        request = services.PostRequest(
            room_id=room.pk, author=user, body="in flight", client_id="f"
        )
        inflight = asyncio.create_task(writer().submit(request))

        def commit_state() -> str:
            return "committed" if inflight.done() else "committing"

        hub, store, publisher = Hub.current(), presence.presence(), Publisher.current()
        monkeypatch.setattr(hub, "close_all", recorded("close", hub.close_all, commit_state))
        monkeypatch.setattr(writer(), "idle", recorded("commits", writer().idle, commit_state))
        monkeypatch.setattr(store, "retire", recorded("presence", store.retire))
        monkeypatch.setattr(publisher, "drain", recorded("publish", publisher.drain))

        await shutdown.drain()
        await alice.expect_close(1001)
        await locker

    assert steps == [
        "close begins",
        "close ends (committing)",
        "commits begins",
        "commits ends (committed)",
        "presence begins",
        "presence ends",
        "publish begins",
        "publish ends",
    ]
    result = inflight.result()
    assert result.created and result.message.seq == 1
    assert await Message.objects.acount() == 1
    assert await presence.presence().online(room.pk) == []
    # Published before drain returned: the history cache already has it.
    tail = await cache().tail(room.pk, 1)
    assert [seq for seq, _ in tail] == [1]


async def test_drain_waits_for_the_close_handshake_while_sockets_are_open(embedded):
    open_sockets = [2]

    async def clients_answer():
        await asyncio.sleep(0.1)
        open_sockets[0] = 0

    answered = asyncio.create_task(clients_answer())
    await shutdown.drain(open_sockets=lambda: open_sockets[0])
    assert answered.done() and open_sockets == [0]
