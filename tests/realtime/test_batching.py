"""Batcher: concurrent callers share one call of the handler, each gets its own answer."""

import asyncio

import pytest

from chat.realtime.batching import Batcher, loop_batcher


async def test_callers_that_arrive_together_share_batches_and_get_their_own_results():
    calls: list[list[int]] = []

    async def handle(requests):
        calls.append(list(requests))
        await asyncio.sleep(0.01)
        return [ValueError(f"odd {n}") if n % 2 else n * 10 for n in requests]

    batcher = Batcher(handle, max_batch=4)
    results = await asyncio.gather(*(batcher.submit(n) for n in range(10)), return_exceptions=True)

    assert [r if isinstance(r, int) else str(r) for r in results] == [
        0, "odd 1", 20, "odd 3", 40, "odd 5", 60, "odd 7", 80, "odd 9"
    ]  # fmt: skip
    assert calls == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


async def test_a_failing_handler_fails_every_caller_of_its_batch_only():
    async def handle(requests):
        if 99 in requests:
            raise ConnectionError("database away")
        return requests

    batcher = Batcher(handle, max_batch=10)
    first = await asyncio.gather(batcher.submit(99), return_exceptions=True)
    assert isinstance(first[0], ConnectionError)
    assert await batcher.submit(1) == 1
    await batcher.idle(timeout=1)
    assert batcher.task is None


async def test_loop_batcher_is_one_per_loop_and_name():
    async def handle(requests):
        return requests

    one = loop_batcher("a", handle, max_batch=5)
    assert loop_batcher("a", handle, max_batch=5) is one
    assert loop_batcher("b", handle, max_batch=5) is not one


@pytest.mark.parametrize("size", [1, 3])
async def test_results_keep_request_order(size):
    async def handle(requests):
        await asyncio.sleep(0)
        return [f"r{n}" for n in requests]

    batcher = Batcher(handle, max_batch=size)
    assert await asyncio.gather(*(batcher.submit(n) for n in range(5))) == [
        f"r{n}" for n in range(5)
    ]
