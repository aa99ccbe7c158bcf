"""Group commit: the sends of one process that arrive together share a transaction.

``database_sync_to_async`` runs every call of a process on one thread, so one
transaction per message caps durable throughput at one commit (an fsync) per
message. Instead, sends queue here; while a batch commits, the next one gathers,
and each sender is answered only after its own batch has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from channels.db import database_sync_to_async
from django.db import DatabaseError

from . import metrics, services
from .errors import ChatError, ErrorCode

logger = logging.getLogger(__name__)

MAX_BATCH = 200  # bounds one transaction's lock time and memory


class Writer:
    """The group-commit queue of one event loop."""

    _writers: dict[asyncio.AbstractEventLoop, Writer] = {}

    def __init__(self) -> None:
        self.pending: list[tuple[services.PostRequest, asyncio.Future]] = []
        self.task: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    @classmethod
    def current(cls) -> Writer:
        loop = asyncio.get_running_loop()
        writer = cls._writers.get(loop)
        if writer is None:
            for old in [old for old in cls._writers if old.is_closed()]:
                del cls._writers[old]
            writer = cls._writers[loop] = cls()
        return writer

    async def post(self, request: services.PostRequest) -> services.PostResult:
        """Store ``request`` (after commit, return its result) or raise its ``ChatError``."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((request, future))
        if self.task is None:
            self._idle.clear()
            self.task = asyncio.get_running_loop().create_task(self._run())
        result = await future
        if isinstance(result, ChatError):
            raise result
        return result

    async def _run(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                started = time.perf_counter()
                try:
                    results = await database_sync_to_async(services.post_messages)(
                        [r for r, _ in batch]
                    )
                except DatabaseError as exc:
                    # Locked, restarting, unreachable: a fault with one line, not a
                    # traceback per batch; every sender gets server_error and retries.
                    logger.warning(
                        "database unavailable: batch of %d messages rooms=%s not stored: %r",
                        len(batch),
                        sorted({request.room_id for request, _ in batch}),
                        exc,
                    )
                    results = [_server_error(request, exc) for request, _ in batch]
                except Exception as exc:  # noqa: BLE001 - answer every sender, then go on
                    logger.exception("batch of %d messages failed", len(batch))
                    results = [_server_error(request, exc) for request, _ in batch]
                else:
                    metrics.PERSIST_SECONDS.observe(time.perf_counter() - started)
                    metrics.MESSAGES_STORED.inc(
                        sum(1 for r in results if isinstance(r, services.PostResult) and r.created)
                    )
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self.task = None
            self._idle.set()

    async def idle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - a bound is the point
        """Wait for in-flight batches to commit (graceful shutdown); at most ``timeout`` s."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)


def _server_error(request: services.PostRequest, exc: Exception) -> ChatError:
    # The database refused or is unreachable: nothing was stored, and the client may
    # retry with the same client_id without risking a duplicate.
    return ChatError(
        ErrorCode.SERVER_ERROR,
        "the message could not be stored; retry with the same client_id",
        client_id=request.client_id,
        retry_after=1.0,
    )
