"""The chat's shared Redis pool: one per loop, bounded, named, counted, trimmed; cancellations kept."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
import redis as sync_redis

from chat.stores import redis_clients

pytestmark = pytest.mark.redis

CLIENT_NAME = redis_clients.client_name  # before this module's fixture replaces it


@pytest.fixture(autouse=True)
def test_name(monkeypatch) -> str:
    """A client name prefix of this test only: earlier tests' loops left connections open."""
    prefix = f"chat:{os.getpid()}-{uuid.uuid4().hex[:6]}"
    monkeypatch.setattr(redis_clients, "client_name", lambda pool: f"{prefix}:{pool}")
    return prefix


def named(url: str, pool: str) -> int:
    """``CLIENT LIST`` entries of this test's ``pool`` (other users of the Redis excluded)."""
    prefix = redis_clients.client_name(pool)
    with sync_redis.Redis.from_url(url) as client:
        return sum(1 for entry in client.client_list() if entry.get("name") == prefix)


def counts(pool: str = "chat") -> tuple[int, int]:
    found = [c for c in redis_clients.pools() if c.pool == pool]
    return sum(c.in_use for c in found), sum(c.idle for c in found)


@pytest.fixture
def small_pool(monkeypatch):
    monkeypatch.setattr(redis_clients, "POOL_SIZE", 5)
    monkeypatch.setattr(redis_clients, "POOL_WAIT", 0.5)


def test_the_client_name_says_chat_the_pid_and_the_pool():
    assert CLIENT_NAME("layer") == f"chat:{os.getpid()}:layer"


async def test_every_store_of_a_loop_shares_one_client(redis_url):
    assert redis_clients.shared(redis_url) is redis_clients.shared(redis_url)


def test_each_event_loop_has_its_own_client(redis_url):
    async def one():
        return redis_clients.shared(redis_url)

    assert asyncio.run(one()) is not asyncio.run(one())


async def test_a_burst_queues_within_the_bound_and_redis_sees_the_process_name(
    redis_url, small_pool
):
    client = redis_clients.shared(redis_url)
    await client.ping()  # the pool of this loop is made now, with the small bound

    # Ten callers at once, each holding a connection for a while: they take turns.
    results = await asyncio.gather(*(client.blpop([f"nothing-{n}"], 0.05) for n in range(10)))

    assert results == [None] * 10
    assert named(redis_url, "chat") == 5
    assert counts() == (0, 5)


async def test_a_caller_past_the_wait_gets_a_connection_error(redis_url, small_pool):
    client = redis_clients.shared(redis_url)
    holders = [asyncio.create_task(client.blpop([f"hold-{n}"], 2)) for n in range(5)]
    await asyncio.sleep(0.2)
    with pytest.raises(sync_redis.ConnectionError, match="No connection available"):
        await client.ping()
    for holder in holders:
        holder.cancel()
    await asyncio.gather(*holders, return_exceptions=True)


async def test_trim_closes_the_idle_connections_beyond_the_ones_kept(redis_url, small_pool):
    client = redis_clients.shared(redis_url)
    await asyncio.gather(*(client.blpop([f"nothing-{n}"], 0.05) for n in range(5)))
    assert counts() == (0, 5)

    closed = await client.connection_pool.trim(keep=2)

    assert closed == 3
    assert counts() == (0, 2)
    assert named(redis_url, "chat") == 2
    # The kept ones serve the next calls: nothing reconnects for a single caller.
    for _ in range(5):
        await client.ping()
    assert named(redis_url, "chat") == 2


async def test_a_release_after_the_interval_trims_by_itself(redis_url, small_pool, monkeypatch):
    monkeypatch.setattr(redis_clients, "TRIM_INTERVAL", 0.2)
    monkeypatch.setattr(redis_clients, "IDLE_KEEP", 1)
    client = redis_clients.shared(redis_url)
    await asyncio.gather(*(client.blpop([f"nothing-{n}"], 0.05) for n in range(5)))
    assert counts() == (0, 5)

    async with asyncio.timeout(5):
        while counts()[1] > 1:
            await client.ping()
            await asyncio.sleep(0.05)

    assert named(redis_url, "chat") == 1


async def test_a_cancelled_caller_stays_cancelled(redis_url):
    # Python 3.11's asyncio.wait_for (redis-py's write timeout) lost a cancellation
    # that came as the write completed: the task went on with its next command.
    client = redis_clients.shared(redis_url)

    async def forever():
        while True:
            await client.get("x")

    for trial in range(100):
        task = asyncio.create_task(forever())
        await asyncio.sleep(0.0003 * (trial % 7))
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=2)
        assert done, f"trial {trial}: the task carried on after cancel()"


def test_sync_clients_are_bounded_named_and_counted(redis_url):
    client = redis_clients.sync_client(redis_url, pool="sync-test", timeout=1)
    assert client.ping()

    assert named(redis_url, "sync-test") == 1
    assert counts("sync-test") == (0, 1)
    assert client.connection_pool.max_connections == redis_clients.SYNC_POOL_SIZE


async def test_metrics_report_each_pool_by_state(redis_url):
    from prometheus_client import REGISTRY, generate_latest

    await redis_clients.shared(redis_url).ping()

    text = generate_latest(REGISTRY).decode()

    assert 'chat_redis_connections{pool="chat",state="idle"}' in text
    assert 'chat_redis_connections{pool="chat",state="in_use"} 0.0' in text


def test_a_loop_that_ends_closes_its_connections(redis_url):
    # A management command or a WSGI-served admin action publishes through
    # async_to_sync: a new loop per call, ended by asyncio.run.
    async def use():
        client = redis_clients.shared(redis_url)
        await client.ping()
        return named(redis_url, "chat")

    assert asyncio.run(use()) == 1
    assert named(redis_url, "chat") == 0
    assert counts() == (0, 0)


def test_a_store_made_in_one_loop_uses_the_client_of_the_loop_it_runs_in(redis_url):
    class Store(redis_clients.OnRunningLoop):
        def __init__(self, url: str) -> None:
            self.url = url

    store = Store(redis_url)

    async def ping():
        return await store.redis.ping(), store.redis

    first, second = asyncio.run(ping()), asyncio.run(ping())
    assert first[0] and second[0]
    assert first[1] is not second[1]
