"""Who is online in each room, across tabs and processes.

``arrive`` tells whether a connection is the user's first in the room
(``Arrival.first_in_room``: announce a join) and ``depart`` whether it was the last
(announce a leave), counted over every process; the connection count per user enforces
``CHAT_MAX_CONNECTIONS_PER_USER`` (room sockets) and, for the sidebar sockets that
register in the pseudo-room ``SIDEBAR``, ``CHAT_MAX_SIDEBAR_CONNECTIONS_PER_USER``. Process memory in embedded mode; Redis in Redis
mode, where each process's connections are held under a lease it renews, so the
users of a process that died leave when the lease runs out.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict

from chat.stores import backends
from chat.stores.presence_redis import RedisPresence
from chat.stores.presence_types import (
    SIDEBAR,
    Arrival,
    Arriving,
    LeaveListener,
    Presence,
    Unavailable,
)
from chat.wire.protocol import Names

__all__ = [
    "SIDEBAR",
    "Arrival",
    "Arriving",
    "LocalPresence",
    "Presence",
    "Unavailable",
    "presence",
    "reset",
]

logger = logging.getLogger(__name__)


class LocalPresence:
    """Embedded mode: one process holds every connection."""

    def __init__(self) -> None:
        self.on_leave: LeaveListener | None = None  # nothing outlives a local connection
        self._rooms: dict[int, Counter[int]] = defaultdict(Counter)
        self._names: dict[int, str] = {}
        # (user, is a sidebar socket) -> connections: the two caps count apart.
        self._per_user: Counter[tuple[int, bool]] = Counter()

    async def arrive(self, *, room_id: int, user_id: int, username: str, limit: int) -> Arrival:
        kind = (user_id, room_id == SIDEBAR)
        if self._per_user[kind] >= limit:
            return Arrival(accepted=False, first_in_room=False)
        self._per_user[kind] += 1
        self._names[user_id] = username
        room = self._rooms[room_id]
        room[user_id] += 1
        return Arrival(accepted=True, first_in_room=room[user_id] == 1)

    async def arrive_many(self, arrivals: list[Arriving]) -> list[Arrival]:
        return [
            await self.arrive(
                room_id=a.room_id, user_id=a.user_id, username=a.username, limit=a.limit
            )
            for a in arrivals
        ]

    async def depart(self, *, room_id: int, user_id: int) -> bool:
        room = self._rooms.get(room_id)
        if not room or room[user_id] <= 0:
            return False
        room[user_id] -= 1
        kind = (user_id, room_id == SIDEBAR)
        self._per_user[kind] -= 1
        if self._per_user[kind] <= 0:
            del self._per_user[kind]
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


def presence() -> Presence:
    """The presence backend of this mode (one per process)."""
    return backends.backend("presence", local=LocalPresence, redis=RedisPresence)


def reset() -> None:
    """Stop and forget the presence backends (tests: each loop needs its own connections)."""
    backends.reset("presence")
