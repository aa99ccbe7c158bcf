"""Concurrent reads of one key share a single call, without ever returning stale data.

A crowd joining a big room all ask for the same online list within milliseconds; read
separately, that is N reads of an N-long list. Here a caller either starts a read or
waits for the one queued to start next, never for one already running: a read that
began before the caller asked could miss what the caller did just before asking (its
own arrival, say). So every caller gets data at least as fresh as its call, and a
crowd costs about two reads per read time, not one per caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class FreshRead(Generic[K, V]):
    """Call ``read(key)`` on behalf of every concurrent caller of ``key`` that can share it."""

    def __init__(self, read: Callable[[K], Awaitable[V]]) -> None:
        self._read = read
        self._running: dict[K, asyncio.Task[V]] = {}
        self._queued: dict[K, asyncio.Task[V]] = {}

    async def __call__(self, key: K) -> V:
        loop = asyncio.get_running_loop()
        queued = self._queued.get(key)
        if queued is None or queued.done() or queued.get_loop() is not loop:
            # (A task of another, finished event loop is left over, e.g. between tests.)
            running = self._running.get(key)
            if running is not None and (running.done() or running.get_loop() is not loop):
                running = None
            queued = asyncio.ensure_future(self._after(running, key))
            # Nobody may be left waiting for it (callers cancelled): still consume errors.
            queued.add_done_callback(_consume)
            self._queued[key] = queued
        # Shielded: one caller giving up must not cancel the read for the others.
        return await asyncio.shield(queued)

    async def _after(self, previous: asyncio.Task[V] | None, key: K) -> V:
        if previous is not None:
            await asyncio.wait([previous])  # its outcome belongs to its own callers
        me = asyncio.current_task()
        # From now on newcomers queue for the next read: this one starts before they ask.
        if self._queued.get(key) is me:
            del self._queued[key]
        self._running[key] = me
        try:
            return await self._read(key)
        finally:
            if self._running.get(key) is me:
                del self._running[key]


def _consume(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()
