"""Sliding-window logs: no span of ``period`` admits more than ``limit``, in both backends."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from chat.stores.sliding_window import AsyncRedisWindows, LocalWindows, RedisWindows


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def windows(request):
    if request.param == "local":
        yield LocalWindows()
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    yield RedisWindows(client)
    client.close()


def test_no_double_burst_across_a_window_edge():
    # A fixed 10 s window admitted 10 at 9.9 s and 10 more at 10.0 s.
    now = [9.9]
    windows = LocalWindows(clock=lambda: now[0])
    admitted = sum(windows.hit("k", limit=10, period=10) is None for _ in range(10))
    now[0] = 10.0
    admitted += sum(windows.hit("k", limit=10, period=10) is None for _ in range(10))

    assert admitted == 10
    # The wait is exact: the first hit leaves the window at 19.9 s.
    assert windows.hit("k", limit=10, period=10) == pytest.approx(9.9)
    now[0] = 19.91
    assert windows.hit("k", limit=10, period=10) is None


def test_concurrent_hits_are_counted_atomically(windows):
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: windows.hit("c", limit=5, period=60), range(30)))

    assert sum(result is None for result in results) == 5
    assert all(0 < result <= 60 for result in results if result is not None)


def test_release_hands_back_one_hit_and_clear_forgets_all(windows):
    assert windows.hit("r", limit=2, period=60, member="a") is None
    assert windows.hit("r", limit=2, period=60, member="b") is None
    assert windows.hit("r", limit=2, period=60) is not None

    windows.release("r", "a")
    assert windows.hit("r", limit=2, period=60) is None
    windows.clear("r")
    assert windows.hit("r", limit=2, period=60) is None


def test_local_memory_is_bounded_without_dropping_live_logs(monkeypatch):
    from chat.stores import sliding_window

    monkeypatch.setattr(sliding_window, "MAX_LOCAL_KEYS", 3)
    now = [0.0]
    windows = LocalWindows(clock=lambda: now[0])
    windows.hit("live", limit=1, period=100)
    windows.hit("old1", limit=1, period=1)
    windows.hit("old2", limit=1, period=1)
    now[0] = 5.0
    windows.hit("new", limit=1, period=1)

    assert windows.hit("live", limit=1, period=100) is not None  # still counted


@pytest.mark.redis
async def test_the_async_windows_share_the_script(redis_url):
    windows = AsyncRedisWindows(redis_url)
    assert await windows.hit("a", limit=1, period=60) is None
    wait = await windows.hit("a", limit=1, period=60)
    assert wait is not None and 59 < wait <= 60


@pytest.mark.redis
async def test_hits_of_one_round_trip_are_counted_in_order_as_one_by_one(redis_url):
    windows = AsyncRedisWindows(redis_url)
    await windows.redis.delete("b1", "b2")
    answers = await windows.hit_many([("b1", 2, 60), ("b2", 1, 60), ("b1", 2, 60), ("b1", 2, 60)])
    assert answers[:3] == [None, None, None]
    assert 59 < answers[3] <= 60  # the third of b1 in the batch: over its limit of 2
    wait = await windows.hit("b2", limit=1, period=60)
    assert wait is not None and 59 < wait <= 60


@pytest.mark.redis
async def test_hits_are_sent_again_once_after_redis_forgot_the_script(redis_url):
    # A restarted Redis has no scripts (a wrong sha stands in: the shared Redis is
    # never flushed); each hit is counted once all the same.
    windows = AsyncRedisWindows(redis_url)
    await windows.redis.delete("c1")
    windows._script.sha = "0" * 40
    assert await windows.hit_many([("c1", 5, 60), ("c1", 5, 60)]) == [None, None]
    assert await windows.redis.zcard("c1") == 2
