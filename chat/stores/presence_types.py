"""What every presence backend is: its interface and the results it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from chat.wire.errors import ChatError, ErrorCode
from chat.wire.protocol import Names

# Told of a user whose last connection to a room went away without a consumer to
# say so (a process that died, a repair, a shutdown): ``(room_id, username)``.
LeaveListener = Callable[[int, str], None]

# The "room" a sidebar socket (``/ws/me/``) registers in: no real room has id 0. Its
# connections count against the user's sidebar cap (``CHAT_MAX_SIDEBAR_CONNECTIONS_PER_USER``),
# apart from the room sockets' cap, and are crash-safe like them; nobody is ever told
# of a join or leave there.
SIDEBAR = 0


class Unavailable(ChatError):
    """The presence store (Redis) did not answer: the connection cannot be counted.

    The consumer refuses the connection with 1011 and one log line; the client
    retries with backoff.
    """

    def __init__(self, detail: str = "presence is unavailable; reconnect shortly") -> None:
        super().__init__(ErrorCode.SERVER_ERROR, detail, retry_after=1.0)


@dataclass(frozen=True, slots=True)
class Arriving:
    """A connection to register: whose, where (``SIDEBAR`` for ``/ws/me/``), and the
    user's connection limit of that kind."""

    room_id: int
    user_id: int
    username: str
    limit: int


@dataclass(frozen=True, slots=True)
class Arrival:
    """The result of registering a connection."""

    accepted: bool  # False: the user is over the connection limit; nothing was registered
    first_in_room: bool


class Presence(Protocol):
    async def arrive(self, *, room_id: int, user_id: int, username: str, limit: int) -> Arrival:
        """Register a connection; refuse it when the user already has ``limit`` connections
        of its kind (room sockets, or sidebar sockets for ``room_id=SIDEBAR``)."""

    async def arrive_many(self, arrivals: list[Arriving]) -> list[Arrival]:
        """``arrive`` for a crowd, in order, in one trip: one ``Arrival`` per ``Arriving``."""

    async def depart(self, *, room_id: int, user_id: int) -> bool:
        """Unregister a connection; True when it was the user's last one in the room."""

    async def online(self, room_id: int) -> Names:
        """Usernames with at least one connection to the room, sorted."""

    async def online_counts(self, room_ids: list[int]) -> dict[int, int]:
        """Number of online users per room."""

    async def retire(self) -> None:
        """Withdraw this process's remaining connections (graceful shutdown)."""

    on_leave: LeaveListener | None
