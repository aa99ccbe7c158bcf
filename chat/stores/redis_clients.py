"""The chat's own Redis connections (cache, presence, rate limits, peers): one bounded pool.

Each store used to have its own pool of up to 100 connections, and nothing closed
an idle one: after a storm of 1,000 clients a process kept about 330 connections to
Redis (issue 17), so some 30 processes would fill Redis's default ``maxclients``
of 10,000. Now every store of an event loop shares one ``BlockingConnectionPool``
of at most ``POOL_SIZE`` connections: a burst queues for a free one (up to
``POOL_WAIT`` seconds) instead of opening more, and ``SharedPool.trim`` closes the
idle ones beyond ``IDLE_KEEP`` every ``TRIM_INTERVAL`` seconds. Every connection
carries the client name ``chat:<pid>:<pool>`` (``client_name``), so ``CLIENT LIST``
on a shared Redis tells each process's connections apart.

The layer's pool is channels-redis's own, bounded by its ``hosts`` options (see the
demo site's settings and docs/deploy.md); ``pools`` lists both for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import time
import weakref
from dataclasses import dataclass, field

import redis
import redis.retry
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import TimeoutError as RedisTimeoutError

# At most this many connections per event loop for every store together. A storm of
# 1,000 joins over 100 rooms was ready as quickly as with 100 per store (docs/deploy.md,
# Capacity); an 8-connection layer pool was not (its calls queued for seconds).
POOL_SIZE = 32
POOL_WAIT = 5.0  # seconds a caller waits for a free connection before giving up
SOCKET_TIMEOUT = 2.0  # a command (or a connect) gives up after this
# Joins, messages and rate limits wait on these calls: one quick retry (redis-py's
# default retries three times with backoff, seconds of waiting while Redis is down);
# every caller falls back on its own when Redis fails (see each store).
RETRY = Retry(ExponentialBackoff(cap=0.2, base=0.02), 1)
# Idle connections beyond this are closed, at most every TRIM_INTERVAL seconds.
IDLE_KEEP = 4
TRIM_INTERVAL = 30.0
SYNC_POOL_SIZE = 8  # per sync client (see ``sync_client``)


def client_name(pool: str) -> str:
    """The Redis client name of this process's connections of ``pool``: ``chat:<pid>:<pool>``."""
    return f"chat:{os.getpid()}:{pool}"


@dataclass
class PoolCount:
    """Connections of one pool: checked out, and open but waiting in the pool."""

    pool: str
    in_use: int
    idle: int


@dataclass
class _Sockets:
    """Open sockets of one ``SharedPool`` (kept by its connections)."""

    open: int = 0
    counted: weakref.WeakSet = field(default_factory=weakref.WeakSet)


class _ChatConnection:
    """Mixed into the shared pools' connection class: counted sockets, kept cancellations.

    redis-py keeps a closed connection object in the pool (it reconnects on next
    use), so the pool's own count of objects is not a count of sockets: each
    connection tells its pool when its socket opens and closes.
    """

    sockets: _Sockets | None = None

    async def connect_check_health(self, *args, **kwargs) -> None:
        await super().connect_check_health(*args, **kwargs)
        sockets = self.sockets
        if sockets is not None and self.is_connected and self not in sockets.counted:
            sockets.counted.add(self)
            sockets.open += 1

    async def disconnect(self, *args, **kwargs) -> None:
        try:
            await super().disconnect(*args, **kwargs)
        finally:
            sockets = self.sockets
            if sockets is not None and not self.is_connected and self in sockets.counted:
                sockets.counted.discard(self)
                sockets.open -= 1

    async def send_packed_command(self, command, check_health: bool = True) -> None:
        # redis-py bounds a write with asyncio.wait_for when socket_timeout is set. On
        # Python 3.11, wait_for swallows a cancellation that arrives as the write
        # completes (python/cpython#86296, fixed in 3.12): a cancelled task (a
        # presence heartbeat being stopped) carried on as if nothing happened, and
        # re-wrote the lease its process had just withdrawn. asyncio.timeout keeps it.
        timeout = self.socket_timeout
        if not timeout or sys.version_info >= (3, 12):
            return await super().send_packed_command(command, check_health)
        self.socket_timeout = None
        try:
            async with asyncio.timeout(timeout):
                await super().send_packed_command(command, check_health)
        except TimeoutError as exc:  # the builtin one: asyncio.timeout's, not redis-py's
            raise RedisTimeoutError("Timeout writing to socket") from exc
        finally:
            self.socket_timeout = timeout


@functools.cache
def _counting(connection_class: type) -> type:
    """``connection_class`` (TCP, TLS or Unix socket, as the URL says) with ``_ChatConnection``."""
    return type(f"Chat{connection_class.__name__}", (_ChatConnection, connection_class), {})


class SharedPool(aioredis.BlockingConnectionPool):
    """A bounded, blocking pool that closes its surplus idle connections now and then.

    redis-py has no idle reaping. Closing idle connections from outside the pool
    (``disconnect(inuse_connections=False)``) races with a caller taking one of
    them; ``trim`` instead checks the idle ones out like any caller, closes the
    surplus and hands them back, only through the pool's public methods.
    """

    def __init__(self, connection_class: type = aioredis.Connection, **kwargs) -> None:
        super().__init__(connection_class=_counting(connection_class), **kwargs)
        self.sockets = _Sockets()
        self._next_trim = time.monotonic() + TRIM_INTERVAL
        self._trimming: asyncio.Task | None = None

    def make_connection(self):
        connection = super().make_connection()
        connection.sockets = self.sockets
        return connection

    def count(self) -> tuple[int, int]:
        """``(in_use, idle)``: connections checked out, and open ones waiting in the pool."""
        (_, _), (in_use, _) = self.get_connection_count()
        return in_use, max(0, self.sockets.open - in_use)

    async def release(self, connection) -> None:
        await super().release(connection)
        # There is always some traffic in Redis mode (presence heartbeats, the
        # hub's refresh every 3 s): a trim is due at the first release after the interval.
        now = time.monotonic()
        if now >= self._next_trim and self._trimming is None:
            self._next_trim = now + TRIM_INTERVAL
            self._trimming = asyncio.get_running_loop().create_task(self._trim_task())

    async def _trim_task(self) -> None:
        try:
            await self.trim()
        except Exception:  # noqa: BLE001, S110 - Redis trouble: the next trim tries again
            pass
        finally:
            self._trimming = None

    async def trim(self, keep: int | None = None) -> int:
        """Close the open idle connections beyond ``keep``; return how many were closed.

        The pool hands out its most recently returned connection first, so the open
        idle ones are on top: take them, close all but ``keep``, and give the closed
        ones back first, so the ones kept are the next to be used.
        """
        keep = IDLE_KEEP if keep is None else keep
        _, idle = self.count()
        if idle <= keep:
            return 0
        taken = []
        try:
            while len(taken) < idle and self.get_connection_count()[0][0] > 0:
                taken.append(await self.get_connection())
            await asyncio.gather(*(c.disconnect() for c in taken[keep:]), return_exceptions=True)
        finally:
            for connection in [*taken[keep:], *taken[:keep]]:
                await self.release(connection)
        return max(0, len(taken) - keep)


_clients: dict[tuple[asyncio.AbstractEventLoop | None, str], aioredis.Redis] = {}


def shared(url: str) -> aioredis.Redis:
    """The client of the running event loop's shared pool for ``url`` (made on first use).

    One per event loop: redis.asyncio connections belong to the loop that opened
    them (tests run many loops; a server runs one).
    """
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    found = _clients.get((loop, url))
    if found is None:
        for old in [key for key in _clients if key[0] is not None and key[0].is_closed()]:
            del _clients[old]
        pool = SharedPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=POOL_WAIT,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            retry=RETRY,
            client_name=client_name("chat"),
        )
        found = _clients[(loop, url)] = aioredis.Redis(connection_pool=pool)
        if loop is not None:
            _closers[found] = _close_with(loop, found)
    return found


# The generators that close each loop's client (see ``_close_with``). The loop holds
# its async generators weakly, so they are kept here until they have run.
_closers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _close_with(loop: asyncio.AbstractEventLoop, client: aioredis.Redis):
    """Close ``client``'s connections when ``loop`` shuts down.

    A loop that ends, ends its clients too: ``asyncio.run``, asgiref's ``async_to_sync``
    from plain sync code (a management command, a WSGI-served admin action: a new
    loop per call) and pytest-asyncio all call ``loop.shutdown_asyncgens()`` before
    closing the loop, which finalizes every async generator still suspended, this
    one included. Left to the garbage collector instead, each such loop's sockets
    to Redis stayed open until collected (and warned ``unclosed transport``).
    """

    async def open_until_the_loop_ends():
        try:
            yield
        finally:
            await client.aclose(close_connection_pool=True)

    closer = open_until_the_loop_ends()
    # Started at once, so that it is suspended in its ``try`` when the loop ends
    # (finalizing a generator that never started runs nothing).
    asyncio.ensure_future(closer.__anext__(), loop=loop)
    return closer


class OnRunningLoop:
    """For a store that outlives event loops: ``redis`` is the running loop's shared client.

    A store is made once per process (``backends.backend``), but redis.asyncio
    connections belong to the loop that opened them. A server runs one loop; sync
    code (a management command, a WSGI-served view or admin action) runs a new one
    for each ``async_to_sync`` call. A store that kept the client of its first loop
    failed every other such call with "Event loop is closed". Lua scripts are
    registered once and run with ``client=self.redis``.
    """

    url: str

    @property
    def redis(self) -> aioredis.Redis:
        """The shared client of the running event loop for ``url``."""
        return shared(self.url)


def sync_client(
    url: str, *, pool: str, timeout: float, retry: redis.retry.Retry | None = None
) -> redis.Redis:
    """A client for threads (sync code): its own pool of at most ``SYNC_POOL_SIZE``.

    Sync callers (sign-in and sign-up throttles, ``/healthz``) run in a few threads,
    one command each at a time; the bound only keeps a surprise from opening more.
    """
    connection_pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=SYNC_POOL_SIZE,
        timeout=POOL_WAIT,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        client_name=client_name(pool),
        **({"retry": retry} if retry is not None else {}),
    )
    _watched.append((pool, weakref.ref(connection_pool)))
    return redis.Redis(connection_pool=connection_pool)


def watch(pool: str, connection_pool) -> None:
    """Count ``connection_pool`` (another library's, e.g. the layer's) in ``pools()``."""
    if not any(ref() is connection_pool for _, ref in _watched):
        _watched.append((pool, weakref.ref(connection_pool)))


_watched: list[tuple[str, weakref.ref]] = []


def pools() -> list[PoolCount]:
    """This process's Redis pools and their connections, for ``/metrics``.

    The shared pools count open sockets; other pools (sync, the layer's) count the
    connection objects they hold, which is the same as long as nothing closes
    their idle ones (nothing does).
    """
    counts = []
    for (loop, _url), client in list(_clients.items()):
        if loop is None or not loop.is_closed():
            in_use, idle = client.connection_pool.count()
            counts.append(PoolCount("chat", in_use, idle))
    for pool, ref in list(_watched):
        connection_pool = ref()
        if connection_pool is None:
            _watched.remove((pool, ref))
            continue
        (idle, _), (in_use, _) = connection_pool.get_connection_count()
        counts.append(PoolCount(pool, in_use, idle))
    return counts


class ConnectionsCollector:
    """``chat_redis_connections{pool, state}`` for Prometheus, read when scraped."""

    def collect(self):
        """One sample per pool and state (``in_use``, ``idle``)."""
        family = GaugeMetricFamily(
            "chat_redis_connections",
            "Connections of this process to Redis, by pool and state",
            labels=["pool", "state"],
        )
        totals: dict[tuple[str, str], int] = {}
        for count in pools():
            for state, value in (("in_use", count.in_use), ("idle", count.idle)):
                totals[(count.pool, state)] = totals.get((count.pool, state), 0) + value
        for (pool, state), value in sorted(totals.items()):
            family.add_metric([pool, state], value)
        yield family


REGISTRY.register(ConnectionsCollector())
