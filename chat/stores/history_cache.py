"""The cache of each room's recent history: ``(seq, json)`` entries, newest kept.

Redis in Redis mode, process memory in embedded mode. The cache may have holes
(several processes add their messages out of order); its readers in
``chat.history`` only answer from a gapless run they can see. Errors are logged,
never raised, by ``remember``, ``replace`` and ``read``.
"""

from __future__ import annotations

import logging
from typing import Protocol

from redis.exceptions import RedisError

from chat.conf import chat_settings
from chat.stores import backends, redis_clients

logger = logging.getLogger(__name__)

Entry = tuple[int, str]  # (seq, the message object encoded as JSON)


class HistoryCache(Protocol):
    """The latest messages of each room by seq; readers prove a range gapless before use."""

    async def tail(self, room_id: int, count: int) -> list[Entry]:
        """The newest ``count`` entries, ascending (fewer if the cache holds fewer)."""

    async def after(self, room_id: int, seq: int, count: int) -> tuple[list[Entry], int | None]:
        """Entries with seq > ``seq`` (ascending, at most ``count``), and the cache's lowest seq."""

    async def before(self, room_id: int, seq: int, count: int) -> tuple[list[Entry], int | None]:
        """The newest ``count`` entries with seq < ``seq``, and the cache's lowest seq."""

    async def tails(
        self, seqs: dict[int, int], count: int
    ) -> dict[int, tuple[list[Entry], Entry | None]]:
        """For each room id in ``seqs``: its entries with seq > ``seqs[room_id]``
        (ascending, at most ``count``) and its newest entry (None when empty)."""

    async def add(self, room_id: int, entries: list[Entry]) -> None:
        """Add entries, keeping the newest ``CHAT_CACHE_MESSAGES`` (holes allowed)."""

    async def add_many(self, rooms: dict[int, list[Entry]]) -> None:
        """``add`` for several rooms at once (a publish batch: one round trip in Redis)."""

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

    async def tails(
        self, seqs: dict[int, int], count: int
    ) -> dict[int, tuple[list[Entry], Entry | None]]:
        answers = {}
        for room_id, seq in seqs.items():
            entries = self._sorted(room_id)
            after = [e for e in entries if e[0] > seq][:count]
            answers[room_id] = (after, entries[-1] if entries else None)
        return answers

    async def add(self, room_id: int, entries: list[Entry]) -> None:
        room = self._rooms.setdefault(room_id, {})
        for seq, text in entries:
            room.setdefault(seq, text)
        limit = chat_settings().cache_messages
        if len(room) > limit:
            keep = sorted(room)[-limit:]
            self._rooms[room_id] = {seq: room[seq] for seq in keep}

    async def add_many(self, rooms: dict[int, list[Entry]]) -> None:
        for room_id, entries in rooms.items():
            await self.add(room_id, entries)

    async def replace(self, room_id: int, entry: Entry) -> None:
        room = self._rooms.get(room_id)
        if room and (entry[0] in room or entry[0] > max(room)):
            room[entry[0]] = entry[1]

    async def clear(self, room_id: int) -> None:
        self._rooms.pop(room_id, None)


# Adds entries not cached yet (a tombstone that got there first stays) to each room
# of a batch and keeps its newest ARGV[1]. After ARGV[1], each key of KEYS has its
# number of entries, then that many (seq, json) pairs. Several processes add their own
# messages, so seq 31 may arrive after 32: holes are allowed here (an earlier
# version dropped everything below a hole, and two busy processes kept emptying
# the cache); readers only answer from a gapless run they can see.
_ADD_SCRIPT = """
local keep = tonumber(ARGV[1])
local a = 2
for k = 1, #KEYS do
  local key = KEYS[k]
  local last = a + 2 * tonumber(ARGV[a])
  for i = a + 1, last, 2 do
    if redis.call('ZCOUNT', key, ARGV[i], ARGV[i]) == 0 then
      redis.call('ZADD', key, ARGV[i], ARGV[i + 1])
    end
  end
  a = last + 1
  local n = redis.call('ZCARD', key)
  if n > keep then
    redis.call('ZREMRANGEBYRANK', key, 0, n - keep - 1)
  end
  redis.call('EXPIRE', key, 604800)
end
return #KEYS
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


class RedisHistoryCache(redis_clients.OnRunningLoop):
    """The cache in Redis: one sorted set per room, scored by seq."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._add = self.redis.register_script(_ADD_SCRIPT)
        self._replace = self.redis.register_script(_REPLACE_SCRIPT)

    @staticmethod
    def key(room_id: int) -> str:
        return f"chat:v1:room:{room_id}:recent"

    @staticmethod
    def _entries(rows) -> list[Entry]:
        return [(int(score), member.decode()) for member, score in rows]

    async def tail(self, room_id: int, count: int) -> list[Entry]:
        rows = await self.redis.zrange(self.key(room_id), -count, -1, withscores=True)
        return self._entries(rows)

    async def after(self, room_id: int, seq: int, count: int) -> tuple[list[Entry], int | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(
                self.key(room_id), f"({seq}", "+inf", start=0, num=count, withscores=True
            )
            pipe.zrange(self.key(room_id), 0, 0, withscores=True)
            rows, lowest = await pipe.execute()
        return self._entries(rows), (int(lowest[0][1]) if lowest else None)

    async def before(self, room_id: int, seq: int, count: int) -> tuple[list[Entry], int | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrevrangebyscore(
                self.key(room_id), f"({seq}", "-inf", start=0, num=count, withscores=True
            )
            pipe.zrange(self.key(room_id), 0, 0, withscores=True)
            rows, lowest = await pipe.execute()
        entries = self._entries(rows)
        entries.reverse()
        return entries, (int(lowest[0][1]) if lowest else None)

    async def tails(
        self, seqs: dict[int, int], count: int
    ) -> dict[int, tuple[list[Entry], Entry | None]]:
        # Every room of a process in one pipeline: the hub's tail check of a hundred
        # rooms was two round trips per room every few seconds (issue 17).
        async with self.redis.pipeline(transaction=False) as pipe:
            for room_id, seq in seqs.items():
                key = self.key(room_id)
                pipe.zrangebyscore(key, f"({seq}", "+inf", start=0, num=count, withscores=True)
                pipe.zrange(key, -1, -1, withscores=True)
            found = await pipe.execute()
        answers = {}
        for index, room_id in enumerate(seqs):
            after, newest = found[2 * index], self._entries(found[2 * index + 1])
            answers[room_id] = (self._entries(after), newest[0] if newest else None)
        return answers

    async def add(self, room_id: int, entries: list[Entry]) -> None:
        await self.add_many({room_id: entries})

    async def add_many(self, rooms: dict[int, list[Entry]]) -> None:
        # One script run for every room of the batch: a pipeline of one EVALSHA per
        # room (itself once a round trip per room) still cost the event loop a
        # command to pack and a reply to parse per room, nearly one per message at a
        # thousand messages a second over a hundred rooms (issue 17). redis-py's
        # Script loads it again after a Redis restart (NOSCRIPT) and retries.
        keys: list[str] = []
        args: list = [chat_settings().cache_messages]
        for room_id, entries in rooms.items():
            keys.append(self.key(room_id))
            args.append(len(entries))
            for seq, text in entries:
                args += [seq, text]
        if keys:
            await self._add(keys=keys, args=args, client=self.redis)

    async def replace(self, room_id: int, entry: Entry) -> None:
        await self._replace(keys=[self.key(room_id)], args=[entry[0], entry[1]], client=self.redis)

    async def clear(self, room_id: int) -> None:
        await self.redis.delete(self.key(room_id))


def cache() -> HistoryCache:
    """The cache of this mode (one per process, created on first use)."""
    return backends.backend("history", local=LocalHistoryCache, redis=RedisHistoryCache)


async def _safe(call, default):
    try:
        return await call
    except (RedisError, OSError) as exc:
        logger.warning("history cache unavailable: %s", exc)
        return default


async def remember(room_id: int, entries: list[Entry]) -> None:
    """Put committed messages in the cache (best effort: the database has them)."""
    await _safe(cache().add(room_id, entries), None)


async def remember_many(rooms: dict[int, list[Entry]]) -> None:
    """``remember`` for the rooms of a publish batch at once."""
    await _safe(cache().add_many(rooms), None)


async def replace(room_id: int, entry: Entry) -> None:
    """Put a message's tombstone (or restored body) in place of its cached entry."""
    await _safe(cache().replace(room_id, entry), None)


async def read(call, default):
    """Await a cache read; ``default`` when the cache is unavailable (logged, never raised)."""
    return await _safe(call, default)


def reset() -> None:
    """Forget the cache objects (tests: a new event loop needs new Redis connections)."""
    backends.reset("history")
