"""``chat.stores.read_positions``: positions only move forward, and many reads make one
database write per (user, room) and window, in both modes."""

from __future__ import annotations

import time

import pytest

from chat.stores import backends
from chat.stores.read_positions import FLUSH_INTERVAL, read_positions


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def store(request, settings):
    settings.CHAT_REDIS_URL = (
        request.getfixturevalue("redis_url") if request.param == "redis" else ""
    )
    backends.reset("read_positions")
    yield read_positions()
    backends.reset("read_positions")


async def test_a_position_never_goes_backwards(store):
    assert await store.advance(1, 10, 5) is True
    assert await store.advance(1, 10, 3) is False
    assert await store.advance(1, 10, 5) is False
    assert await store.advance(1, 10, 7) is True
    assert await store.known(1, [10, 11]) == {10: 7}


async def test_many_reads_make_one_write_per_user_room_and_window(store):
    for seq in range(1, 101):
        await store.advance(1, 10, seq)
        await store.advance(2, 10, seq // 2)
    # Within the window nothing is due: no write yet.
    assert store.pending.take_due() == []
    later = time.monotonic() + FLUSH_INTERVAL
    due = sorted(store.pending.take_due(now=later))
    assert due == [(1, 10, 100), (2, 10, 50)]
    # Taken: the next window starts with the next advance.
    assert store.pending.take_due(now=later + FLUSH_INTERVAL) == []
    await store.advance(1, 10, 101)
    assert store.pending.take_due(now=time.monotonic() + FLUSH_INTERVAL) == [(1, 10, 101)]


async def test_a_closing_connection_takes_its_own_positions_at_once(store):
    await store.advance(1, 10, 4)
    await store.advance(1, 11, 9)
    await store.advance(2, 10, 6)
    assert store.pending.take(1, 10) == [(1, 10, 4)]
    assert sorted(store.pending.take(1)) == [(1, 11, 9)]
    assert store.pending.take_all() == [(2, 10, 6)]
    assert store.pending.take_all() == []


async def test_a_position_made_due_is_taken_at_once(store):
    await store.advance(1, 10, 4)
    assert store.pending.make_due(1, 10) is True
    assert store.pending.make_due(1, 11) is False
    assert store.pending.take_due() == [(1, 10, 4)]
