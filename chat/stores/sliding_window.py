"""Sliding-window logs: at most ``limit`` hits in any span of ``period`` seconds.

A fixed window admits twice its limit across a window edge (10 at 9.9 s, 10 more
at 10.0 s); a log of the admitted hits' times does not, and the wait it reports is
exact: the moment the oldest hit that still counts leaves the window.

Every hit is reserved atomically before the caller does the costly or risky thing
(checking a password, storing a message), so concurrent callers cannot all slip in
under the limit: one Lua script in Redis (shared by every process, timed by the
Redis clock), one lock in process memory (embedded mode has one process). A hit
has a ``member`` id, so a caller may hand back a reservation it did not need.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque

from redis.exceptions import NoScriptError

from chat.stores import backends, redis_clients

# KEYS[1] the log; ARGV: period (s), limit, member. Returns -1 when admitted, else
# the seconds until a slot frees (as a string: Lua numbers become integers).
_HIT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local period = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
  return tostring(math.max(tonumber(oldest[2]) + period - now, 0.001))
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(period * 1000))
return '-1'
"""

MAX_LOCAL_KEYS = 100_000


def new_member() -> str:
    """A unique id for one hit."""
    return secrets.token_hex(8)


def _wait(reply: bytes | str) -> float | None:
    seconds = float(reply)
    return None if seconds < 0 else seconds


class LocalWindows:
    """Sliding-window logs in this process's memory; safe from threads and the event loop."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._logs: dict[str, tuple[float, deque[tuple[float, str]]]] = {}

    def hit(
        self, key: str, *, limit: int, period: float, member: str | None = None
    ) -> float | None:
        """Reserve a hit: None when admitted, else the seconds until one would be."""
        with self._lock:
            now = self._clock()
            entry = self._logs.get(key)
            log = entry[1] if entry is not None else None
            if log is None:
                if len(self._logs) >= MAX_LOCAL_KEYS:
                    self._forget_expired(now)
                log = deque()
                self._logs[key] = (period, log)
            while log and log[0][0] <= now - period:
                log.popleft()
            if len(log) >= limit:
                return max(log[len(log) - limit][0] + period - now, 0.001)
            log.append((now, member or new_member()))
            return None

    def release(self, key: str, member: str) -> None:
        """Hand back the hit ``member`` (no-op when it is gone)."""
        with self._lock:
            entry = self._logs.get(key)
            if entry is not None:
                log = entry[1]
                for item in list(log):
                    if item[1] == member:
                        log.remove(item)

    def clear(self, key: str) -> None:
        """Forget every hit of ``key``."""
        with self._lock:
            self._logs.pop(key, None)

    def _forget_expired(self, now: float) -> None:
        # Only logs with no hit inside their window go: dropping live ones would
        # let a flood of new keys reset the limits of the old.
        for key, (period, log) in list(self._logs.items()):
            if not log or log[-1][0] <= now - period:
                del self._logs[key]


class RedisWindows:
    """Sliding-window logs in Redis (one sorted set per key), for sync callers."""

    def __init__(self, client) -> None:
        self._client = client
        self._script = client.register_script(_HIT_SCRIPT)

    def hit(
        self, key: str, *, limit: int, period: float, member: str | None = None
    ) -> float | None:
        """Reserve a hit: None when admitted, else the seconds until one would be."""
        return _wait(self._script(keys=[key], args=[period, limit, member or new_member()]))

    def release(self, key: str, member: str) -> None:
        """Hand back the hit ``member``."""
        self._client.zrem(key, member)

    def clear(self, key: str) -> None:
        """Forget every hit of ``key``."""
        self._client.delete(key)

    def stop(self) -> None:
        """Close the client's connections (``backends.reset`` calls this)."""
        self._client.close()


class AsyncRedisWindows(redis_clients.OnRunningLoop):
    """Sliding-window logs in Redis for async callers (the running loop's shared client)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._script = self.redis.register_script(_HIT_SCRIPT)

    async def hit(
        self, key: str, *, limit: int, period: float, member: str | None = None
    ) -> float | None:
        """Reserve a hit: None when admitted, else the seconds until one would be."""
        return _wait(
            await self._script(
                keys=[key], args=[period, limit, member or new_member()], client=self.redis
            )
        )

    async def hit_many(self, hits: list[tuple[str, int, float]]) -> list[float | None | Exception]:
        """``hit`` for each ``(key, limit, period)``, in order, in one round trip.

        Each hit is still its own atomic script run, timed by the Redis clock, so the
        answers are those of the same hits made one by one in this order. An answer is
        an exception when Redis refused that hit (the caller decides; nothing is
        raised for one); a connection failure raises for all.
        """
        calls = [(key, (period, limit, new_member())) for key, limit, period in hits]
        answers: list[float | None | Exception] = [None] * len(calls)
        todo = list(range(len(calls)))
        for attempt in range(2):
            async with self.redis.pipeline(transaction=False) as pipe:
                for index in todo:
                    key, args = calls[index]
                    pipe.evalsha(self._script.sha, 1, key, *args)
                replies = await pipe.execute(raise_on_error=False)
            # A restarted Redis forgot the script: load it and send again only the
            # hits it refused for that (the others are counted already).
            forgotten = []
            for index, reply in zip(todo, replies, strict=True):
                if isinstance(reply, NoScriptError) and attempt == 0:
                    forgotten.append(index)
                else:
                    answers[index] = reply if isinstance(reply, Exception) else _wait(reply)
            if not forgotten:
                break
            self._script.sha = await self.redis.script_load(_HIT_SCRIPT)
            todo = forgotten
        return answers


def shared_windows() -> LocalWindows | RedisWindows:
    """The process's sync windows: in Redis with ``REDIS_URL`` (all processes count
    together), else in process memory (embedded mode has one process)."""
    return backends.backend(
        "windows",
        local=LocalWindows,
        redis=lambda url: RedisWindows(redis_clients.sync_client(url, pool="sync", timeout=1)),
    )
