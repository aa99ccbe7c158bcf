"""Who is online in each room, across tabs and processes.

``join`` reports a user's first connection to a room and ``leave`` the last one,
counted over every process; the connection count per user enforces
``CHAT_MAX_CONNECTIONS_PER_USER``. Process memory in embedded mode; Redis in Redis
mode, where each process's connections are held under a lease it renews, so the
users of a process that died leave when the lease runs out.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Protocol

from .conf import chat_settings
from .errors import ChatError, ErrorCode
from .protocol import Names

logger = logging.getLogger(__name__)


class Unavailable(ChatError):
    """The presence store (Redis) did not answer: the connection cannot be counted.

    The consumer refuses the connection with 1011 and one log line; the client
    retries with backoff.
    """

    def __init__(self, detail: str = "presence is unavailable; reconnect shortly") -> None:
        super().__init__(ErrorCode.SERVER_ERROR, detail, retry_after=1.0)


@dataclass(frozen=True, slots=True)
class Arrival:
    """The result of registering a connection."""

    accepted: bool  # False: the user is over the connection limit; nothing was registered
    first_in_room: bool


class Presence(Protocol):
    async def arrive(self, *, room_id: int, user_id: int, username: str, limit: int) -> Arrival:
        """Register a connection; refuse it when the user already has ``limit`` connections."""

    async def depart(self, *, room_id: int, user_id: int) -> bool:
        """Unregister a connection; True when it was the user's last one in the room."""

    async def online(self, room_id: int) -> Names:
        """Usernames with at least one connection to the room, sorted."""

    async def online_counts(self, room_ids: list[int]) -> dict[int, int]:
        """Number of online users per room."""

    async def retire(self) -> None:
        """Withdraw this process's remaining connections (graceful shutdown)."""


class LocalPresence:
    """Embedded mode: one process holds every connection."""

    def __init__(self) -> None:
        self._rooms: dict[int, Counter[int]] = defaultdict(Counter)
        self._names: dict[int, str] = {}
        self._per_user: Counter[int] = Counter()

    async def arrive(self, *, room_id: int, user_id: int, username: str, limit: int) -> Arrival:
        if self._per_user[user_id] >= limit:
            return Arrival(accepted=False, first_in_room=False)
        self._per_user[user_id] += 1
        self._names[user_id] = username
        room = self._rooms[room_id]
        room[user_id] += 1
        return Arrival(accepted=True, first_in_room=room[user_id] == 1)

    async def depart(self, *, room_id: int, user_id: int) -> bool:
        room = self._rooms.get(room_id)
        if not room or room[user_id] <= 0:
            return False
        room[user_id] -= 1
        self._per_user[user_id] -= 1
        if self._per_user[user_id] <= 0:
            del self._per_user[user_id]
        if room[user_id] == 0:
            del room[user_id]
            if not room:
                del self._rooms[room_id]
            return True
        return False

    async def online(self, room_id: int) -> Names:
        return Names(sorted(self._names[user_id] for user_id in self._rooms.get(room_id, ())))

    async def online_counts(self, room_ids: list[int]) -> dict[int, int]:
        return {room_id: len(self._rooms.get(room_id, ())) for room_id in room_ids}

    async def retire(self) -> None:
        # Process memory dies with the process: nothing to withdraw.
        return None


_backends: dict[str, Presence] = {}


def presence() -> Presence:
    """The presence backend of this mode (one per process)."""
    url = chat_settings().redis_url
    if url not in _backends:
        if url:
            from .presence_redis import RedisPresence

            _backends[url] = RedisPresence(url)
        else:
            _backends[url] = LocalPresence()
    return _backends[url]


def reset() -> None:
    """Forget backends (tests: each event loop needs its own Redis connections)."""
    for backend in _backends.values():
        stop = getattr(backend, "stop", None)
        if stop is not None:
            stop()
    _backends.clear()
