"""Group commit: the sends of one process that arrive together share a transaction.

One transaction per message would cap durable throughput at one commit (an fsync)
per message. Instead, sends queue in a ``Batcher``; while a batch commits, the next
one gathers, and each sender is answered only after its own batch has committed.
"""

from __future__ import annotations

import logging
import time

from channels.db import database_sync_to_async
from django.db import DatabaseError

from chat import metrics, services
from chat.realtime.batching import Batcher, loop_batcher
from chat.wire.errors import ChatError, ErrorCode

logger = logging.getLogger(__name__)

MAX_BATCH = 200  # bounds one transaction's lock time and memory


def writer() -> Batcher[services.PostRequest, services.PostResult]:
    """The group-commit queue of the running event loop: ``await writer().submit(request)``
    stores it (returning its ``PostResult`` after commit) or raises its ``ChatError``."""
    return loop_batcher("writer", _store, max_batch=MAX_BATCH)


async def _store(batch: list[services.PostRequest]) -> list[services.PostResult | ChatError]:
    started = time.perf_counter()
    try:
        results = await database_sync_to_async(services.post_messages)(batch)
    except DatabaseError as exc:
        # Locked, restarting, unreachable: a fault with one line, not a traceback
        # per batch; every sender gets server_error and retries.
        logger.warning(
            "database unavailable: batch of %d messages rooms=%s not stored: %r",
            len(batch),
            sorted({request.room_id for request in batch}),
            exc,
        )
        return [_server_error(request, exc) for request in batch]
    except Exception as exc:  # noqa: BLE001 - answer every sender, then go on
        logger.exception("batch of %d messages failed", len(batch))
        return [_server_error(request, exc) for request in batch]
    metrics.PERSIST_SECONDS.observe(time.perf_counter() - started)
    metrics.MESSAGES_STORED.inc(
        sum(1 for r in results if isinstance(r, services.PostResult) and r.created)
    )
    return results


def _server_error(request: services.PostRequest, exc: Exception) -> ChatError:
    # The database refused or is unreachable: nothing was stored, and the client may
    # retry with the same client_id without risking a duplicate.
    return ChatError(
        ErrorCode.SERVER_ERROR,
        "the message could not be stored; retry with the same client_id",
        client_id=request.client_id,
        retry_after=1.0,
    )
