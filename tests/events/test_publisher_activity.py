"""The publisher's sidebar activity: built only for rooms some process watches, one
event per room and batch, sent to the watching processes, never holding up messages."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from chat.events import activity, outbound, peers
from chat.events.publisher import Publisher

ROOM = 5


def messages(first: int, count: int, user: str = "bob") -> list[outbound.Outbound]:
    return [
        outbound.message_event(
            ROOM,
            {
                "id": seq,
                "seq": seq,
                "room": "dev",
                "user": user,
                "body": "b",
                "ts": "",
                "client_id": None,
            },
        )
        for seq in range(first, first + count)
    ]


async def _attached(watched) -> tuple[Publisher, list[dict]]:
    publisher = Publisher.start()
    delivered: list[dict] = []

    async def hub(events):
        delivered.extend(events)

    layer = get_channel_layer()
    publisher.attach(hub, channel=await layer.new_channel("chat.hub."), origin="here")
    publisher.watched = watched
    return publisher, delivered


async def test_no_activity_for_a_room_nobody_watches(mode):
    publisher, delivered = await _attached(frozenset())
    publisher.submit(*messages(1, 3))
    await publisher.drain()
    assert [e["kind"] for e in delivered] == ["message"] * 3


async def test_one_activity_per_room_and_batch_for_a_watched_room(mode):
    publisher, delivered = await _attached({ROOM})
    publisher.submit(*messages(1, 3))
    await publisher.drain()
    kinds = [e["kind"] for e in delivered]
    assert kinds.count("message") == 3
    summed = [e for e in delivered if e["kind"] == "activity"]
    assert sum(e["count"] for e in summed) == 3
    assert summed[-1]["seq"] == 3 and summed[-1]["last_user"] == "bob"


@pytest.mark.redis
async def test_a_watching_process_gets_the_activity_in_one_layer_message(redis_mode):
    layer = get_channel_layer()
    watcher = await layer.new_channel("chat.hub.")
    await peers.registry().register([activity.watch_group(ROOM)], watcher)
    peers.peers.forget(activity.watch_group(ROOM))  # as the watcher's announcement does
    publisher, delivered = await _attached(frozenset())
    publisher.submit(*messages(1, 2))
    await publisher.drain()
    async with asyncio.timeout(5):
        message = await layer.receive(watcher)
    assert message["kind"] == "batch"
    [event] = message["events"]
    assert event["kind"] == "activity" and event["seq"] == 2 and event["count"] == 2
    assert [e["kind"] for e in delivered] == ["message"] * 2  # not watched here
    await peers.registry().unregister(activity.watch_group(ROOM), watcher)
