"""Redis presence: counting across processes, leases, the sweeper and self-repair.

Two ``RedisPresence`` objects in one test stand for two daphne processes (each has
its own process id, lease and hash). They run against this test run's database on
the shared Redis; nothing here stops or pauses that server.
"""

from __future__ import annotations

import time

import pytest
import redis as sync_redis
from redis.exceptions import ConnectionError as RedisConnectionError

from chat.stores import presence_redis
from chat.stores.presence import SIDEBAR, Arriving, Unavailable
from chat.stores.presence_redis import (
    LEASES_KEY,
    RedisPresence,
    counter_key,
    process_key,
    user_key,
)
from tests.helpers.wait import async_wait_until

pytestmark = pytest.mark.redis

LEASE = 1  # second: the sweeper's tests wait for a lease to run out


@pytest.fixture
def announced() -> list[tuple[int, str]]:
    """``(room_id, username)`` of every leave a backend reported to its listener."""
    return []


@pytest.fixture
async def processes(redis_url, announced):
    """Factory of presence backends, each a "process"; stopped and closed at the end."""
    made: list[RedisPresence] = []

    def make(lease: float = 30, *, beating: bool = True) -> RedisPresence:
        backend = RedisPresence(redis_url, lease_seconds=lease)
        backend.on_leave = lambda room_id, name: announced.append((room_id, name))
        if not beating:
            # A process that dies before its first heartbeat: only arrive's lease
            # exists, and no background command can renew it behind the test's back.
            backend.start = lambda: None
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.stop()


def leaves(announced: list[tuple[int, str]]) -> set[tuple[int, str]]:
    return set(announced)


async def test_first_and_last_connection_count_across_processes(processes):
    one, two = processes(), processes()

    assert (await one.arrive(room_id=1, user_id=7, username="alice", limit=5)).first_in_room
    assert not (await two.arrive(room_id=1, user_id=7, username="alice", limit=5)).first_in_room
    await two.arrive(room_id=1, user_id=8, username="bob", limit=5)
    assert await one.online(1) == ["alice", "bob"]
    assert await one.online_counts([1, 2]) == {1: 2, 2: 0}

    assert await one.depart(room_id=1, user_id=7) is False  # alice still has a tab on two
    assert await two.depart(room_id=1, user_id=7) is True
    assert await two.online(1) == ["bob"]


async def test_a_crowd_registers_in_one_trip_as_single_arrivals_would(processes, redis_url):
    one, two = processes(), processes()
    await two.arrive(room_id=1, user_id=8, username="bob", limit=5)
    crowd = [
        Arriving(room_id=1, user_id=7, username="alice", limit=2),
        Arriving(room_id=1, user_id=7, username="alice", limit=2),  # her second tab
        Arriving(room_id=1, user_id=7, username="alice", limit=2),  # over her cap
        Arriving(room_id=1, user_id=8, username="bob", limit=5),  # bob is there already
        Arriving(room_id=2, user_id=9, username="cy", limit=5),
    ]

    got = await one.arrive_many(crowd)

    assert [(a.accepted, a.first_in_room) for a in got] == [
        (True, True),
        (True, False),
        (False, False),
        (True, False),
        (True, True),
    ]
    assert await one.online(1) == ["alice", "bob"] and await one.online(2) == ["cy"]
    assert int(sync_redis.Redis.from_url(redis_url).get(user_key(7))) == 2
    # Counted as this process's own: they leave with it.
    assert await one.depart(room_id=1, user_id=7) is False
    assert await one.depart(room_id=1, user_id=7) is True
    assert await one.arrive_many([]) == []


async def test_connection_cap_counts_every_process_and_refusals_register_nothing(
    processes, redis_url
):
    one, two = processes(), processes()
    await one.arrive(room_id=1, user_id=7, username="alice", limit=2)
    await two.arrive(room_id=2, user_id=7, username="alice", limit=2)

    refused = await one.arrive(room_id=3, user_id=7, username="alice", limit=2)

    assert not refused.accepted
    assert await one.online(3) == []
    assert int(sync_redis.Redis.from_url(redis_url).get(user_key(7))) == 2


async def test_a_dead_process_is_swept_its_users_leave_and_the_cap_is_freed(
    processes, announced, redis_url
):
    dead, alive = processes(lease=LEASE, beating=False), processes(lease=LEASE)
    await dead.arrive(room_id=1, user_id=7, username="alice", limit=1)
    await dead.arrive(room_id=1, user_id=8, username="bob", limit=5)
    await alive.arrive(room_id=1, user_id=8, username="bob", limit=5)
    # killed -9: no departs, no heartbeats

    async def swept() -> bool:
        # Whoever sweeps (this call or the alive process's own sweeper) once the lease ran out.
        await alive.sweep(force=True)
        return await alive.online(1) == ["bob"]

    await async_wait_until(swept, 5, "the dead process withdrawn")

    assert leaves(announced) == {(1, "alice")}  # bob is still here through the other process
    client = sync_redis.Redis.from_url(redis_url)
    assert client.get(user_key(7)) is None
    assert not client.exists(process_key(dead.process_id))
    assert client.zscore(LEASES_KEY, dead.process_id) is None
    assert (await alive.arrive(room_id=2, user_id=7, username="alice", limit=1)).accepted


async def test_counts_lost_by_redis_are_written_back_at_the_next_heartbeat(processes, redis_url):
    one = processes()
    await one.arrive(room_id=1, user_id=7, username="alice", limit=5)
    await one.arrive(room_id=1, user_id=7, username="alice", limit=5)
    await one.heartbeat()
    sync_redis.Redis.from_url(redis_url).flushdb()  # a flush or a restart
    assert await one.online(1) == []

    await one.heartbeat()

    assert await one.online(1) == ["alice"]
    assert int(sync_redis.Redis.from_url(redis_url).get(user_key(7))) == 2
    assert await one.depart(room_id=1, user_id=7) is False
    assert await one.depart(room_id=1, user_id=7) is True


async def test_a_failed_depart_is_repaired_and_announced(processes, announced):
    # No background heartbeat: a beat of its own landing after the failed depart would
    # repair before the first assertion (seen on a loaded machine); the test beats itself.
    one = processes(beating=False)
    await one.arrive(room_id=1, user_id=7, username="alice", limit=5)
    await one.heartbeat()

    async def broken(**kwargs):
        raise RedisConnectionError("connection reset")

    working, one._depart = one._depart, broken
    with pytest.raises(Unavailable):
        await one.depart(room_id=1, user_id=7)
    one._depart = working
    assert await one.online(1) == ["alice"]  # Redis still counts her

    await one.heartbeat()  # the failed call left the counts unsure: resync

    assert await one.online(1) == []
    assert leaves(announced) == {(1, "alice")}


async def test_a_sweep_held_up_in_redis_withdraws_nothing(processes, redis_url):
    dead, sweeper = processes(beating=False), processes()
    await dead.arrive(room_id=1, user_id=7, username="alice", limit=5)
    client = sync_redis.Redis.from_url(redis_url)
    client.zadd(LEASES_KEY, {dead.process_id: 0})  # its lease ran out long ago

    # Valid until a moment that has passed: it waited in a paused Redis.
    result = await sweeper._sweep(
        keys=[LEASES_KEY], args=[presence_redis.PREFIX, 10, "", repr(time.time() - 5)]
    )

    assert result == [-1]
    assert await sweeper.online(1) == ["alice"]


async def test_no_sweeping_right_after_a_late_heartbeat(processes, redis_url):
    """After Redis was away, every process must get a chance to renew before anyone sweeps."""
    dead, sweeper = processes(beating=False), processes()
    await dead.arrive(room_id=1, user_id=7, username="alice", limit=5)
    sync_redis.Redis.from_url(redis_url).zadd(LEASES_KEY, {dead.process_id: 0})
    await sweeper.heartbeat()
    sweeper._last_ok = time.monotonic() - 60  # its previous beat was long ago

    await sweeper.heartbeat()

    assert await sweeper.sweep() == 0
    assert await sweeper.online(1) == ["alice"]
    assert await sweeper.sweep(force=True) == 1
    assert await sweeper.online(1) == []


async def test_retire_withdraws_the_process_at_once(processes, announced, redis_url):
    one, other = processes(), processes()
    await one.arrive(room_id=1, user_id=7, username="alice", limit=5)
    await other.arrive(room_id=1, user_id=8, username="bob", limit=5)

    await one.retire()

    assert await other.online(1) == ["bob"]
    assert leaves(announced) == {(1, "alice")}
    assert sync_redis.Redis.from_url(redis_url).zscore(LEASES_KEY, one.process_id) is None


@pytest.mark.timeout(15)  # redis-py's default would retry ten times per call
async def test_redis_unreachable_is_unavailable():
    backend = RedisPresence("redis://127.0.0.1:1/0", lease_seconds=30)
    try:
        with pytest.raises(Unavailable):
            await backend.arrive(room_id=1, user_id=7, username="alice", limit=5)
        with pytest.raises(Unavailable):
            await backend.online(1)
        with pytest.raises(Unavailable):
            await backend.online_counts([1])
    finally:
        backend.stop()


async def test_a_resync_never_interleaves_with_arrivals_and_departures(processes, redis_url):
    """Counts stay exact when connections come and go while a resync runs."""
    import asyncio

    one = processes()
    await one.arrive(room_id=1, user_id=7, username="alice", limit=9)
    await one.arrive(room_id=1, user_id=7, username="alice", limit=9)
    await one.heartbeat()
    release = asyncio.Event()
    arrive = one._arrive

    async def slow_arrive(**kwargs):
        await release.wait()
        return await arrive(**kwargs)

    one._arrive = slow_arrive
    arriving = asyncio.create_task(one.arrive(room_id=1, user_id=7, username="alice", limit=9))
    await async_wait_until(lambda: one._inflight == 1, 5, "arrival in flight")
    resyncing = asyncio.create_task(one.resync(reason="unsure"))
    await async_wait_until(lambda: one._resyncing is not None, 5, "resync waiting")
    departing = asyncio.create_task(one.depart(room_id=1, user_id=7))
    release.set()
    await asyncio.gather(arriving, resyncing, departing)

    assert int(sync_redis.Redis.from_url(redis_url).get(user_key(7))) == 2  # 2 + 1 - 1
    assert await one.online(1) == ["alice"]


async def test_the_online_list_of_a_crowded_room_is_read_whole(processes):
    one = processes()
    crowd = [Arriving(room_id=5, user_id=n, username=f"u{n:05d}", limit=5) for n in range(2500)]
    await one.arrive_many(crowd)
    # More names than one HMGET chunk of the script (and than Lua's unpack limit allows
    # in one call for larger rooms).
    assert await one.online(5) == [f"u{n:05d}" for n in range(2500)]


async def test_sidebar_sockets_are_capped_apart_and_swept_without_a_leave(
    processes, announced, redis_url
):
    dead, alive = processes(lease=LEASE, beating=False), processes(lease=LEASE)
    await dead.arrive(room_id=SIDEBAR, user_id=7, username="alice", limit=1)
    assert (await alive.arrive(room_id=1, user_id=7, username="alice", limit=1)).accepted
    assert not (await alive.arrive(room_id=SIDEBAR, user_id=7, username="alice", limit=1)).accepted
    client = sync_redis.Redis.from_url(redis_url)
    assert int(client.get(counter_key(SIDEBAR, 7))) == 1 == int(client.get(user_key(7)))

    async def swept() -> bool:
        await alive.sweep(force=True)
        return client.get(counter_key(SIDEBAR, 7)) is None

    await async_wait_until(swept, 5, "the dead process's sidebar withdrawn")
    assert announced == []  # nobody hears of the sidebar
    assert (await alive.arrive(room_id=SIDEBAR, user_id=7, username="alice", limit=1)).accepted
    assert int(client.get(user_key(7))) == 1
    assert await alive.depart(room_id=SIDEBAR, user_id=7)
    assert client.get(counter_key(SIDEBAR, 7)) is None
