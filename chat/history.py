"""Recent history of each room: a cache of encoded messages in front of the database.

The database is the truth (the ``cached_db`` session pattern): the cache keeps the
latest ``CHAT_CACHE_MESSAGES`` of a room as ``(seq, json)`` entries, proves that what
it returns is contiguous, and otherwise the answer comes from the database and
refills the cache. Cache errors are logged, never raised. Redis in Redis mode,
process memory in embedded mode.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Protocol

from channels.db import database_sync_to_async
from redis.exceptions import RedisError

from . import metrics, protocol, redis_clients, selectors
from .coalesce import FreshRead
from .conf import chat_settings
from .models import Room

logger = logging.getLogger(__name__)

# A reader that finds the cache gapless but a few messages short waits this long
# once before asking the database: the messages committed a moment ago are being
# written there (after commit, beside the broadcast). A reconnect storm otherwise
# sent most of its readers to the database.
TAIL_GRACE = 0.05
TAIL_TRIES = 4  # at most (TAIL_TRIES - 1) * TAIL_GRACE of waiting

Entry = tuple[int, str]  # (seq, the message object encoded as JSON)


class HistoryCache(Protocol):
    """The latest messages of each room by seq; readers prove a range gapless before use."""

    async def tail(self, room_id: int, count: int) -> list[Entry]:
        """The newest ``count`` entries, ascending (fewer if the cache holds fewer)."""

    async def after(self, room_id: int, seq: int, count: int) -> tuple[list[Entry], int | None]:
        """Entries with seq > ``seq`` (ascending, at most ``count``), and the cache's lowest seq."""

    async def before(self, room_id: int, seq: int, count: int) -> tuple[list[Entry], int | None]:
        """The newest ``count`` entries with seq < ``seq``, and the cache's lowest seq."""

    async def add(self, room_id: int, entries: list[Entry]) -> None:
        """Add entries, keeping the newest ``CHAT_CACHE_MESSAGES`` (holes allowed)."""

    async def replace(self, room_id: int, entry: Entry) -> None:
        """Set the entry of a deleted or restored message if it is cached, or newer
        than anything cached (its add may still be on its way; the add then keeps it)."""

    async def clear(self, room_id: int) -> None:
        """Forget a room."""


class LocalHistoryCache:
    """In-process cache for embedded mode (one process, so it is the whole truth of the cache)."""

    def __init__(self) -> None:
        self._rooms: dict[int, dict[int, str]] = {}

    def _sorted(self, room_id: int) -> list[Entry]:
        return sorted(self._rooms.get(room_id, {}).items())

    async def tail(self, room_id: int, count: int) -> list[Entry]:
        return self._sorted(room_id)[-count:] if count else []

    async def after(self, room_id: int, seq: int, count: int) -> tuple[list[Entry], int | None]:
        entries = self._sorted(room_id)
        return [e for e in entries if e[0] > seq][:count], (entries[0][0] if entries else None)

    async def before(self, room_id: int, seq: int, count: int) -> tuple[list[Entry], int | None]:
        entries = self._sorted(room_id)
        older = [e for e in entries if e[0] < seq]
        return older[-count:], (entries[0][0] if entries else None)

    async def add(self, room_id: int, entries: list[Entry]) -> None:
        room = self._rooms.setdefault(room_id, {})
        for seq, text in entries:
            room.setdefault(seq, text)
        limit = chat_settings().cache_messages
        if len(room) > limit:
            keep = sorted(room)[-limit:]
            self._rooms[room_id] = {seq: room[seq] for seq in keep}

    async def replace(self, room_id: int, entry: Entry) -> None:
        room = self._rooms.get(room_id)
        if room and (entry[0] in room or entry[0] > max(room)):
            room[entry[0]] = entry[1]

    async def clear(self, room_id: int) -> None:
        self._rooms.pop(room_id, None)


# Adds entries not cached yet (a tombstone that got there first stays) and keeps
# the newest ARGV[1]. Several processes add their own
# messages, so seq 31 may arrive after 32: holes are allowed here (an earlier
# version dropped everything below a hole, and two busy processes kept emptying
# the cache); readers only answer from a gapless run they can see.
_ADD_SCRIPT = """
for i = 2, #ARGV, 2 do
  if redis.call('ZCOUNT', KEYS[1], ARGV[i], ARGV[i]) == 0 then
    redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
local n = redis.call('ZCARD', KEYS[1])
local keep = tonumber(ARGV[1])
if n > keep then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - keep - 1)
end
redis.call('EXPIRE', KEYS[1], 604800)
return math.min(n, keep)
"""

_REPLACE_SCRIPT = """
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local newer = top[2] ~= nil and tonumber(ARGV[1]) > tonumber(top[2])
if newer or redis.call('ZCOUNT', KEYS[1], ARGV[1], ARGV[1]) == 1 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


class RedisHistoryCache:
    """The cache in Redis: one sorted set per room, scored by seq."""

    def __init__(self, url: str) -> None:
        self._redis = redis_clients.client(url, timeout=2)
        self._add = self._redis.register_script(_ADD_SCRIPT)
        self._replace = self._redis.register_script(_REPLACE_SCRIPT)

    @staticmethod
    def key(room_id: int) -> str:
        return f"chat:v1:room:{room_id}:recent"

    @staticmethod
    def _entries(rows) -> list[Entry]:
        return [(int(score), member.decode()) for member, score in rows]

    async def _lowest(self, room_id: int) -> int | None:
        rows = await self._redis.zrange(self.key(room_id), 0, 0, withscores=True)
        return int(rows[0][1]) if rows else None

    async def tail(self, room_id: int, count: int) -> list[Entry]:
        rows = await self._redis.zrange(self.key(room_id), -count, -1, withscores=True)
        return self._entries(rows)

    async def after(self, room_id: int, seq: int, count: int) -> tuple[list[Entry], int | None]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(
                self.key(room_id), f"({seq}", "+inf", start=0, num=count, withscores=True
            )
            pipe.zrange(self.key(room_id), 0, 0, withscores=True)
            rows, lowest = await pipe.execute()
        return self._entries(rows), (int(lowest[0][1]) if lowest else None)

    async def before(self, room_id: int, seq: int, count: int) -> tuple[list[Entry], int | None]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrevrangebyscore(
                self.key(room_id), f"({seq}", "-inf", start=0, num=count, withscores=True
            )
            pipe.zrange(self.key(room_id), 0, 0, withscores=True)
            rows, lowest = await pipe.execute()
        entries = self._entries(rows)
        entries.reverse()
        return entries, (int(lowest[0][1]) if lowest else None)

    async def add(self, room_id: int, entries: list[Entry]) -> None:
        args: list = [chat_settings().cache_messages]
        for seq, text in entries:
            args += [seq, text]
        await self._add(keys=[self.key(room_id)], args=args)

    async def replace(self, room_id: int, entry: Entry) -> None:
        await self._replace(keys=[self.key(room_id)], args=[entry[0], entry[1]])

    async def clear(self, room_id: int) -> None:
        await self._redis.delete(self.key(room_id))


_caches: dict[str, HistoryCache] = {}


def cache() -> HistoryCache:
    """The cache of this mode (one per process, created on first use)."""
    url = chat_settings().redis_url
    if url not in _caches:
        _caches[url] = RedisHistoryCache(url) if url else LocalHistoryCache()
    return _caches[url]


def reset_cache() -> None:
    """Forget the cache objects (tests: a new event loop needs new Redis connections)."""
    _caches.clear()


def entries_of(payloads: Iterable[dict]) -> list[Entry]:
    return [(payload["seq"], protocol.encode(payload)) for payload in payloads]


def _is_run(entries: list[Entry], first: int | None = None) -> bool:
    if not entries:
        return True
    if first is not None and entries[0][0] != first:
        return False
    return all(b[0] == a[0] + 1 for a, b in zip(entries, entries[1:], strict=False))


async def _safe(call, default):
    try:
        return await call
    except (RedisError, OSError) as exc:
        logger.warning("history cache unavailable: %s", exc)
        return default


async def remember(room_id: int, entries: list[Entry]) -> None:
    """Put committed messages in the cache (best effort: the database has them)."""
    await _safe(cache().add(room_id, entries), None)


async def forget(room_id: int, entry: Entry) -> None:
    """Replace a cached message by its tombstone (or restored body)."""
    await _safe(cache().replace(room_id, entry), None)


# --- reads ------------------------------------------------------------------


async def latest(*, room: Room, count: int, last_seq: int) -> list[Entry]:
    """The newest ``count`` messages of ``room`` (ascending); ``last_seq`` is the room's newest seq.

    A crowd joining a room at once shares the reads (and their parsing): the answer
    depends on nothing but these three arguments.
    """
    return await _shared_latest((room, count, last_seq))


async def _latest(key: tuple[Room, int, int]) -> list[Entry]:
    room, count, last_seq = key
    count = min(count, last_seq)
    if count <= 0:
        return []
    entries = await _from_cache(
        lambda: _safe(cache().tail(room.pk, count), []),
        complete=lambda e: len(e) == count and e[-1][0] >= last_seq and _is_run(e),
        short=lambda e: bool(e) and _is_run(e) and e[-1][0] < last_seq,
    )
    if entries is not None:
        return entries
    fill = max(count, chat_settings().cache_messages)
    payloads = await database_sync_to_async(selectors.messages_before)(
        room=room, before_seq=None, limit=fill
    )
    entries = entries_of(payloads)
    await remember(room.pk, entries)
    return entries[-count:]


async def _from_cache(read, *, complete, short):
    """What ``read()`` gets from the cache once ``complete`` accepts it, else None (ask
    the database). While it is only ``short`` (a gapless run whose newest messages
    are still on their way to the cache) it is read again, up to ``TAIL_TRIES`` times."""
    for attempt in range(TAIL_TRIES):
        found = await read()
        if complete(found):
            metrics.CACHE_LOOKUPS.labels("hit").inc()
            return found
        if attempt == TAIL_TRIES - 1 or not short(found):
            break
        await asyncio.sleep(TAIL_GRACE)
    metrics.CACHE_LOOKUPS.labels("miss").inc()
    return None


_shared_latest: FreshRead[tuple[Room, int, int], list[Entry]] = FreshRead(_latest)


async def after(*, room: Room, seq: int, count: int, last_seq: int) -> list[Entry]:
    """Messages with seq > ``seq`` (ascending, at most ``count``); ``last_seq`` bounds what exists."""
    wanted = min(count, last_seq - seq)
    if wanted <= 0:
        return []

    def covered(found: tuple[list[Entry], int | None]) -> bool:
        entries, lowest = found
        return lowest is not None and lowest <= seq + 1 and _is_run(entries, seq + 1)

    found = await _from_cache(
        lambda: _safe(cache().after(room.pk, seq, wanted), ([], None)),
        complete=lambda found: covered(found) and len(found[0]) == wanted,
        short=covered,
    )
    if found is not None:
        return found[0]
    payloads = await database_sync_to_async(selectors.messages_between)(
        room=room, after_seq=seq, up_to_seq=last_seq, limit=wanted
    )
    return entries_of(payloads)


async def missing(*, room: Room, after_seq: int, before_seq: int) -> list[Entry]:
    """The messages strictly between two seqs a connection has: a gap the layer left."""
    entries = await after(
        room=room, seq=after_seq, count=before_seq - after_seq - 1, last_seq=before_seq - 1
    )
    metrics.GAP_FILLS.inc(len(entries))
    return entries


async def cached_after(*, room_id: int, seq: int, count: int = 100) -> list[Entry]:
    """Cached messages right after ``seq``, only as far as the cache proves them gapless."""
    entries, _ = await _safe(cache().after(room_id, seq, count), ([], None))
    if not entries or entries[0][0] != seq + 1:
        return []
    run = 1
    while run < len(entries) and entries[run][0] == entries[run - 1][0] + 1:
        run += 1
    return entries[:run]


async def before(*, room: Room, seq: int | None, count: int) -> list[Entry]:
    """The newest ``count`` messages with seq < ``seq`` (all when None), ascending."""
    if seq is None:
        seq = room.last_seq + 1
    wanted = min(count, seq - 1)
    if wanted <= 0:
        return []
    entries, lowest = await _safe(cache().before(room.pk, seq, wanted), ([], None))
    if (
        lowest is not None
        and len(entries) == wanted
        and entries[-1][0] == seq - 1
        and _is_run(entries)
    ):
        metrics.CACHE_LOOKUPS.labels("hit").inc()
        return entries
    metrics.CACHE_LOOKUPS.labels("miss").inc()
    payloads = await database_sync_to_async(selectors.messages_before)(
        room=room, before_seq=seq, limit=wanted
    )
    return entries_of(payloads)


def payload_of(entry: Entry) -> dict:
    return json.loads(entry[1])
