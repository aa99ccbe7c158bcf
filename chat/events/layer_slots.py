"""A bound on the channel-layer calls under way at once, so the layer's pool stays small.

channels-redis takes one connection from its pool per call, and its pool (redis-py's
plain one) opens a new connection whenever none is free, up to ``max_connections``
(100 by default), then raises. A storm into 100 rooms made 100 ``group_add`` calls at
once: 100 connections, kept idle for good. So every layer call of the chat (the
hub's ``group_add``/``group_discard``, sends to peers, ``group_send``) first takes a
slot; there are ``max_connections - RESERVED`` per event loop, read from the layer's
``hosts`` (the demo site sets ``max_connections``, see docs/deploy.md). The hub's
``receive`` holds one more connection without a slot, and channels-redis's cleanup
after a cancelled receive may take another, hence ``RESERVED``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

# redis-py's default max_connections of a pool made without one.
REDIS_DEFAULT_MAX = 100
# Connections not behind a slot: the hub's receive, and a receive-backup cleanup.
RESERVED = 2

_slots: dict[tuple[asyncio.AbstractEventLoop, int, int], asyncio.Semaphore] = {}


def calls_at_once(layer: Any) -> int | None:
    """How many calls ``layer`` may have under way; None: no bound (not a Redis layer)."""
    hosts = getattr(layer, "hosts", None)
    if not hosts:
        return None
    bounds = [int(host.get("max_connections") or REDIS_DEFAULT_MAX) for host in hosts]
    return max(1, min(bounds) - RESERVED)


@contextlib.asynccontextmanager
async def slot(layer: Any) -> AsyncIterator[None]:
    """Hold one of the running loop's slots of ``layer`` for one call."""
    bound = calls_at_once(layer)
    if bound is None:
        yield
        return
    loop = asyncio.get_running_loop()
    key = (loop, id(layer), bound)
    semaphore = _slots.get(key)
    if semaphore is None:
        for old in [old for old in _slots if old[0].is_closed()]:
            del _slots[old]
        semaphore = _slots[key] = asyncio.Semaphore(bound)
    async with semaphore:
        yield
