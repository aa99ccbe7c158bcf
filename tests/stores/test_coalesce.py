"""FreshRead: callers share reads, and nobody gets a read that started before it asked."""

import asyncio

import pytest

from chat.stores.coalesce import FreshRead


class Source:
    """A value that changes, read slowly, counting the reads."""

    def __init__(self) -> None:
        self.value = 0
        self.reads = 0
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def read(self, key: str) -> tuple[str, int]:
        self.reads += 1
        seen = self.value  # the read observes the value at its start
        self.started.set()
        await self.release.wait()
        return key, seen


async def test_a_crowd_shares_one_read_per_key():
    source = Source()
    read = FreshRead(source.read)
    callers = [asyncio.create_task(read("a")) for _ in range(50)]
    callers.append(asyncio.create_task(read("b")))
    await source.started.wait()
    source.release.set()
    results = await asyncio.gather(*callers)
    assert results[:50] == [("a", 0)] * 50
    assert results[50] == ("b", 0)
    assert source.reads == 2


async def test_a_caller_never_gets_a_read_that_started_before_it_asked():
    source = Source()
    read = FreshRead(source.read)
    early = asyncio.create_task(read("a"))
    await source.started.wait()  # the first read is running and has seen value 0
    source.value = 1  # e.g. the late callers' own arrival
    late = [asyncio.create_task(read("a")) for _ in range(20)]
    await asyncio.sleep(0)
    source.release.set()
    assert await early == ("a", 0)
    assert [await task for task in late] == [("a", 1)] * 20
    assert source.reads == 2  # twenty late callers shared the second read


async def test_errors_reach_every_caller_of_that_read_and_the_next_read_is_fresh():
    calls = 0

    async def flaky(key: str) -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 1:
            raise ConnectionError("redis away")
        return calls

    read = FreshRead(flaky)
    first = await asyncio.gather(*(read("a") for _ in range(5)), return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in first)
    assert await read("a") == 2


async def test_a_cancelled_caller_does_not_cancel_the_read_for_the_others():
    source = Source()
    read = FreshRead(source.read)
    quitter = asyncio.create_task(read("a"))
    stayer = asyncio.create_task(read("a"))
    await source.started.wait()
    quitter.cancel()
    source.release.set()
    with pytest.raises(asyncio.CancelledError):
        await quitter
    assert await stayer == ("a", 0)


def test_a_read_left_over_from_a_finished_event_loop_is_not_waited_for():
    source_reads = []

    async def read(key):
        source_reads.append(key)
        await asyncio.sleep(10)  # never finishes in the first loop
        return key

    shared = FreshRead(read)

    async def abandon():
        task = asyncio.ensure_future(shared("a"))
        await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(abandon())

    async def fresh(key):
        return f"fresh {key}"

    shared._read = fresh
    assert asyncio.run(asyncio.wait_for(shared("a"), 2)) == "fresh a"
