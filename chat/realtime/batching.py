"""Calls that arrive together share one trip to the database thread.

``database_sync_to_async`` runs every database call of a process on one thread.
Sends (group commit) and connects both come in crowds; one hop per call would
queue a thousand hops and a thousand transactions. Here callers of one event loop
queue their requests; while a batch runs, the next one gathers, and each caller
gets its own result (or exception) when its batch is done.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Req = TypeVar("Req")
Res = TypeVar("Res")


class Batcher(Generic[Req, Res]):
    """Run ``handle(requests)`` for the requests of one event loop, a batch at a time.

    ``handle`` returns one result per request, in order; a result that is an
    exception is raised to its caller. If ``handle`` itself raises, every caller of
    that batch gets the exception.
    """

    def __init__(
        self, handle: Callable[[list[Req]], Awaitable[list[Res | Exception]]], *, max_batch: int
    ) -> None:
        self.handle = handle
        self.max_batch = max_batch
        self.pending: list[tuple[Req, asyncio.Future]] = []
        self.task: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    async def submit(self, request: Req) -> Res:
        """The result of ``request``, once its batch is done."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((request, future))
        if self.task is None:
            self._idle.clear()
            self.task = asyncio.get_running_loop().create_task(self._run())
        result = await future
        if isinstance(result, Exception):
            raise result
        return result

    async def _run(self) -> None:
        try:
            while self.pending:
                batch = self.pending[: self.max_batch]
                self.pending = self.pending[self.max_batch :]
                try:
                    results = await self.handle([request for request, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every caller of the batch hears it
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self.task = None
            self._idle.set()

    async def idle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - a bound is the point
        """Wait for batches in flight (graceful shutdown); at most ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)


_batchers: dict[tuple[asyncio.AbstractEventLoop, str], Batcher] = {}


def loop_batcher(
    name: str,
    handle: Callable[[list[Req]], Awaitable[list[Res | Exception]]],
    *,
    max_batch: int,
) -> Batcher[Req, Res]:
    """The running event loop's batcher called ``name`` (made on first use)."""
    loop = asyncio.get_running_loop()
    batcher = _batchers.get((loop, name))
    if batcher is None:
        for key in [key for key in _batchers if key[0].is_closed()]:
            del _batchers[key]
        batcher = _batchers[(loop, name)] = Batcher(handle, max_batch=max_batch)
    return batcher
