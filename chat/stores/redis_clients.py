"""redis.asyncio clients of the chat's own Redis work (cache, presence, rate limits).

redis-py's default pool holds at most 100 connections and raises
``MaxConnectionsError`` past that: a thousand people connecting at once turned into
a thousand refusals. A blocking pool makes the extra callers wait a moment for a
free connection instead.
"""

from __future__ import annotations

from redis import asyncio as aioredis
from redis.asyncio.retry import Retry

POOL_SIZE = 100
POOL_WAIT = 5.0  # seconds a caller waits for a free connection before giving up


def client(url: str, *, timeout: float, retry: Retry | None = None) -> aioredis.Redis:
    """A client for ``url`` whose socket operations give up after ``timeout`` seconds."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=POOL_SIZE,
        timeout=POOL_WAIT,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        **({"retry": retry} if retry is not None else {}),
    )
    return aioredis.Redis(connection_pool=pool)
