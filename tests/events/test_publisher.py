"""``chat.events.publisher``: events go to this process's hub first, then to the layer, in order.

A plain channel in the room's group stands for another process; in embedded mode
(the in-memory layer) it gets ``group_send`` copies, in Redis mode one batch per
publish from the peers registry. Either way it must see every event, in order.
"""

import asyncio
import os
import uuid

import pytest
import redis as sync_redis
from channels.layers import get_channel_layer

from chat.events import outbound
from chat.events.outbound import room_group
from chat.events.publisher import Publisher, publish_now_unsafe, publish_soon
from chat.stores import history_cache, redis_clients
from chat.wire import protocol

ROOM = 5


def frames(count: int, start: int = 0) -> list[outbound.Outbound]:
    return [
        outbound.frame_event(ROOM, protocol.typing_frame(f"user{n}", True))
        for n in range(start, start + count)
    ]


def _texts_of(items: list[outbound.Outbound]) -> list[str]:
    return [item.event["text"] for item in items]


async def listener():
    """A channel in the room's group, as another process's hub would be."""
    layer = get_channel_layer()
    channel = await layer.new_channel("chat.hub.")
    await layer.group_add(room_group(ROOM), channel)
    return layer, channel


async def received(layer, channel, count: int) -> list[dict]:
    """``count`` events from ``channel``, unpacking batches."""
    events: list[dict] = []
    async with asyncio.timeout(5):
        while len(events) < count:
            message = await layer.receive(channel)
            events.extend(message["events"] if message.get("kind") == "batch" else [message])
    return events


async def test_the_attached_hub_gets_every_event_in_order_and_so_do_other_processes(mode):
    layer, other = await listener()
    own = await layer.new_channel("chat.hub.")
    publisher = Publisher.start()
    delivered: list[dict] = []

    async def hub(events):
        delivered.extend(events)

    publisher.attach(hub, channel=own, origin="this-process")
    first, second = frames(30), frames(30, start=30)
    publisher.submit(*first)
    for item in second:  # one at a time, as typing frames come
        publish_soon(item)
    await publisher.drain()

    expected = _texts_of(first + second)
    assert [event["text"] for event in delivered] == expected
    copies = await received(layer, other, len(expected))
    assert [event["text"] for event in copies] == expected
    # A copy sent to the whole group comes back to this process too: it says whose it is.
    assert all(e.get("origin") == "this-process" for e in copies if e.get("kind") != "batch")


async def test_without_an_attached_hub_events_still_reach_other_processes_in_order(mode):
    layer, other = await listener()
    publisher = Publisher.start()
    delivered: list[dict] = []

    async def hub(events):
        delivered.extend(events)

    publisher.attach(hub, channel=await layer.new_channel("chat.hub."), origin="gone")
    publisher.detach()  # the hub stopped
    items = frames(25)
    publisher.submit(*items)
    await publisher.drain()

    assert delivered == []
    copies = await received(layer, other, len(items))
    assert [event["text"] for event in copies] == _texts_of(items)
    assert not [event for event in copies if "origin" in event]  # nobody to skip them


async def test_events_queued_from_other_threads_keep_their_order(embedded):
    publisher = Publisher.start()
    delivered: list[dict] = []

    async def hub(events):
        delivered.extend(events)

    layer = get_channel_layer()
    publisher.attach(hub, channel=await layer.new_channel("chat.hub."), origin="o")
    items = frames(90)

    def database_thread():
        # As committed batches are handed over by the database thread, one after another.
        for start in range(0, 90, 30):
            publisher.submit_threadsafe(tuple(items[start : start + 30]))

    await asyncio.to_thread(database_thread)
    await publisher.drain()
    assert [event["text"] for event in delivered] == _texts_of(items)


async def test_one_publisher_per_loop(embedded):
    publisher = Publisher.start()
    assert Publisher.start() is publisher
    assert Publisher.current() is publisher
    await Publisher.stop_current()
    assert Publisher.start() is not publisher


@pytest.mark.redis
def test_sync_code_publishes_every_time_and_leaves_no_connection_open(
    redis_mode, redis_url, monkeypatch
):
    # A management command or an admin action served by WSGI: no running loop, so
    # each publish runs in a short loop of its own (async_to_sync), while the stores
    # live on. Before, every other publish failed with "Event loop is closed", and
    # each loop's connection stayed open until garbage-collected.
    name = f"chat:{os.getpid()}-{uuid.uuid4().hex[:6]}:chat"
    monkeypatch.setattr(redis_clients, "client_name", lambda pool: name)

    for seq in (1, 2, 3):
        payload = {"id": seq, "seq": seq, "room": "r", "user": "u", "body": f"b{seq}"}
        publish_now_unsafe(outbound.message_event(ROOM, payload))

    cached = asyncio.run(history_cache.cache().tail(ROOM, 10))
    assert [seq for seq, _ in cached] == [1, 2, 3]
    with sync_redis.Redis.from_url(redis_url) as client:
        assert [c for c in client.client_list() if c["name"] == name] == []


async def test_this_process_delivers_before_the_cache_write_takes_the_loop(embedded, monkeypatch):
    publisher = Publisher.start()
    happened: list[str] = []

    async def hub(events):
        happened.append("delivered")

    async def remember_many(rooms):
        happened.append("cached")

    monkeypatch.setattr(history_cache, "remember_many", remember_many)
    layer = get_channel_layer()
    publisher.attach(hub, channel=await layer.new_channel("chat.hub."), origin="o")
    await asyncio.sleep(0)  # the publisher's tasks wait for work, as in a running server
    payload = {"id": 1, "seq": 1, "room": "r", "user": "u", "body": "hi"}
    publisher.submit_threadsafe((outbound.message_event(ROOM, payload),))
    await publisher.drain()
    assert happened == ["delivered", "cached"]
