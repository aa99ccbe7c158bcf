"""``chat.realtime.hub``: per-process fan-out in seq order, and the slow-joiner limit.

Events enter the hub where the layer hands them over (``Hub.dispatch``); the
messages themselves are really stored, but their publishing is held back
(captured) so the test decides in which order, and whether, the hub hears of them.
"""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from chat import history, services
from chat.events import outbound
from chat.realtime import hub as hub_module
from chat.realtime.consumer import MAX_QUEUED_FRAMES
from chat.realtime.hub import Hub
from chat.stores import history_cache
from chat.wire import protocol
from chat.wire.errors import CloseCode
from tests.helpers.wait import async_wait_until
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def held_back(monkeypatch):
    """Message events of posts, captured instead of published (in commit order)."""
    captured: list[dict] = []

    def capture(*outbounds):
        captured.extend(o.event for o in outbounds if o.event.get("kind") == "message")

    monkeypatch.setattr(services, "publish_on_commit", capture)
    return captured


def _post(room, user, count):
    for n in range(count):
        services.post_message(room=room, author=user, body=f"m{n + 1}", client_id=f"c{n + 1}")


async def _messages_seen(client) -> list[int]:
    """Seqs of every message frame received so far (a ping's pong closes the list)."""
    await client.send("ping")
    await client.expect("pong")
    return [f["seq"] for f in client.seen if f["type"] == "message"]


async def test_a_later_seq_arriving_first_reaches_the_client_in_order_once(
    embedded, room, user, token, held_back
):
    async with connect("/ws/rooms/lobby/", token=token) as alice:
        await sync_to_async(_post)(room, user, 3)
        first, second, third = held_back
        hub = Hub.current()
        await hub.dispatch(third)  # two processes published out of order
        await hub.dispatch(second)
        await hub.dispatch(first)
        await hub.dispatch(second)  # and the layer repeats one
        assert await _messages_seen(alice) == [1, 2, 3]
        assert [f["client_id"] for f in alice.seen if f["type"] == "message"] == ["c1", "c2", "c3"]


async def test_an_earlier_seq_that_never_arrives_is_filled_from_history_once(
    embedded, room, user, token, held_back
):
    async with connect("/ws/rooms/lobby/", token=token) as alice:
        await sync_to_async(_post)(room, user, 2)
        first, second = held_back
        hub = Hub.current()
        await hub.dispatch(second)  # the layer lost the first
        assert (await alice.expect("message", timeout=5))["seq"] == 1
        assert (await alice.expect("message"))["seq"] == 2
        await hub.dispatch(first)  # arrives after all: already delivered
        assert await _messages_seen(alice) == [1, 2]


async def test_a_joining_connection_with_max_queued_frames_is_closed_with_4408(
    embedded, room, token, monkeypatch
):
    reading = asyncio.Event()
    release = asyncio.Event()
    read_latest = history.latest

    async def slow_latest(**kwargs):
        reading.set()  # subscribed: room events queue until ready is sent
        await release.wait()
        return await read_latest(**kwargs)

    monkeypatch.setattr(history, "latest", slow_latest)
    frame = outbound.frame_event(room.pk, protocol.typing_frame("carol", True)).event
    async with connect("/ws/rooms/lobby/", token=token, expect_ready=False) as slow:
        await asyncio.wait_for(reading.wait(), 5)
        hub = Hub.current()
        try:
            await hub.dispatch_many([frame] * MAX_QUEUED_FRAMES)
            # Delivery to the queue is done when dispatch returns: a close would be out.
            assert await slow.communicator.receive_nothing(0.05), "closed before the limit"
            await hub.dispatch(frame)
            await slow.expect_close(CloseCode.TOO_SLOW)
        finally:
            release.set()
        # Nothing follows the close: not ready, not the queued frames.
        assert await slow.communicator.receive_nothing(0.3), "a frame after the close"
        assert slow.seen == []
        assert room.pk not in hub.rooms  # it left the room's fan-out


def test_token_connections_hold_one_connection_without_a_set():
    from chat.realtime.hub import TokenConnections

    first, second = object(), object()
    tokens = TokenConnections()
    assert not tokens and tokens.get(7) == []
    tokens.add(7, first)
    tokens.add(7, first)
    assert tokens._by_id[7] is first  # the connection itself, no set
    assert tokens.get(7) == [first] and list(tokens) == [7] == list(tokens.keys())
    tokens.add(7, second)
    assert set(tokens.get(7)) == {first, second} and len(tokens) == 1
    tokens.discard(7, first)
    assert tokens._by_id[7] is second
    tokens.discard(7, first)  # gone already: nothing changes
    assert tokens.get(7) == [second]
    tokens.discard(7, second)
    assert not tokens and tokens.get(7) == []
    tokens.discard(7, second)
    assert len(tokens) == 0


class _Recorder:
    """A connection of the fan-out that records what reaches it, in a shared log too."""

    def __init__(self, name, log):
        self.name, self.log, self.seen = name, log, []
        self.user_id, self.token_id, self.session_id = 0, None, None
        self.batch_floor, self.version = 0, 2

    def deliver_now(self, messages):
        self.seen.extend(frame.text for _, frame in messages)
        self.log.append(self.name)
        return True

    def frames_now(self, frames):
        self.seen.extend(frame.text for frame in frames)
        return True

    async def deliver_frame(self, frame):
        self.seen.append(frame.text)


async def test_a_big_fan_out_lets_the_loop_run_and_frames_wait_their_turn(monkeypatch):
    from types import SimpleNamespace

    from chat.realtime import hub as hub_module

    monkeypatch.setattr(hub_module, "FANOUT_SLICE", 2)
    fanout = hub_module.RoomFanout(None, SimpleNamespace(pk=1, last_seq=0))
    log: list[str] = []
    connections = [_Recorder(f"c{n}", log) for n in range(5)]
    fanout.connections.update(connections)

    async def meanwhile():
        log.append("loop ran")
        await fanout.broadcast("frame")  # sent to the room during the fan-out

    delivery = asyncio.create_task(fanout.on_messages([(1, "m1", None)]))
    await asyncio.sleep(0)  # the fan-out starts and pauses after its first slice
    other = asyncio.create_task(meanwhile())
    await asyncio.gather(delivery, other)
    assert log.index("loop ran") < len(log) - 1  # it ran before the fan-out ended
    for connection in connections:  # and the frame never overtook the message
        assert connection.seen == ["m1", "frame"]


async def test_a_tail_the_layer_lost_is_delivered_from_the_cache_read_beforehand(
    embedded, room, user, token, held_back, caplog
):
    """The hub reads every room's cached tail at once, then checks each room; a
    message delivered between the read and the check is not sent again."""
    async with connect("/ws/rooms/lobby/", token=token) as alice:
        await sync_to_async(_post)(room, user, 3)  # the layer lost all three...
        entries = await history.after(room=room, seq=0, count=3, last_seq=3)
        await history_cache.remember(room.pk, entries)  # ...but the cache has them
        hub = Hub.current()
        fanout = hub.rooms[room.pk]
        cached = await history.cached_tails({room.pk: fanout.last_seq})
        await hub.dispatch(held_back[0])  # the first arrives after the read after all

        await fanout.check_tail(cached[room.pk])

        assert await _messages_seen(alice) == [1, 2, 3]
    assert f"lost tail found room={room.pk} seqs=2..3" in caplog.text


async def test_the_refresh_reads_the_cached_tails_of_all_rooms_in_one_call(
    embedded, room, user, token, make_room, monkeypatch
):
    other = await sync_to_async(make_room)("second-room", created_by=user)
    reads: list[set[int]] = []
    cached_tails = history.cached_tails

    async def spy(seqs, **kwargs):
        reads.append(set(seqs))
        return await cached_tails(seqs, **kwargs)

    monkeypatch.setattr(history, "cached_tails", spy)
    monkeypatch.setattr(hub_module, "REFRESH_INTERVAL", 0.01)
    async with (
        connect("/ws/rooms/lobby/", token=token),
        connect(f"/ws/rooms/{other.slug}/", token=token),
    ):
        await async_wait_until(
            lambda: {room.pk, other.pk} in reads, 5, "one read of both rooms' tails"
        )
