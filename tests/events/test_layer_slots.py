"""Layer calls take turns, so channels-redis's pool stays within its ``max_connections``."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer

from chat.events import layer_slots


def test_the_bound_is_the_smallest_hosts_max_less_the_reserved_connections():
    layer = SimpleNamespace(hosts=[{"max_connections": 10}, {"max_connections": 6}])
    assert layer_slots.calls_at_once(layer) == 6 - layer_slots.RESERVED


def test_a_host_without_max_connections_has_redis_pys_default():
    layer = SimpleNamespace(hosts=[{"address": "redis://x"}])
    assert layer_slots.calls_at_once(layer) == 100 - layer_slots.RESERVED


def test_a_layer_without_hosts_is_not_bounded():
    assert layer_slots.calls_at_once(InMemoryChannelLayer()) is None


async def test_no_more_calls_than_slots_run_at_once():
    layer = SimpleNamespace(hosts=[{"max_connections": 5}])
    running = peak = 0

    async def call():
        nonlocal running, peak
        async with layer_slots.slot(layer):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*(call() for _ in range(20)))

    assert peak == 3


@pytest.mark.redis
async def test_a_burst_of_group_adds_stays_within_a_small_real_pool(redis_url):
    # Unbounded, 60 group_adds at once need 60 connections: past max_connections
    # redis-py's plain pool raises MaxConnectionsError.
    layer = RedisChannelLayer(hosts=[{"address": redis_url, "max_connections": 4}])
    channel = await layer.new_channel("test.")

    async def add(n: int) -> None:
        async with layer_slots.slot(layer):
            await layer.group_add(f"room-{n}", channel)

    try:
        await asyncio.gather(*(add(n) for n in range(60)))
        pool = layer.connection(0).connection_pool
        (idle, _), (in_use, _) = pool.get_connection_count()
        assert in_use == 0
        assert 1 <= idle <= 4 - layer_slots.RESERVED
    finally:
        await layer.flush()
