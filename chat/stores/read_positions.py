"""Read positions between database writes: how far each user read each room, right now.

A reading client says ``read`` about once a second per tab; writing each of those
to the database would cost a write per user per room per second (and, were it done
per delivered message, one per message per reader). Here a position only ever
moves forward (the highest ``seq`` seen wins, whichever tab or process said it),
and this process's database write of a (user, room) waits until ``FLUSH_INTERVAL``
after its first unsaved advance, so many reads make one write. ``take_due`` hands
the realtime layer what to write (``chat.unread.save_read_positions``); a closing
connection's is made due at once (``make_due``).

Embedded mode keeps the positions in process memory. Redis mode also keeps the
highest position in a hash per user (``chat:v1:read:<user id>``), so a page opened
on another process sees a read from a moment ago before it reached the database.
A crash loses at most the last ``FLUSH_INTERVAL`` of unsaved progress. Never
raises on Redis trouble: the database is the truth, only a little older.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from redis.exceptions import RedisError

from chat.stores import backends, redis_clients

logger = logging.getLogger(__name__)

# Seconds between a position's first unsaved advance and its database write: the
# issue's "at most every few seconds per user and room".
FLUSH_INTERVAL = 2.0
# Redis forgets a user's positions this long after their last read (the database has them).
REDIS_TTL = 24 * 3600

Position = tuple[int, int, int]  # user id, room id, seq


class _Pending:
    """This process's advances not yet in the database: one entry per (user, room)."""

    def __init__(self) -> None:
        self.seqs: dict[tuple[int, int], int] = {}
        self.since: dict[tuple[int, int], float] = {}  # first unsaved advance (monotonic)

    def note(self, user_id: int, room_id: int, seq: int) -> None:
        key = (user_id, room_id)
        if seq > self.seqs.get(key, -1):
            self.seqs[key] = seq
        self.since.setdefault(key, time.monotonic())

    def make_due(self, user_id: int, room_id: int) -> bool:
        """Let the next ``take_due`` take this position whatever its age; False: none."""
        key = (user_id, room_id)
        if key not in self.seqs:
            return False
        self.since[key] = float("-inf")
        return True

    def take_due(self, now: float | None = None) -> list[Position]:
        now = time.monotonic() if now is None else now
        due = [key for key, since in self.since.items() if now - since >= FLUSH_INTERVAL]
        return [self._pop(key) for key in due]

    def take(self, user_id: int, room_id: int | None = None) -> list[Position]:
        keys = [k for k in self.seqs if k[0] == user_id and room_id in (None, k[1])]
        return [self._pop(key) for key in keys]

    def take_all(self) -> list[Position]:
        return [self._pop(key) for key in list(self.seqs)]

    def _pop(self, key: tuple[int, int]) -> Position:
        self.since.pop(key, None)
        return (key[0], key[1], self.seqs.pop(key))


class LocalReadPositions:
    """Embedded mode: positions in this process's memory."""

    def __init__(self) -> None:
        self.pending = _Pending()
        self._seqs: dict[tuple[int, int], int] = {}

    async def advance(self, user_id: int, room_id: int, seq: int, *, shared: bool = True) -> bool:
        """Raise the position to ``seq``; False (nothing changed) when it was there already.

        (``shared`` matters only in Redis mode.)
        """
        key = (user_id, room_id)
        if seq <= self._seqs.get(key, -1):
            return False
        if len(self._seqs) > 200_000:
            # Memory bound: forget saved positions (the database has them).
            self._seqs = {k: v for k, v in self._seqs.items() if k in self.pending.seqs}
        self._seqs[key] = seq
        self.pending.note(user_id, room_id, seq)
        return True

    async def known(self, user_id: int, room_ids: Iterable[int]) -> dict[int, int]:
        """The positions held here for ``user_id`` in ``room_ids`` (possibly newer than the database)."""
        return {r: self._seqs[(user_id, r)] for r in room_ids if (user_id, r) in self._seqs}


# KEYS[1] the user's hash, ARGV room id, seq, ttl: raise the field to seq; 1 when raised.
_ADVANCE = """
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if tonumber(ARGV[2]) <= old then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


class RedisReadPositions(redis_clients.OnRunningLoop):
    """Redis mode: the highest position of every process, in one hash per user."""

    def __init__(self, url: str) -> None:
        self.pending = _Pending()
        self.url = url
        self._advance = self.redis.register_script(_ADVANCE)

    @staticmethod
    def key(user_id: int) -> str:
        return f"chat:v1:read:{user_id}"

    async def advance(self, user_id: int, room_id: int, seq: int, *, shared: bool = True) -> bool:
        """Raise the position to ``seq`` on every process; False when it was there already.

        Without ``shared`` (a post: one a second from every writer) only on its way to
        the database, no Redis call. With Redis away the advance still counts here.
        """
        if not shared:
            raised = seq > self.pending.seqs.get((user_id, room_id), -1)
            if raised:
                self.pending.note(user_id, room_id, seq)
            return raised
        try:
            raised = await self._advance(
                keys=[self.key(user_id)], args=[room_id, seq, REDIS_TTL], client=self.redis
            )
        except (RedisError, OSError) as exc:
            logger.warning("read position store unavailable user=%s: %r", user_id, exc)
            raised = seq > self.pending.seqs.get((user_id, room_id), -1)
        if raised:
            self.pending.note(user_id, room_id, seq)
        return bool(raised)

    async def known(self, user_id: int, room_ids: Iterable[int]) -> dict[int, int]:
        """The positions Redis holds for ``user_id`` in ``room_ids`` ({} when Redis fails)."""
        room_ids = list(room_ids)
        if not room_ids:
            return {}
        try:
            values = await self.redis.hmget(self.key(user_id), room_ids)
        except (RedisError, OSError) as exc:
            logger.warning("read position store unavailable user=%s: %r", user_id, exc)
            return {}
        return {r: int(v) for r, v in zip(room_ids, values, strict=True) if v is not None}


def read_positions() -> LocalReadPositions | RedisReadPositions:
    """The store of the configured mode."""
    return backends.backend("read_positions", local=LocalReadPositions, redis=RedisReadPositions)
