"""``chat.events.peers``: the chat's own registry of which process serves which room."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from channels.layers import channel_layers, get_channel_layer

from chat.events import peers
from tests.helpers.processes import free_port
from tests.helpers.wait import async_wait_until

GROUP = "chat.room.1"


@pytest.fixture(autouse=True)
async def close_registry():
    yield
    await peers.close_registry()


@pytest.fixture
def redis_layer(settings, redis_url):
    settings.CHAT_REDIS_URL = redis_url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "capacity": 5},
        }
    }
    channel_layers.backends.clear()
    peers.peers = peers.Peers()
    yield get_channel_layer()
    channel_layers.backends.clear()


@pytest.mark.redis
async def test_a_registered_process_is_a_peer_of_the_others_until_its_entry_expires(
    redis_layer, monkeypatch
):
    monkeypatch.setattr(peers, "PEER_TTL", 0.5)
    monkeypatch.setattr(peers, "PEERS_TTL", 0.0)
    assert await peers.register([GROUP], "chat.hub.a")
    assert await peers.register([GROUP], "chat.hub.b")

    assert await peers.peers.channels(GROUP, "chat.hub.a") == {"chat.hub.b"}
    assert await peers.peers.channels(GROUP, "chat.hub.c") == {"chat.hub.a", "chat.hub.b"}

    # b goes on renewing (as its hub does every refresh); a died.
    async def only_b_left() -> bool:
        await peers.register([GROUP], "chat.hub.b")
        return await peers.peers.channels(GROUP, "chat.hub.c") == {"chat.hub.b"}

    await async_wait_until(only_b_left, 5, "the dead process dropped out")

    await peers.unregister(GROUP, "chat.hub.b")
    assert await peers.peers.channels(GROUP, "chat.hub.c") == frozenset()


async def test_without_redis_the_publisher_is_told_to_use_group_send(settings):
    settings.CHAT_REDIS_URL = ""
    peers.peers = peers.Peers()

    assert peers.registry() is None
    assert await peers.register([GROUP], "chat.hub.a")  # nothing to do, nothing failed
    assert await peers.peers.channels(GROUP, "chat.hub.a") is None


async def test_when_redis_fails_the_publisher_is_told_to_use_group_send(settings, caplog):
    settings.CHAT_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    peers.peers = peers.Peers()

    with caplog.at_level(logging.WARNING, logger="chat.events.peers"):
        assert not await peers.register([GROUP], "chat.hub.a")
    assert "peer registry update failed" in caplog.text
    assert await peers.peers.channels(GROUP, "chat.hub.b") is None


@pytest.mark.redis
async def test_a_dead_peers_full_channel_drops_events_with_one_warning(redis_layer, caplog):
    dead = await redis_layer.new_channel("chat.hub.")
    events = [{"kind": "frame", "room": 1, "text": "x"}]

    with caplog.at_level(logging.WARNING, logger="chat.events.peers"):
        for _ in range(12):  # capacity 5: the rest find it full
            await peers.send_events(dead, events)

    warnings = [r for r in caplog.records if "peer channel full" in r.getMessage()]
    assert len(warnings) == 1
    received = [await redis_layer.receive(dead) for _ in range(5)]
    assert all(message["kind"] == "batch" for message in received)


@pytest.mark.redis
async def test_entering_a_group_registers_and_names_the_processes_already_there(redis_layer):
    assert await peers.enter(GROUP, "chat.hub.a") == frozenset()
    assert await peers.enter(GROUP, "chat.hub.b") == {"chat.hub.a"}
    assert await peers.enter(GROUP, "chat.hub.c") == {"chat.hub.a", "chat.hub.b"}
    assert await peers.peers.channels(GROUP, "chat.hub.a") == {"chat.hub.b", "chat.hub.c"}


async def test_entering_without_redis_waits_for_nobody_and_a_failure_says_so(settings, caplog):
    settings.CHAT_REDIS_URL = ""
    assert await peers.enter(GROUP, "chat.hub.a") == frozenset()

    settings.CHAT_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="chat.events.peers"):
        assert await peers.enter(GROUP, "chat.hub.a") is None
    assert "peer registry update failed" in caplog.text


@pytest.mark.redis
async def test_a_members_read_under_way_when_a_peer_joins_is_used_once_not_cached(
    redis_layer, monkeypatch
):
    """A read that began before the newcomer's entry must not hide it for PEERS_TTL."""
    assert await peers.register([GROUP], "chat.hub.a")
    read_started, newcomer_announced = asyncio.Event(), asyncio.Event()
    members_of = peers._members_of

    async def slow_members_of(groups, own):
        found = await members_of(groups, own)  # read before the newcomer registered
        read_started.set()
        await newcomer_announced.wait()
        return found

    monkeypatch.setattr(peers, "_members_of", slow_members_of)
    reading = asyncio.create_task(peers.peers.channels(GROUP, "chat.hub.a"))
    await asyncio.wait_for(read_started.wait(), 5)
    assert await peers.enter(GROUP, "chat.hub.b") == {"chat.hub.a"}
    peers.peers.forget(GROUP)  # the newcomer's announcement arrives
    newcomer_announced.set()
    assert await asyncio.wait_for(reading, 5) == frozenset()  # that batch predates it
    monkeypatch.setattr(peers, "_members_of", members_of)

    assert await peers.peers.channels(GROUP, "chat.hub.a") == {"chat.hub.b"}


async def test_an_arrival_ends_when_every_peer_answered():
    arrival = peers.Arrival(frozenset({"chat.hub.a", "chat.hub.b"}))
    arrival.acknowledged("chat.hub.a")
    arrival.acknowledged("chat.hub.x")  # not awaited: ignored
    waiting = asyncio.create_task(arrival.wait(5))
    await asyncio.sleep(0)
    assert not waiting.done()
    arrival.acknowledged("chat.hub.b")
    assert await asyncio.wait_for(waiting, 1) == frozenset()

    assert await peers.Arrival(frozenset()).wait(0) == frozenset()  # nobody to wait for


async def test_an_arrival_stops_waiting_for_a_silent_peer_after_its_bound():
    arrival = peers.Arrival(frozenset({"chat.hub.dead", "chat.hub.b"}))
    arrival.acknowledged("chat.hub.b")
    assert await arrival.wait(0.05) == {"chat.hub.dead"}


async def test_the_expired_answers_of_a_batch_are_read_in_one_round_trip(redis_layer):
    other = "chat.room.2"
    assert await peers.register([GROUP, other], "chat.hub.a")
    assert await peers.register([other], "chat.hub.b")
    registry = peers.registry()
    assert await registry.members_of([GROUP, other]) == {
        GROUP: {"chat.hub.a"},
        other: {"chat.hub.a", "chat.hub.b"},
    }
    assert await peers.peers.channels_of([GROUP, other], "chat.hub.a") == {
        GROUP: frozenset(),
        other: {"chat.hub.b"},
    }


async def test_answers_about_to_expire_are_read_with_an_expired_one(monkeypatch):
    """One trip renews every answer of the batch that would expire within half the TTL,
    so their answers expire together: not a trip per batch for one or two groups."""
    reads: list[list[str]] = []

    async def members_of(groups, own):
        reads.append(list(groups))
        return {group: frozenset({"chat.hub.b"}) for group in groups}

    monkeypatch.setattr(peers, "_members_of", members_of)
    monkeypatch.setattr(peers, "PEERS_TTL", 60.0)
    known = peers.peers = peers.Peers()
    now = time.monotonic()
    old = frozenset({"chat.hub.old"})
    known._known = {
        "chat.room.1": (now - 1, old),  # expired
        "chat.room.2": (now + 10, old),  # expires within half the TTL
        "chat.room.3": (now + 50, old),  # not yet due
    }
    rooms = ["chat.room.1", "chat.room.2", "chat.room.3"]

    answers = await known.channels_of(rooms, "chat.hub.a")

    assert reads == [["chat.room.1", "chat.room.2"]]
    assert answers == {
        "chat.room.1": {"chat.hub.b"},
        "chat.room.2": {"chat.hub.b"},
        "chat.room.3": old,
    }
    await known.channels_of(rooms, "chat.hub.a")
    assert len(reads) == 1  # all cached again, and none due before the others


async def test_answers_about_to_expire_cost_no_trip_of_their_own(monkeypatch):
    reads: list[list[str]] = []

    async def members_of(groups, own):
        reads.append(list(groups))
        return dict.fromkeys(groups, frozenset())

    monkeypatch.setattr(peers, "_members_of", members_of)
    monkeypatch.setattr(peers, "PEERS_TTL", 60.0)
    known = peers.peers = peers.Peers()
    known._known = {GROUP: (time.monotonic() + 10, frozenset())}

    assert await known.channels_of([GROUP], "chat.hub.a") == {GROUP: frozenset()}
    assert reads == []
