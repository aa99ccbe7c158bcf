"""channels-redis: its pools counted in ``/metrics``; one log line, not a traceback,
when its receive-backup cleaner fails."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from chat.realtime.internals.contract import Optimisation, require
from chat.stores import redis_clients

logger = logging.getLogger("chat.realtime.hub")

_TASK = "_clean_receive_backup"


def _check() -> None:
    from channels_redis.core import RedisChannelLayer

    require(hasattr(RedisChannelLayer, _TASK), f"RedisChannelLayer.{_TASK} is gone")


QUIET_CLEANUP = Optimisation(
    name="channels_redis.quiet_cleanup",
    library="channels-redis",
    written_for="4.3.0",
    uses="RedisChannelLayer._clean_receive_backup (the name of a task nobody awaits)",
    buys="a Redis restart logs one line instead of asyncio's 'Task exception was never "
    "retrieved' traceback",
    without="that traceback (nothing is lost: the message is received again)",
    check=_check,
    needs_launcher=False,
)


def quiet_cleanup_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Log one line, not a traceback, when channels-redis's receive-backup cleaner fails.

    channels-redis runs that cleaner as a task nobody awaits, so a Redis restart ends
    in asyncio's "Task exception was never retrieved" traceback. Nothing is lost:
    the message stays in the backup queue and is received again.
    """
    if not QUIET_CLEANUP.ok():
        return
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        future = context.get("future")
        coro = future.get_coro() if isinstance(future, asyncio.Task) else None
        if getattr(coro, "__qualname__", "").endswith("." + _TASK):
            logger.warning("layer backup cleanup failed: %r", context.get("exception"))
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def watch_pools(layer: Any) -> None:
    """Count the layer's Redis pools of the running loop in ``chat_redis_connections``.

    Public names only (``ring_size``, ``connection(index)``, the client's
    ``connection_pool``); another layer (in memory, pub/sub) is skipped.
    """
    size = getattr(layer, "ring_size", None)
    if not isinstance(size, int) or not hasattr(layer, "connection"):
        return
    for index in range(size):
        pool = getattr(layer.connection(index), "connection_pool", None)
        if pool is not None and hasattr(pool, "get_connection_count"):
            redis_clients.watch("layer", pool)
