"""``CHAT_RATE_LIMIT`` holds over any span, in both modes: no double burst at a window edge."""

from __future__ import annotations

import time

import pytest

from chat.stores import ratelimit


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def mode(request, settings):
    settings.CHAT_REDIS_URL = (
        request.getfixturevalue("redis_url") if request.param == "redis" else ""
    )
    settings.CHAT_RATE_LIMIT = "3/2s"
    ratelimit.reset()
    yield request.param
    ratelimit.reset()


async def test_no_span_of_the_period_admits_more_than_the_limit(mode):
    # A client hammering across at least one window boundary (fixed 2 s windows
    # admitted 3 just before the edge and 3 just after it).
    admitted: list[float] = []
    # Start half a second before a 2 s wall-clock boundary, where a fixed window
    # would let 3 through before the edge and 3 right after it.
    while time.time() % 2.0 < 1.5:
        await _yield_briefly()
    deadline = time.monotonic() + 2.6
    while time.monotonic() < deadline:
        if await ratelimit.check_message(room_id=1, user_id=1) is None:
            admitted.append(time.monotonic())
        await _yield_briefly()

    assert len(admitted) >= 4  # the window did slide: more than one burst got in
    # Times are taken after the reply; allow 0.1 s of measurement slack.
    for i, start in enumerate(admitted):
        in_span = [t for t in admitted[i:] if t - start < 2.0 - 0.1]
        assert len(in_span) <= 3, admitted


async def test_retry_after_is_exact(mode):
    for _ in range(3):
        assert await ratelimit.check_message(room_id=2, user_id=1) is None
    first_wait = await ratelimit.check_message(room_id=2, user_id=1)

    assert first_wait is not None and 1.5 < first_wait <= 2.0
    # Other users and rooms have their own windows.
    assert await ratelimit.check_message(room_id=2, user_id=2) is None


async def _yield_briefly() -> None:
    import asyncio

    await asyncio.sleep(0.01)


async def test_messages_checked_together_are_counted_exactly_in_order(mode):
    answers = await ratelimit.check_messages([(3, 1), (3, 2), (3, 1), (3, 1), (3, 1)])

    assert answers[:4] == [None, None, None, None]  # user 1 three times, user 2 once
    assert answers[4] is not None and 1.5 < answers[4] <= 2.0  # user 1's fourth
    assert await ratelimit.check_message(room_id=3, user_id=2) is None


async def test_no_limit_checks_nothing(mode, settings):
    settings.CHAT_RATE_LIMIT = ""
    assert await ratelimit.check_messages([(4, 1)] * 10) == [None] * 10


async def test_a_hit_redis_refuses_fails_open_alone(mode, caplog):
    if mode != "redis":
        pytest.skip("Redis answers per hit")
    redis = ratelimit._limiter().redis
    await redis.set("chat:v2:rl:5:1", "not a sorted set")  # the script fails on this key
    try:
        answers = await ratelimit.check_messages([(5, 1)] + [(5, 2)] * 4)
    finally:
        await redis.delete("chat:v2:rl:5:1")

    assert answers[:4] == [None, None, None, None]
    assert answers[4] is not None  # user 2 was still counted
    assert "rate limit unavailable key=5:1" in caplog.text


async def test_redis_unavailable_lets_every_message_through(mode, settings, caplog):
    if mode != "redis":
        pytest.skip("embedded mode has no Redis to lose")
    settings.CHAT_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    ratelimit.reset()

    assert await ratelimit.check_messages([(6, 1)] * 5) == [None] * 5
    assert "rate limit unavailable keys=5" in caplog.text
