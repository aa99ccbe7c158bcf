"""Live sidebars: this process's ``/ws/me/`` sockets, the rooms they watch, and their news.

The hub owns one ``Watchers``. While a user has a sidebar socket here, the hub is in
the user's layer group (``read`` events: a position moved in another tab); while a
sidebar here watches a room, the hub is in the room's watch group (``activity``
events). Both are registered in the peer registry like room groups, so publishers
send them only to processes that need them.

Activity is coalesced per room: at most one frame per ``ACTIVITY_INTERVAL`` to each
watching socket, however busy the room, each saying how many new messages by others
and how many mentions of the socket's user arrived since the last one; followed by a
``read`` frame for the author of the newest message (posting reads the room).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Protocol

from chat.events import activity, peers
from chat.events.outbound import CONTROL_GROUP, Outbound
from chat.events.publisher import publish_soon
from chat.wire import protocol

logger = logging.getLogger(__name__)

# At most one activity frame per room per socket this often (seconds).
ACTIVITY_INTERVAL = 1.0


class SidebarConnection(Protocol):
    """What the watchers need of a ``/ws/me/`` consumer."""

    user_id: int
    username: str
    watching: dict[int, str]  # room id -> slug

    async def deliver_sidebar(self, text: str) -> None: ...


class RoomWatch:
    """The sockets of this process watching one room, and its news not yet sent."""

    def __init__(self, watchers: Watchers, room_id: int) -> None:
        self.watchers = watchers
        self.room_id = room_id
        self.connections: set[SidebarConnection] = set()
        self.seq = 0
        self.slug = ""
        self.count = 0
        self.authors: dict[str, int] = {}
        self.mentions: dict[str, int] = {}
        self.room_mentions = 0
        self.last_user: str | None = None
        self.sent_at = 0.0
        self.timer: asyncio.TimerHandle | None = None

    def add(self, event: dict[str, Any]) -> None:
        """Take an ``activity`` event in; send now, or once the interval has passed."""
        if event["seq"] <= self.seq:
            return  # an older batch arriving late: its news is in what was sent
        self.seq = event["seq"]
        self.last_user = event.get("last_user")
        self.slug = event.get("slug") or self.slug
        self.count += event.get("count", 0)
        for name, n in event.get("authors", {}).items():
            self.authors[name] = self.authors.get(name, 0) + n
        for name, n in event.get("mentions", {}).items():
            self.mentions[name] = self.mentions.get(name, 0) + n
        self.room_mentions += event.get("room_mentions", 0)
        if self.timer is not None:
            return
        wait = self.sent_at + ACTIVITY_INTERVAL - time.monotonic()
        loop = asyncio.get_running_loop()
        if wait <= 0:
            loop.create_task(self.send())
        else:
            self.timer = loop.call_later(wait, lambda: loop.create_task(self.send()))

    async def send(self) -> None:
        """One frame per socket with the news gathered since the last."""
        self.timer = None
        if not self.count:
            return
        self.sent_at = time.monotonic()
        count, authors, mentions, room_mentions = (
            self.count,
            self.authors,
            self.mentions,
            self.room_mentions,
        )
        self.count, self.authors, self.mentions, self.room_mentions = 0, {}, {}, 0
        frames: dict[tuple[int, int], str] = {}  # built once per (new, mentions)
        for connection in list(self.connections):
            name = connection.username
            key = (count - authors.get(name, 0), mentions.get(name, 0) + room_mentions)
            frame = frames.get(key)
            if frame is None:
                frame = frames[key] = protocol.activity_frame(
                    room=connection.watching.get(self.room_id, self.slug),
                    seq=self.seq,
                    new=key[0],
                    mentions=key[1],
                )
            try:
                await connection.deliver_sidebar(frame)
                if name == self.last_user:
                    # Their own message is the newest: they have read the room up to it.
                    await connection.deliver_sidebar(
                        protocol.read_frame(
                            room=connection.watching.get(self.room_id, self.slug), seq=self.seq
                        )
                    )
            except Exception:
                logger.exception("activity delivery failed room=%s", self.room_id)

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class Watchers:
    """This process's sidebar sockets by user, and the rooms they watch."""

    def __init__(self, hub) -> None:
        self.hub = hub
        self.users: dict[int, set[SidebarConnection]] = {}
        # Room id -> watch; the publisher reads its keys (``Publisher.watched``).
        self.rooms: dict[int, RoomWatch] = {}

    async def add(self, connection: SidebarConnection) -> None:
        """Start serving a sidebar socket: its user's reads and its rooms' activity."""
        users = self.users.setdefault(connection.user_id, set())
        users.add(connection)
        if len(users) == 1:
            await self._enter(activity.user_group(connection.user_id))
        for room_id in list(connection.watching):
            await self.watch(connection, room_id, connection.watching[room_id])

    async def watch(self, connection: SidebarConnection, room_id: int, slug: str) -> None:
        """Send ``connection`` the activity of ``room_id`` from now on."""
        connection.watching[room_id] = slug
        watch = self.rooms.get(room_id)
        if watch is None:
            watch = self.rooms[room_id] = RoomWatch(self, room_id)
            watch.slug = slug
            await self._enter(activity.watch_group(room_id))
        watch.connections.add(connection)

    async def remove(self, connection: SidebarConnection) -> None:
        """Stop serving a sidebar socket (it closed)."""
        users = self.users.get(connection.user_id, set())
        users.discard(connection)
        if not users and self.users.pop(connection.user_id, None) is not None:
            await self._leave(activity.user_group(connection.user_id))
        for room_id in list(connection.watching):
            watch = self.rooms.get(room_id)
            if watch is None:
                continue
            watch.connections.discard(connection)
            if not watch.connections:
                watch.stop()
                del self.rooms[room_id]
                await self._leave(activity.watch_group(room_id))

    def groups(self) -> list[str]:
        """The layer groups this process is in for its sidebars (renewed by the hub)."""
        return [activity.user_group(u) for u in self.users] + [
            activity.watch_group(r) for r in self.rooms
        ]

    async def dispatch(self, event: dict[str, Any]) -> None:
        """An ``activity`` or ``read`` event from a publisher (this process's or another's)."""
        if event["kind"] == "activity":
            watch = self.rooms.get(event["room"])
            if watch is not None:
                watch.add(event)
            return
        frame = protocol.read_frame(room=event["slug"], seq=event["seq"])
        for connection in list(self.users.get(event["user"], ())):
            if event["room"] not in connection.watching:
                # A room opened for the first time joins the sidebar.
                await self.watch(connection, event["room"], event["slug"])
            try:
                await connection.deliver_sidebar(frame)
            except Exception:
                logger.exception("read delivery failed user=%s", event["user"])

    async def _enter(self, group: str) -> None:
        """Join ``group`` and tell the other processes to read its members again."""
        hub = self.hub
        await hub._add_group(group)
        if await peers.enter(group, hub.channel) is None:
            hub.troubled()
        # Like a room's ``peer`` announcement, without waiting for answers: a sidebar
        # missing a second of news gets it from its next event or read.
        publish_soon(
            Outbound(
                group=CONTROL_GROUP,
                event={
                    "type": "chat.event",
                    "kind": "peer",
                    "group": group,
                    "channel": hub.channel,
                },
            )
        )

    async def _leave(self, group: str) -> None:
        with contextlib.suppress(Exception):
            await self.hub.layer.group_discard(group, self.hub.channel)
        await peers.unregister(group, self.hub.channel)
