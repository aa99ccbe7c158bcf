"""channels-redis seams: its pools counted in ``chat_redis_connections``."""

from __future__ import annotations

import pytest
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer

from chat.realtime.internals import channels_redis_layer
from chat.stores import redis_clients


def layer_counts() -> list[redis_clients.PoolCount]:
    return [count for count in redis_clients.pools() if count.pool == "layer"]


@pytest.mark.redis
async def test_the_layers_pool_of_this_loop_is_counted_once(redis_url):
    layer = RedisChannelLayer(hosts=[{"address": redis_url, "max_connections": 4}])
    channel = await layer.new_channel("test.")
    before = len(layer_counts())
    try:
        await layer.group_add("room", channel)
        channels_redis_layer.watch_pools(layer)
        channels_redis_layer.watch_pools(layer)  # the hub may start again: not twice

        counts = layer_counts()
        assert len(counts) == before + 1
        assert (counts[-1].in_use, counts[-1].idle) == (0, 1)
    finally:
        await layer.flush()


def test_a_layer_without_redis_pools_is_skipped():
    before = len(layer_counts())
    channels_redis_layer.watch_pools(InMemoryChannelLayer())
    assert len(layer_counts()) == before
