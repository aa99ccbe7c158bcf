"""Local fan-out: one layer channel per process, events delivered to its connections.

The Channels tutorial gives every connection its own layer channel and group
membership, so each broadcast costs Redis work per member and a consumer wake-up
(with a database thread hop) per member. Here a process joins a room's group once,
and the hub hands each event's pre-encoded text to the room's local connections.

Room messages are delivered in ``seq`` order with no gaps: an event that arrives
ahead of a missing one waits briefly for it (two processes may publish out of
order), then the gap is filled from history, because the layer may have lost it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from chat import history, metrics, selectors
from chat.events import layer_slots, outbound, peers
from chat.events.outbound import CONTROL_GROUP, room_group
from chat.events.publisher import Publisher, publish_soon
from chat.models import Room
from chat.realtime.internals import channels_redis_layer
from chat.realtime.room_batch import Batched, WindowFrames
from chat.realtime.socket import Frame
from chat.realtime.watchers import Watchers
from chat.stores import presence
from chat.stores.history_cache import Entry
from chat.wire import protocol
from chat.wire.errors import CloseCode, Refusal

logger = logging.getLogger(__name__)

# Presence and typing frames of a room are written together, one write per connection
# per window, not one per arrival. Each window costs a write to every member, so the
# window grows with the room (per local member) up to a limit: a crowd of 1,000
# arriving at once costs ~4,000 writes a second, not 20,000 (scenario 5 of the
# benchmark spent 40 % of a core on them with a fixed 50 ms window).
BATCH_WINDOW = 0.05
BATCH_WINDOW_PER_MEMBER = 0.00025
BATCH_WINDOW_MAX = 0.5
# A fan-out lets the event loop run after every this many connections: written in one
# go, a 1,000-member room's message kept the loop from everything else for ~15 ms,
# the sender's next message included (scenario 1 of the benchmark).
FANOUT_SLICE = 100
# How long an out-of-order message waits for the ones before it before we fetch them.
REORDER_WAIT = 0.2
# Group memberships and this process's entries in the peer registry (chat.events.peers)
# are re-asserted this often: a flushed or restarted Redis forgets them,
# and the tail of a room is checked against the cache, in case the layer dropped the last
# broadcast of a burst (nothing newer would reveal the gap).
REFRESH_INTERVAL = 3.0
# After Redis failed (it may have lost broadcasts and cached messages alike), tail
# checks ask the database for this long.
TROUBLE_WINDOW = 30.0
# Token connections are checked against the database, so that a revocation the layer
# did not bring (another process in embedded mode, e.g. ``chat_token --revoke``, or a
# lost event) still closes them within a second: every TOKEN_CHECK_INTERVAL one indexed
# query asks which tokens were revoked or expired lately, whatever the number of
# connections. Every TOKEN_SWEEP_INTERVAL all of the process's tokens are checked in
# full (deleted, of a deactivated user, revoked_at edited to the past). Checking every
# token in full twice a second cost 16,000 idle connections a quarter of a core.
TOKEN_CHECK_INTERVAL = 0.5
TOKEN_SWEEP_INTERVAL = 10.0
RECENTLY_ENDED = 60.0  # how far back the quick check looks: slow commits, clock skew
# Ids per query (and per trip to the database thread, which the messages' commits
# share): 500 held it ~35 ms on a busy SQLite process, a step in scenario 3's p99.
TOKEN_CHECK_CHUNK = 100


class TokenConnections:
    """This process's connections by token id, for closing them when the token ends.

    A token holds its one connection itself (most tokens have one), a set only from
    the second on: a set per token was 216 bytes of every token connection.
    """

    __slots__ = ("_by_id",)

    def __init__(self) -> None:
        self._by_id: dict[int, object] = {}

    def add(self, token_id: int, connection) -> None:
        held = self._by_id.get(token_id)
        if held is None:
            self._by_id[token_id] = connection
        elif isinstance(held, set):
            held.add(connection)
        elif held is not connection:
            self._by_id[token_id] = {held, connection}

    def discard(self, token_id: int, connection) -> None:
        held = self._by_id.get(token_id)
        if held is connection:
            del self._by_id[token_id]
        elif isinstance(held, set):
            held.discard(connection)
            if len(held) == 1:
                self._by_id[token_id] = next(iter(held))

    def get(self, token_id: int) -> list:
        """The token's connections (a new list)."""
        held = self._by_id.get(token_id)
        if held is None:
            return []
        return list(held) if isinstance(held, set) else [held]

    def keys(self):
        """The token ids with connections (a view)."""
        return self._by_id.keys()

    def __iter__(self):
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)


class Connection(Protocol):
    """What the hub needs of a consumer."""

    user_id: int
    token_id: int | None
    session_id: str | None  # services.session_digest of the session it was opened with
    batch_floor: int  # the first batched frame of its room it should get
    version: int  # the protocol version in effect (chat.wire.versions)

    async def deliver_message(self, seq: int, frame: Frame) -> None: ...

    def deliver_now(self, messages: list[tuple[int, Frame]]) -> bool: ...

    def frames_now(self, frames: list[Frame]) -> bool: ...

    async def deliver_frame(self, frame: Frame) -> None: ...

    async def deliver_frames(self, frames: list[Frame]) -> None: ...

    async def close(self, code: int, text: str | None = None) -> None: ...

    def room_changed(self, info: dict[str, Any]) -> None: ...


class RoomFanout:
    """The local connections of one room, and the seq order of its messages."""

    def __init__(self, hub: Hub, room: Room) -> None:
        self.hub = hub
        self.room = room
        self.connections: set[Connection] = set()
        # Highest seq delivered with no gap before it; starts at the room's newest, so
        # that a tail lost before any event reached this process is still noticed.
        self.last_seq: int | None = getattr(room, "last_seq", None)
        self.pending: dict[int, str] = {}
        self.batched: list[Batched] = []
        self.batch_count = 0
        self.flush_handle: asyncio.TimerHandle | None = None
        self.gap_task: asyncio.Task | None = None
        # The hub's registration and announcement of this room (``Hub._enter``).
        self.entered: asyncio.Task | None = None
        self.draining = asyncio.Lock()

    async def on_message(self, seq: int, text: str, sent_at: float | None = None) -> None:
        await self.on_messages([(seq, text, sent_at)])

    async def on_messages(self, messages: list[tuple[int, str, float | None]]) -> None:
        """Deliver messages ``(seq, frame text, published at)`` of this room in seq order.

        Several at once (a busy room's share of one publish batch) reach each
        connection as one socket write: a process that falls behind catches up with
        fewer system calls instead of more.
        """
        if self.last_seq is None:
            self.last_seq = messages[0][0] - 1
        for seq, text, _ in messages:
            self._add_pending(seq, text)
        await self._drain()
        if self.pending and self.gap_task is None:
            self.gap_task = asyncio.get_running_loop().create_task(self._fill_gap())
        now = time.time()
        for _, _, sent_at in messages:
            if sent_at is not None:
                metrics.DELIVERY_SECONDS.observe(max(0.0, now - sent_at))

    async def _drain(self) -> None:
        # One drain at a time: deliveries await, and a second drain running meanwhile
        # would hand later messages to some connections before earlier ones. Every
        # other write to the room's connections (``broadcast``, the batch window's
        # flush) takes the same turn, so a frame never overtakes a message that a
        # paused drain has not yet written to every connection.
        async with self.draining:
            if self.batched:  # queued presence and typing frames go first
                await self._flush()
            ready: list[tuple[int, Frame]] = []
            while self.last_seq + 1 in self.pending:
                self.last_seq += 1
                ready.append((self.last_seq, Frame(self.pending.pop(self.last_seq))))  # framed once
            if not ready:
                return
            connections = list(self.connections)
            for count, connection in enumerate(connections, 1):
                if count % FANOUT_SLICE == 0:
                    # A big room's fan-out takes milliseconds: let the loop read what
                    # came meanwhile (the next message goes to the database thread while
                    # this one is still written; it waits for this turn to be delivered).
                    await asyncio.sleep(0)
                try:
                    if not connection.deliver_now(ready):
                        for seq, frame in ready:
                            await connection.deliver_message(seq, frame)
                except Exception:
                    # One broken connection must not starve its neighbours; it
                    # reconnects with since rather than missing a message silently.
                    logger.exception("delivery failed room=%s seq=%s", self.room.pk, ready[0][0])
                    await connection.close(1011)
            metrics.DELIVERIES.inc(len(self.connections) * len(ready))

    def _add_pending(self, seq: int, text: str) -> None:
        if seq > self.last_seq:  # else delivered already (the layer and a gap fill both brought it)
            self.pending.setdefault(seq, text)

    async def _fill_gap(self) -> None:
        try:
            await asyncio.sleep(REORDER_WAIT)
            while self.pending:
                first = min(self.pending)
                missing = await history.missing(
                    room=self.room, after_seq=self.last_seq, before_seq=first
                )
                logger.warning(
                    "gap filled room=%s seqs=%s..%s", self.room.pk, self.last_seq + 1, first - 1
                )
                # Delivery went on while history was read: skip what arrived meanwhile.
                for seq, entry in missing:
                    self._add_pending(seq, protocol.message_frame_from_json(entry))
                await self._drain()
                if self.pending and min(self.pending) == first:
                    await asyncio.sleep(REORDER_WAIT)  # history not readable yet; try again
        except Exception:
            logger.exception("gap fill failed room=%s", self.room.pk)
        finally:
            self.gap_task = None

    async def check_tail(
        self, cached: tuple[list[Entry], Entry | None], *, deep: bool = False
    ) -> None:
        """Deliver messages the layer dropped at the end of a burst (nothing newer came).

        The cache shows them: ``cached`` is what ``history.cached_tails`` read for this
        room after its ``last_seq`` (the hub reads every room's at once), the run
        right after it and the newest entry; a newest entry past the run is delivered
        too (the gap before it is filled from history). Entries this room delivered
        since the read are dropped by their seq. With ``deep`` (the hub saw Redis fail
        lately, so the cache may have lost them as well) the database is asked when
        the cache has nothing; polling it always would cost more than the rare lost
        tail it finds.
        """
        if self.last_seq is None or self.gap_task is not None:
            return
        tail, newest = cached
        tail = [entry for entry in tail if entry[0] > self.last_seq]
        if tail:
            # Lost by the layer (or, rarely, still on its way: then it is a duplicate
            # the seq check drops). Counted like any other gap filled from history.
            metrics.GAP_FILLS.inc(len(tail))
            logger.warning(
                "lost tail found room=%s seqs=%s..%s", self.room.pk, tail[0][0], tail[-1][0]
            )
        for seq, entry in tail:
            await self.on_message(seq, protocol.message_frame_from_json(entry))
        if self.pending:
            return
        if newest is None and deep:
            newest = await _stored_newest(self.room)
        if newest is not None and newest[0] > self.last_seq:
            logger.warning(
                "lost tail found room=%s seqs=%s..%s", self.room.pk, self.last_seq + 1, newest[0]
            )
            await self.on_message(newest[0], protocol.message_frame_from_json(newest[1]))

    async def broadcast(
        self, text: str, *, skip_user: int | None = None, only_user: int | None = None
    ) -> None:
        async with self.draining:  # behind a drain in progress (see ``_drain``)
            if self.batched:
                await self._flush()
            frame = Frame(text)
            for connection in list(self.connections):
                if connection.user_id != skip_user and only_user in (None, connection.user_id):
                    await connection.deliver_frame(frame)

    def batch(
        self, text: str, *, skip_user: int | None = None, change: tuple[str, str] | None = None
    ) -> None:
        """Queue a presence or typing frame; queued frames go out together shortly.

        They never change places with the room's other frames: anything else sent to
        the room first flushes the queue. ``change`` is ``(join|leave, username)`` for
        presence: protocol 2 connections get a window's changes as one frame.
        """
        self.batched.append(Batched(Frame(text), skip_user, self.batch_count, change))
        self.batch_count += 1
        if self.flush_handle is None:
            loop = asyncio.get_running_loop()
            window = min(
                BATCH_WINDOW_MAX,
                max(BATCH_WINDOW, len(self.connections) * BATCH_WINDOW_PER_MEMBER),
            )
            self.flush_handle = loop.call_later(window, self._start_flush)

    def _start_flush(self) -> None:
        self.flush_handle = None
        asyncio.get_running_loop().create_task(self._flush_in_turn())

    async def _flush_in_turn(self) -> None:
        async with self.draining:  # behind a drain in progress (see ``_drain``)
            await self._flush()

    async def _flush(self) -> None:
        # Callers hold ``draining``.
        batched, self.batched = self.batched, []
        if not batched:
            return
        window = WindowFrames(batched)
        for connection in list(self.connections):
            frames = window.for_connection(
                user_id=connection.user_id,
                floor=connection.batch_floor,
                version=connection.version,
            )
            if frames:
                try:
                    if not connection.frames_now(frames):
                        await connection.deliver_frames(frames)
                except Exception:
                    logger.exception("batch delivery failed room=%s", self.room.pk)


async def _stored_newest(room: Room) -> Entry | None:
    last_seq = await database_sync_to_async(selectors.room_last_seq)(room.pk)
    if not last_seq:
        return None
    entries = await history.after(room=room, seq=last_seq - 1, count=1, last_seq=last_seq)
    return entries[-1] if entries else None


def _is_message(event: dict[str, Any]) -> bool:
    return event.get("kind") == "message"


async def _logged(call, room_id: Any) -> None:
    """Await one delivery; a failure is logged and never stops the rest of a batch."""
    try:
        await call
    except Exception:
        logger.exception("local delivery failed room=%s", room_id)


def announce(room_id: int, kind: protocol.ServerType, username: str, *, skip_user=None) -> None:
    """Tell a room that ``username`` joined or left (batched with the room's other
    presence frames)."""
    publish_soon(outbound.presence_event(room_id, kind, username, skip_user=skip_user))


def announce_leave(room_id: int, username: str) -> None:
    """Presence found a user gone without a consumer to say so (a dead process, a repair)."""
    announce(room_id, protocol.ServerType.LEAVE, username)


class Hub:
    """This process's member of the layer groups, one per event loop."""

    _hubs: dict[asyncio.AbstractEventLoop, Hub] = {}

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.rooms: dict[int, RoomFanout] = {}
        self.by_token = TokenConnections()
        self.channel: str | None = None
        self.reader: asyncio.Task | None = None
        self.refresher: asyncio.Task | None = None
        self.troubled_until = 0.0
        self.token_checker: asyncio.Task | None = None
        self.publisher: Publisher | None = None
        # The answers awaited to this hub's announcements, by room group.
        self.arrivals: dict[str, peers.Arrival] = {}
        self._start_lock = asyncio.Lock()
        # Events this hub delivered itself when they were published carry this id;
        # the copy the layer brings back is skipped.
        self.origin = uuid.uuid4().hex
        # The sidebar sockets (``/ws/me/``) of this process and the rooms they watch.
        self.watchers = Watchers(self)

    @classmethod
    def current(cls) -> Hub:
        """The hub of the running event loop."""
        loop = asyncio.get_running_loop()
        hub = cls._hubs.get(loop)
        if hub is None:
            for old in [old for old in cls._hubs if old.is_closed()]:
                del cls._hubs[old]
            hub = cls._hubs[loop] = cls()
        return hub

    @classmethod
    def existing(cls) -> Hub | None:
        """The hub of the running event loop if one was made (never makes one)."""
        return cls._hubs.get(asyncio.get_running_loop())

    async def _ensure_started(self) -> None:
        if self.reader is not None:
            return
        async with self._start_lock:
            if self.reader is not None:
                return
            self.publisher = Publisher.start()
            self.channel = await self.layer.new_channel("chat.hub.")
            await self._add_group(CONTROL_GROUP)
            loop = asyncio.get_running_loop()
            channels_redis_layer.quiet_cleanup_errors(loop)
            channels_redis_layer.watch_pools(self.layer)
            self.reader = loop.create_task(self._read())
            self.refresher = loop.create_task(self._refresh())
            self.token_checker = loop.create_task(self._check_tokens())
            self.publisher.attach(self.dispatch_many, channel=self.channel, origin=self.origin)
            self.publisher.watched = self.watchers.rooms
            presence.presence().on_leave = announce_leave

    async def _add_group(self, group: str) -> None:
        try:
            async with layer_slots.slot(self.layer):
                await self.layer.group_add(group, self.channel)
        except Exception as exc:  # noqa: BLE001 - Redis down: the refresher retries
            self.troubled()
            logger.warning("group_add failed group=%s: %r", group, exc)

    def troubled(self) -> None:
        """Redis failed: for a while, tail checks also ask the database (see ``check_tail``)."""
        self.troubled_until = time.monotonic() + TROUBLE_WINDOW

    async def join(self, room: Room, connection: Connection) -> RoomFanout:
        """Register ``connection`` for ``room``'s events; call before reading history."""
        await self._ensure_started()
        fanout = self.rooms.get(room.pk)
        if fanout is None:
            fanout = self.rooms[room.pk] = RoomFanout(self, room)
            await self._add_group(room_group(room.pk))
            fanout.entered = asyncio.get_running_loop().create_task(self._enter(room.pk))
        connection.batch_floor = fanout.batch_count
        fanout.connections.add(connection)
        if connection.token_id is not None:
            self.by_token.add(connection.token_id, connection)
        if fanout.entered is not None and not fanout.entered.done():
            # Every connection of the room waits (the first one's leaving must not
            # cancel the others' wait): shielded.
            await asyncio.shield(fanout.entered)
        return fanout

    async def add_sidebar(self, connection) -> None:
        """Serve a ``/ws/me/`` socket: its user's reads and its rooms' activity."""
        await self._ensure_started()
        if connection.token_id is not None:
            self.by_token.add(connection.token_id, connection)
        await self.watchers.add(connection)

    async def remove_sidebar(self, connection) -> None:
        """A ``/ws/me/`` socket closed."""
        if connection.token_id is not None:
            self.by_token.discard(connection.token_id, connection)
        await self.watchers.remove(connection)

    def sidebar_connections(self) -> list:
        """This process's ``/ws/me/`` sockets."""
        return [c for users in list(self.watchers.users.values()) for c in list(users)]

    async def _enter(self, room_id: int) -> None:
        """Register for a room, announce it, and wait until the room's peers saw that.

        Until a peer processed the announcement it may skip this process (it cached
        the room's members before): typing and presence frames sent meanwhile would
        be lost, since only messages are filled from history. So the room's first
        ``ready`` here waits for each peer's answer, at most ``PEERS_TTL`` after the
        registration, when every member list read before it has expired anyway.
        """
        group = room_group(room_id)
        others = await peers.enter(group, self.channel)
        registered = time.monotonic()
        if others is None:
            self.troubled()
            others = frozenset()
        arrival = self.arrivals[group] = peers.Arrival(others)
        try:
            publish_soon(outbound.peer_event(room_id, self.channel))
            silent = await arrival.wait(peers.PEERS_TTL - (time.monotonic() - registered))
        finally:
            if self.arrivals.get(group) is arrival:
                del self.arrivals[group]
        if silent:
            logger.info("peer announcement unanswered group=%s channels=%s", group, sorted(silent))

    async def leave(self, room_id: int, connection: Connection) -> None:
        fanout = self.rooms.get(room_id)
        if connection.token_id is not None:
            self.by_token.discard(connection.token_id, connection)
        if fanout is None:
            return
        fanout.connections.discard(connection)
        if not fanout.connections:
            del self.rooms[room_id]
            if fanout.gap_task:
                fanout.gap_task.cancel()
            if fanout.entered:
                fanout.entered.cancel()
            if fanout.flush_handle:
                fanout.flush_handle.cancel()
            with contextlib.suppress(Exception):
                async with layer_slots.slot(self.layer):
                    await self.layer.group_discard(room_group(room_id), self.channel)
            await peers.unregister(room_group(room_id), self.channel)

    def connections(self) -> Iterable[Connection]:
        for fanout in list(self.rooms.values()):
            yield from list(fanout.connections)

    async def _read(self) -> None:
        backoff = 0.1
        while True:
            try:
                event = await self.layer.receive(self.channel)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis restarting: keep trying
                self.troubled()
                logger.warning("layer receive failed, retrying in %.1fs: %r", backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if event.get("origin") == self.origin:
                continue
            try:
                if event.get("kind") == "batch":  # another process's publish batch
                    await self.dispatch_many(event["events"])
                else:
                    await self.dispatch(event)
            except Exception:
                logger.exception("event dispatch failed kind=%s", event.get("kind"))

    async def dispatch_many(self, events: list[dict[str, Any]]) -> None:
        """Dispatch events in order within each room; a room's messages go out together.

        Rooms are independent, so the batch is regrouped by room (order within a room
        kept): a busy room's messages of one batch then cost one write per connection.
        """
        by_room: dict[Any, list[dict[str, Any]]] = {}
        for event in events:
            by_room.setdefault(event.get("room"), []).append(event)
        for room_id, room_events in by_room.items():
            for messages, run in itertools.groupby(room_events, key=_is_message):
                fanout = self.rooms.get(room_id)
                if messages and fanout is not None:
                    batch = [(e["seq"], e["text"], e.get("at")) for e in run]
                    await _logged(fanout.on_messages(batch), room_id)
                elif not messages:
                    for event in run:
                        await _logged(self.dispatch(event), room_id)

    async def dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if kind == "revoke":
            await self.close_token(event["token"])
            return
        if kind == "signout":
            await self.close_user(event["user"], event.get("session"))
            return
        if kind == "peer":  # another process joined the group: send it our events from now on
            await self._peer_joined(event)
            return
        if kind in ("activity", "read"):  # for the sidebars (chat.realtime.watchers)
            await self.watchers.dispatch(event)
            return
        if kind == "peer_ack":
            arrival = self.arrivals.get(event["group"])
            if arrival is not None:
                arrival.acknowledged(event["channel"])
            return
        fanout = self.rooms.get(event.get("room"))
        if fanout is None:
            return
        if kind == "message":
            await fanout.on_message(event["seq"], event["text"], event.get("at"))
        elif kind == "frame" and event.get("batch"):
            change = event.get("presence")
            fanout.batch(
                event["text"],
                skip_user=event.get("skip_user"),
                change=tuple(change) if change else None,
            )
        elif kind == "frame":
            await fanout.broadcast(
                event["text"], skip_user=event.get("skip_user"), only_user=event.get("user")
            )
        elif kind == "room":
            for connection in list(fanout.connections):
                connection.room_changed(event["info"])
            await fanout.broadcast(event["text"])
        elif kind == "close":
            for connection in list(fanout.connections):
                if event.get("user") in (None, connection.user_id):
                    await connection.close(event["code"], event.get("text"))

    async def _peer_joined(self, event: dict[str, Any]) -> None:
        """Read the group's members again; answer the newcomer if this process serves the room.

        Forgotten first, answered after: every batch this publisher starts once the
        newcomer has the answer includes it.
        """
        peers.peers.forget(event["group"])
        channel = event.get("channel")
        if channel and channel != self.channel and event.get("room") in self.rooms:
            await peers.send_events(
                channel, [outbound.peer_ack_event(event["group"], self.channel)]
            )

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_INTERVAL)
            await self._add_group(CONTROL_GROUP)
            sidebar_groups = self.watchers.groups()
            groups = [*map(room_group, list(self.rooms)), *sidebar_groups]
            if not await peers.register(groups, self.channel):
                self.troubled()
            for group in sidebar_groups:
                await self._add_group(group)
            rooms = list(self.rooms.items())
            for room_id, _ in rooms:
                await self._add_group(room_group(room_id))
            # Every room's cached tail in one read (was two round trips per room).
            try:
                cached = await history.cached_tails(
                    {room_id: f.last_seq for room_id, f in rooms if f.last_seq is not None}
                )
            except Exception as exc:  # noqa: BLE001 - the refresh must go on
                logger.warning("tail check failed rooms=%d: %r", len(rooms), exc)
                cached = {}
            for room_id, fanout in rooms:
                try:
                    await fanout.check_tail(
                        cached.get(room_id, ([], None)),
                        deep=time.monotonic() < self.troubled_until,
                    )
                except Exception as exc:  # noqa: BLE001
                    logger.warning("tail check failed room=%s: %r", room_id, exc)

    async def close_token(self, token_id: int) -> None:
        """Close the connections of a revoked token with 4401, saying why first."""
        text = protocol.error_frame(
            Refusal(CloseCode.NOT_AUTHENTICATED, "your API token was revoked")
        )
        for connection in self.by_token.get(token_id):
            await connection.close(CloseCode.NOT_AUTHENTICATED, text)

    async def close_user(self, user_id: int, session: str | None = None) -> None:
        """Close a user's connections with 4401: those of ``session``, or every one."""
        text = protocol.error_frame(Refusal(CloseCode.NOT_AUTHENTICATED, "you were signed out"))
        for connection in [*self.connections(), *self.sidebar_connections()]:
            if connection.user_id == user_id and session in (None, connection.session_id):
                await connection.close(CloseCode.NOT_AUTHENTICATED, text)

    async def _check_tokens(self) -> None:
        swept = time.monotonic()
        while True:
            await asyncio.sleep(TOKEN_CHECK_INTERVAL)
            if not self.by_token:
                continue
            try:
                if time.monotonic() - swept >= TOKEN_SWEEP_INTERVAL:
                    swept = time.monotonic()
                    revoked = await self._sweep_tokens()
                else:
                    now = timezone.now()
                    since = now - timedelta(seconds=RECENTLY_ENDED)
                    revoked = await database_sync_to_async(selectors.tokens_ended_since)(since, now)
            except Exception as exc:  # noqa: BLE001 - database busy or down: next round
                logger.warning("token check failed: %r", exc)
                continue
            for token_id in revoked & self.by_token.keys():
                await self.close_token(token_id)

    async def _sweep_tokens(self) -> set[int]:
        """Every token of this process that no longer signs anyone in."""
        ids = list(self.by_token)
        revoked: set[int] = set()
        for start in range(0, len(ids), TOKEN_CHECK_CHUNK):
            revoked |= await database_sync_to_async(selectors.revoked_tokens)(
                ids[start : start + TOKEN_CHECK_CHUNK]
            )
        return revoked

    async def stop(self) -> None:
        """Cancel this hub's tasks and forget it (end of an event loop: tests, shutdown)."""
        tasks = [
            task for task in (self.reader, self.refresher, self.token_checker) if task is not None
        ]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        self.reader = self.refresher = self.token_checker = None
        self._hubs.pop(asyncio.get_running_loop(), None)
        for watch in self.watchers.rooms.values():
            watch.stop()
        if self.publisher is not None:
            self.publisher.detach()
            self.publisher.watched = frozenset()
            self.publisher = None
        await peers.close_registry()

    async def close_all(self, code: int) -> None:
        """Close every connection of this process (graceful shutdown)."""
        for connection in [*self.connections(), *self.sidebar_connections()]:
            await connection.close(code)
