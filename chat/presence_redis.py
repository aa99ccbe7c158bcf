"""Presence in Redis, shared by every process (see ``chat.presence``).

Counts live in three places, changed together by one script so they never
disagree: the room's ``user -> connections`` hash, the user's connection count
(for the per-user cap), and this process's own ``room:user -> connections`` hash,
which is what a sweeper subtracts when this process dies without cleaning up.
"""

from __future__ import annotations

import logging
import os
import uuid

from redis import asyncio as aioredis

from .presence import Arrival

logger = logging.getLogger(__name__)

PREFIX = "chat:v1:presence"

# KEYS: room hash, user counter, process hash, names hash
# ARGV: user_id, limit, field ("room:user"), username
_ARRIVE = """
local total = tonumber(redis.call('GET', KEYS[2]) or '0')
if total >= tonumber(ARGV[2]) then return {0, 0} end
redis.call('INCR', KEYS[2])
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
redis.call('HSET', KEYS[4], ARGV[1], ARGV[4])
local in_room = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return {1, in_room == 1 and 1 or 0}
"""

# KEYS: room hash, user counter, process hash; ARGV: user_id, field
_DEPART = """
local mine = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
if mine <= 0 then return 0 end
if mine == 1 then redis.call('HDEL', KEYS[3], ARGV[2]) else redis.call('HINCRBY', KEYS[3], ARGV[2], -1) end
if tonumber(redis.call('DECR', KEYS[2])) <= 0 then redis.call('DEL', KEYS[2]) end
local left = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if left <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) return 1 end
return 0
"""


def room_key(room_id: int) -> str:
    return f"{PREFIX}:room:{room_id}"


def user_key(user_id: int) -> str:
    return f"{PREFIX}:user:{user_id}"


def process_key(process_id: str) -> str:
    return f"{PREFIX}:process:{process_id}"


NAMES_KEY = f"{PREFIX}:names"


class RedisPresence:
    def __init__(self, url: str) -> None:
        self.redis = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.process_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._arrive = self.redis.register_script(_ARRIVE)
        self._depart = self.redis.register_script(_DEPART)

    async def arrive(self, *, room_id: int, user_id: int, username: str, limit: int) -> Arrival:
        accepted, first = await self._arrive(
            keys=[room_key(room_id), user_key(user_id), process_key(self.process_id), NAMES_KEY],
            args=[user_id, limit, f"{room_id}:{user_id}", username],
        )
        return Arrival(accepted=bool(accepted), first_in_room=bool(first))

    async def depart(self, *, room_id: int, user_id: int) -> bool:
        last = await self._depart(
            keys=[room_key(room_id), user_key(user_id), process_key(self.process_id)],
            args=[user_id, f"{room_id}:{user_id}"],
        )
        return bool(last)

    async def online(self, room_id: int) -> list[str]:
        user_ids = await self.redis.hkeys(room_key(room_id))
        if not user_ids:
            return []
        names = await self.redis.hmget(NAMES_KEY, user_ids)
        return sorted(name.decode() for name in names if name is not None)

    async def online_counts(self, room_ids: list[int]) -> dict[int, int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.hlen(room_key(room_id))
            counts = await pipe.execute()
        return dict(zip(room_ids, counts, strict=True))
