"""Publishing: the only code that sends room events to the channel layer.

The layer is at-most-once: channels-redis drops messages for channels over
capacity and across Redis reconnects. So completeness never rests on it: room
messages carry their ``seq``, and the receiving hub fills any gap from history.

Services call ``publish_on_commit``; after commit the events go to this loop's
``Publisher``, which, in commit order,

1. hands the events to this process's own hub (attached by ``chat.realtime.hub``),
2. writes the history cache (beside the sends: a queue of its own, its turn of the
   loop right after this process's first writes),
3. sends each other process that listens to the room its share of the batch in one
   layer message (``chat.events.peers``), or falls back to ``group_send``,
4. and beside them (a queue of its own, so sidebars never hold up messages), only for
   rooms some process watches, one ``activity`` event per room and batch for the
   sidebars (``chat.events.activity``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Container
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from chat.conf import chat_settings
from chat.events import activity, layer_slots, peers
from chat.events.outbound import CONTROL_GROUP, Outbound
from chat.stores import history_cache

logger = logging.getLogger(__name__)

# Rooms whose cache writes or layer sends run side by side (bounds the Redis pools' use).
ROOMS_AT_ONCE = 32

LocalDelivery = Callable[[list[dict[str, Any]]], Awaitable[None]]


def publish_on_commit(*outbounds: Outbound) -> None:
    """Publish ``outbounds`` in order once the current transaction commits (guarantee 1).

    Outside a transaction it publishes at once. A rolled-back transaction publishes
    nothing. A batch of messages passes all its events in one call: one wake-up of
    the event loop instead of one per message.
    """
    transaction.on_commit(lambda: publish_now_unsafe(*outbounds), robust=True)


def publish_now_unsafe(*outbounds: Outbound) -> None:
    """Publish immediately, whether or not the data is committed. Use ``publish_on_commit``.

    From a thread beside a running event loop (the consumer's database thread, a
    sync view under daphne) the events are queued to that loop's ``Publisher``
    without blocking; from plain sync code (the shell, a management command) they
    are delivered before returning.
    """
    publisher = Publisher.current()
    if publisher is not None:
        publisher.submit_threadsafe(outbounds)
    else:
        async_to_sync(_publish_once)(outbounds)


async def _publish_once(outbounds: tuple[Outbound, ...]) -> None:
    await _write_cache(list(outbounds))
    await _publish_batch(list(outbounds), None)
    await _publish_activity(list(outbounds), None)


def publish_soon(outbound: Outbound) -> None:
    """Publish an event with nothing to commit (typing, presence) from async code.

    Queued behind what this process already publishes; the caller does not wait
    for Redis.
    """
    Publisher.start().submit(outbound)


_loop_lock = threading.Lock()
_publishers: dict[asyncio.AbstractEventLoop, Publisher] = {}


class Publisher:
    """Per-loop queue that publishes events in the order they were committed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # This process's receiving side: its hub's ``dispatch_many`` and layer channel.
        self.local: LocalDelivery | None = None
        self.local_channel: str | None = None
        self.local_origin: str | None = None
        # Rooms this process's sidebars watch (set by its hub): their activity goes
        # to the hub too.
        self.watched: Container[int] = frozenset()
        self.queue: asyncio.Queue[Outbound] = asyncio.Queue()
        self.cache_queue: asyncio.Queue[Outbound] = asyncio.Queue()
        self.task = loop.create_task(self._run(self.queue, self._publish))
        self.cache_task = loop.create_task(self._run(self.cache_queue, _write_cache))
        # Sidebar activity has its own queue: its registry reads never hold up messages.
        self.activity_queue: asyncio.Queue[Outbound] = asyncio.Queue()
        self.activity_task = loop.create_task(
            self._run(self.activity_queue, self._publish_activity)
        )

    @classmethod
    def start(cls) -> Publisher:
        """The publisher of the running loop (created on first use)."""
        loop = asyncio.get_running_loop()
        with _loop_lock:
            publisher = _publishers.get(loop)
            if publisher is None:
                for old in [old for old in _publishers if old.is_closed()]:
                    del _publishers[old]
                publisher = _publishers[loop] = cls(loop)
        return publisher

    @classmethod
    async def stop_current(cls) -> None:
        """Stop the running loop's publisher after draining it (end of a loop: tests)."""
        loop = asyncio.get_running_loop()
        with _loop_lock:
            publisher = _publishers.pop(loop, None)
        if publisher is not None:
            await publisher.drain()
            publisher.task.cancel()
            publisher.cache_task.cancel()
            publisher.activity_task.cancel()
            await asyncio.wait(
                [publisher.task, publisher.cache_task, publisher.activity_task], timeout=2
            )

    @classmethod
    def current(cls) -> Publisher | None:
        """The publisher of a running loop in this process, if any."""
        with _loop_lock:
            for loop, publisher in _publishers.items():
                if loop.is_running() and not loop.is_closed():
                    return publisher
        return None

    def attach(self, deliver: LocalDelivery, *, channel: str, origin: str) -> None:
        """Deliver this loop's events to ``deliver`` first (this process's hub).

        ``channel`` is the hub's layer channel (peers other than it get the events);
        events sent to a whole group carry ``origin``, so the hub skips its own copy.
        """
        self.local, self.local_channel, self.local_origin = deliver, channel, origin

    def detach(self) -> None:
        """Stop delivering locally (the hub stopped)."""
        self.local = self.local_channel = self.local_origin = None

    def submit_threadsafe(self, outbounds: tuple[Outbound, ...]) -> None:
        """Queue ``outbounds`` from any thread (never waits)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.submit(*outbounds)
        else:
            self.loop.call_soon_threadsafe(self.submit, *outbounds)

    def submit(self, *outbounds: Outbound) -> None:
        """Queue ``outbounds`` from code running in this loop (never waits).

        The sends are queued first, so their task is the first to run: this process's
        connections are written to before the cache write and the sidebar activity
        take their turn of the loop. Cache first, a message to a small room waited
        ~0.3 ms (redis-py building and sending the cache pipeline), about a seventh of
        its whole way through an idle process.
        """
        for outbound in outbounds:
            self.queue.put_nowait(outbound)
        for outbound in outbounds:
            if outbound.cache_add:
                self.cache_queue.put_nowait(outbound)
                if outbound.event.get("kind") == "message":
                    self.activity_queue.put_nowait(outbound)

    async def _publish(self, batch: list[Outbound]) -> None:
        await _publish_batch(batch, self)

    async def _publish_activity(self, batch: list[Outbound]) -> None:
        await _publish_activity(batch, self if self.local is not None else None)

    @staticmethod
    async def _run(queue: asyncio.Queue[Outbound], handle) -> None:
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < 1024:
                batch.append(queue.get_nowait())
            try:
                await handle(batch)
            finally:
                for _ in batch:
                    queue.task_done()

    async def drain(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a bound is the point
        """Wait until everything queued so far is published (graceful shutdown, tests)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(
                    self.cache_queue.join(), self.queue.join(), self.activity_queue.join()
                ),
                timeout,
            )


async def _publish_batch(batch: list[Outbound], publisher: Publisher | None) -> None:
    """Deliver events here, then to the other processes that listen.

    1. This process's own connections get every event first, without the round trip
       through Redis (and while Redis is away).
    2. The layer: each other process with members in the events' rooms gets one
       layer message holding its share of the batch, in order (``chat.events.peers``).

    The history cache is written beside this (``_write_cache``), never behind it: a
    storm of presence frames must not keep new messages out of the cache while
    reconnecting clients look for them there.
    """
    for outbound in batch:
        if outbound.cache_replace is not None:
            # A client told `deleted` may ask for history at once: the cache must
            # already show the tombstone. (Deletions are rare; new messages need no
            # such care, readers prove the cache complete.)
            await history_cache.replace(outbound.room_id, outbound.cache_replace)
        for entry in outbound.cache_refresh:
            await history_cache.replace(outbound.room_id, entry)
    local = publisher.local if publisher is not None else None
    if local is not None:
        await local([outbound.event for outbound in batch])
    await _to_other_processes(batch, publisher if local is not None else None)


async def _publish_activity(batch: list[Outbound], publisher: Publisher | None) -> None:
    """One ``activity`` event per room with new messages, to the processes watching it.

    Runs beside the messages' publishing, never in front of it: sidebars must never
    slow delivery. Nothing is built
    for a room nobody watches (a cached registry answer says so); when the registry
    cannot be read the event is dropped (the sidebar catches up on its next read or
    reconnect), never sent to the whole group.
    """
    rooms = activity.message_rooms(batch)
    if not rooms:
        return
    if publisher is None:
        # No hub in this process (the shell, a command): the watching hubs are in the
        # watch groups (Redis mode; in embedded mode there is no other process).
        if chat_settings().redis_url:
            await _send_in_order(
                [
                    (Outbound(group=activity.watch_group(room_id), event=event), event)
                    for room_id, messages in rooms.items()
                    for event in [activity.activity_event(room_id, messages)]
                ]
            )
        return
    remote: dict[str, frozenset[str] | None] = {}
    if peers.registry() is not None:
        remote = await peers.peers.channels_of(
            [activity.watch_group(room_id) for room_id in rooms], publisher.local_channel
        )
    local_events: list[dict[str, Any]] = []
    direct: dict[str, list[dict[str, Any]]] = {}
    for room_id, messages in rooms.items():
        channels = remote.get(activity.watch_group(room_id)) or ()
        here = room_id in publisher.watched
        if not here and not channels:
            continue
        event = activity.activity_event(room_id, messages)
        if here:
            local_events.append(event)
        for channel in channels:
            direct.setdefault(channel, []).append(event)
    if local_events and publisher.local is not None:
        await publisher.local(local_events)
    await asyncio.gather(*(peers.send_events(c, events) for c, events in direct.items()))


async def _to_other_processes(batch: list[Outbound], publisher: Publisher | None) -> None:
    """Each other process listening gets this batch's events for it in one layer message.

    Control events (and everything, when this process has no hub or no peer
    registry) go through ``group_send``.
    """
    own = publisher.local_channel if publisher is not None else None
    known: dict[str, frozenset[str] | None] = {}
    if own is not None:
        groups = {o.group for o in batch if o.group != CONTROL_GROUP}
        known = await peers.peers.channels_of(groups, own)
    direct: dict[str, list[dict]] = {}
    by_group: dict[str, list[tuple[Outbound, dict]]] = {}
    for outbound in batch:
        channels = known.get(outbound.group)
        if channels is not None:
            for channel in channels:
                direct.setdefault(channel, []).append(outbound.event)
        elif publisher is None:
            by_group.setdefault(outbound.group, []).append((outbound, outbound.event))
        else:
            # The group includes this process: its hub skips the copy by origin.
            event = {**outbound.event, "origin": publisher.local_origin}
            by_group.setdefault(outbound.group, []).append((outbound, event))
    await asyncio.gather(*(peers.send_events(c, events) for c, events in direct.items()))
    rooms = list(by_group.values())
    for start in range(0, len(rooms), ROOMS_AT_ONCE):
        await asyncio.gather(
            *(_send_in_order(room) for room in rooms[start : start + ROOMS_AT_ONCE])
        )


async def _write_cache(batch: list[Outbound]) -> None:
    """The history cache changes of a batch: every room's entries in one call."""
    by_room: dict[int, list[history_cache.Entry]] = {}
    for outbound in batch:
        if outbound.cache_add:
            by_room.setdefault(outbound.room_id, []).extend(outbound.cache_add)
    if by_room:
        await history_cache.remember_many(by_room)


async def _send_in_order(events: list[tuple[Outbound, dict]]) -> None:
    layer = get_channel_layer()
    for outbound, event in events:
        try:
            async with layer_slots.slot(layer):
                await layer.group_send(outbound.group, event)
        except Exception as exc:  # noqa: BLE001 - the layer raises many types when Redis is down
            # The DB has the message; receivers fill the gap from history.
            logger.warning(
                "broadcast failed group=%s kind=%s: %r", outbound.group, event.get("kind"), exc
            )
