"""Broadcast: the only module that talks to the channel layer.

The layer is at-most-once: channels-redis drops messages for channels over
capacity and across Redis reconnects. So completeness never rests on it: room
messages carry their ``seq``, and ``chat.fanout`` fills any gap from history.

Write side: services call ``publish_on_commit``; after commit, the event goes to
this process's ``Publisher`` (one per event loop), which updates the history cache
and sends the event to the room's group, in commit order. Frames are encoded once,
at publish, and forwarded unchanged to every receiver.

Read side: ``chat.fanout.Hub`` keeps one layer channel per process, a member of the
groups of the rooms its connections are in, and fans events out locally.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from . import history, peers, protocol

logger = logging.getLogger(__name__)

CONTROL_GROUP = "chat.control"
# Rooms whose cache writes or layer sends run side by side (bounds the Redis pools' use).
ROOMS_AT_ONCE = 32


def room_group(room_id: int) -> str:
    """The layer group of a room (built from the pk: group names are restricted)."""
    return f"chat.room.{room_id}"


@dataclass(slots=True)
class Outbound:
    """An event to publish after commit, and the cache change that goes with it."""

    group: str
    event: dict[str, Any]
    room_id: int | None = None
    cache_add: list[history.Entry] = field(default_factory=list)
    cache_replace: history.Entry | None = None


# --- events ------------------------------------------------------------------
# Layer events are small dicts: "kind" says what the hub does with them.


def message_event(room_id: int, payload: dict[str, Any]) -> Outbound:
    """A committed message: cached, then sent to the room in seq order."""
    entry_text = protocol.encode(payload)  # encoded once: the cache entry and the frame
    return Outbound(
        group=room_group(room_id),
        room_id=room_id,
        event={
            "type": "chat.event",
            "kind": "message",
            "room": room_id,
            "seq": payload["seq"],
            "text": protocol.message_frame_from_json(entry_text),
            "at": time.time(),
        },
        cache_add=[(payload["seq"], entry_text)],
    )


def replace_event(room_id: int, payload: dict[str, Any], frame: str) -> Outbound:
    """A message changed after the fact (deleted or restored)."""
    return Outbound(
        group=room_group(room_id),
        room_id=room_id,
        event={"type": "chat.event", "kind": "frame", "room": room_id, "text": frame},
        cache_replace=(payload["seq"], protocol.encode(payload)),
    )


def room_event(room_id: int, info: dict[str, Any]) -> Outbound:
    """A moderator changed the room (lock, slow mode)."""
    return Outbound(
        group=room_group(room_id),
        room_id=room_id,
        event={
            "type": "chat.event",
            "kind": "room",
            "room": room_id,
            "info": info,
            "text": protocol.room_frame(info),
        },
    )


def frame_event(
    room_id: int, frame: str, *, skip_user: int | None = None, batch: bool = False
) -> Outbound:
    """A frame for everyone in the room, optionally not to one user.

    ``batch`` frames (join, leave, typing) may wait a few milliseconds to be written
    together with others: a thousand people arriving at once would otherwise cost
    a million socket writes.
    """
    event = {"type": "chat.event", "kind": "frame", "room": room_id, "text": frame}
    if skip_user is not None:
        event["skip_user"] = skip_user
    if batch:
        event["batch"] = True
    return Outbound(group=room_group(room_id), room_id=room_id, event=event)


def close_event(room_id: int, code: int, detail: str, *, user_id: int | None = None) -> Outbound:
    """Close connections in a room: one user's (ban) or everyone's (archive)."""
    from .errors import ChatError, ErrorCode

    text = protocol.error_frame(ChatError(ErrorCode.FORBIDDEN, detail))
    return Outbound(
        group=room_group(room_id),
        room_id=room_id,
        event={
            "type": "chat.event",
            "kind": "close",
            "room": room_id,
            "user": user_id,
            "code": int(code),
            "text": text,
        },
    )


def revoke_event(token_id: int) -> Outbound:
    """A revoked API token: its connections close with 4401 on every process."""
    return Outbound(
        group=CONTROL_GROUP, event={"type": "chat.event", "kind": "revoke", "token": token_id}
    )


# --- publishing --------------------------------------------------------------


def publish_on_commit(*outbounds: Outbound) -> None:
    """Publish ``outbounds`` in order once the current transaction commits (guarantee 1).

    Outside a transaction it publishes at once. A rolled-back transaction publishes
    nothing. A batch of messages passes all its events in one call: one wake-up of
    the event loop instead of one per message.
    """
    transaction.on_commit(lambda: publish_now_unsafe(*outbounds), robust=True)


_loop_lock = threading.Lock()
_publishers: dict[asyncio.AbstractEventLoop, Publisher] = {}


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
        for outbound in outbounds:
            async_to_sync(publish)(outbound)


async def publish(outbound: Outbound) -> None:
    """Deliver one event to this process, cache it, and send it to its group (never raises).

    For events with nothing to commit (typing, presence); committed data goes
    through ``publish_on_commit``.
    """
    await _write_cache([outbound])
    await _publish_batch([outbound])


async def _publish_batch(batch: list[Outbound]) -> None:
    """Deliver events here, then to the other processes that listen.

    1. This process's own connections get every event first, without the round trip
       through Redis (and while Redis is away).
    2. The layer: each other process with members in the events' rooms gets one
       layer message holding its share of the batch, in order (``chat.peers``).

    The history cache is written beside this (``_write_cache``), never behind it: a
    storm of presence frames must not keep new messages out of the cache while
    reconnecting clients look for them there.
    """
    for outbound in batch:
        if outbound.cache_replace is not None:
            # A client told `deleted` may ask for history at once: the cache must
            # already show the tombstone. (Deletions are rare; new messages need no
            # such care, readers prove the cache complete.)
            await history.forget(outbound.room_id, outbound.cache_replace)
    local = _local_hubs.get(asyncio.get_running_loop())
    if local is not None:
        await local.dispatch_many([outbound.event for outbound in batch])
    await _to_other_processes(batch, local)


async def _to_other_processes(batch: list[Outbound], local: LocalHub | None) -> None:
    """Each other process listening gets this batch's events for it in one layer message.

    Control events (and everything, when this process has no hub or the layer is
    not channels-redis) go through ``group_send`` as before.
    """
    own = local.channel if local is not None else None
    known: dict[str, frozenset[str] | None] = {}
    if own is not None:
        groups = list({o.group for o in batch if o.group != CONTROL_GROUP})
        found = await asyncio.gather(*(peers.peers.channels(group, own) for group in groups))
        known = dict(zip(groups, found, strict=True))
    direct: dict[str, list[dict]] = {}
    by_group: dict[str, list[tuple[Outbound, dict]]] = {}
    for outbound in batch:
        channels = known.get(outbound.group)
        if channels is not None:
            for channel in channels:
                direct.setdefault(channel, []).append(outbound.event)
        elif local is None:
            by_group.setdefault(outbound.group, []).append((outbound, outbound.event))
        else:
            # The group includes this process: its hub skips the copy by origin.
            event = {**outbound.event, "origin": local.origin}
            by_group.setdefault(outbound.group, []).append((outbound, event))
    await asyncio.gather(*(peers.send_events(c, events) for c, events in direct.items()))
    rooms = list(by_group.values())
    for start in range(0, len(rooms), ROOMS_AT_ONCE):
        await asyncio.gather(
            *(_send_in_order(room) for room in rooms[start : start + ROOMS_AT_ONCE])
        )


async def _write_cache(batch: list[Outbound]) -> None:
    """The history cache changes of a batch: one script call per room, rooms side by side."""
    by_room: dict[int, list[history.Entry]] = {}
    for outbound in batch:
        if outbound.cache_add:
            by_room.setdefault(outbound.room_id, []).extend(outbound.cache_add)
    rooms = list(by_room.items())
    for start in range(0, len(rooms), ROOMS_AT_ONCE):
        await asyncio.gather(
            *(
                history.remember(room_id, entries)
                for room_id, entries in rooms[start : start + ROOMS_AT_ONCE]
            )
        )


async def _send_in_order(events: list[tuple[Outbound, dict]]) -> None:
    layer = get_channel_layer()
    for outbound, event in events:
        try:
            await layer.group_send(outbound.group, event)
        except Exception as exc:  # noqa: BLE001 - the layer raises many types when Redis is down
            # The DB has the message; receivers fill the gap from history.
            logger.warning(
                "broadcast failed group=%s kind=%s: %r", outbound.group, event.get("kind"), exc
            )


class LocalHub(Protocol):
    """The receiving side in this process (``chat.fanout.Hub``), seen from here."""

    origin: str
    channel: str | None

    async def dispatch_many(self, events: list[dict[str, Any]]) -> None: ...


_local_hubs: dict[asyncio.AbstractEventLoop, LocalHub] = {}


def register_local_hub(hub: LocalHub | None) -> None:
    """Deliver this loop's events to ``hub`` directly (None: stop)."""
    loop = asyncio.get_running_loop()
    for old in [old for old in _local_hubs if old.is_closed()]:
        del _local_hubs[old]
    if hub is None:
        _local_hubs.pop(loop, None)
    else:
        _local_hubs[loop] = hub


class Publisher:
    """Per-loop queue that publishes events in the order they were committed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Outbound] = asyncio.Queue()
        self.cache_queue: asyncio.Queue[Outbound] = asyncio.Queue()
        self.task = loop.create_task(self._run(self.queue, _publish_batch))
        self.cache_task = loop.create_task(self._run(self.cache_queue, _write_cache))

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
            await asyncio.wait([publisher.task, publisher.cache_task], timeout=2)

    @classmethod
    def current(cls) -> Publisher | None:
        """The publisher of a running loop in this process, if any."""
        with _loop_lock:
            for loop, publisher in _publishers.items():
                if loop.is_running() and not loop.is_closed():
                    return publisher
        return None

    def submit_threadsafe(self, outbounds: tuple[Outbound, ...]) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.submit(*outbounds)
        else:
            self.loop.call_soon_threadsafe(self.submit, *outbounds)

    def submit(self, *outbounds: Outbound) -> None:
        """Queue ``outbounds`` from code running in this loop (never waits)."""
        for outbound in outbounds:
            if outbound.cache_add:
                self.cache_queue.put_nowait(outbound)
            self.queue.put_nowait(outbound)

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
                asyncio.gather(self.cache_queue.join(), self.queue.join()), timeout
            )


def peers_changed(group: str) -> None:
    """Another process joined ``group``: send it this process's events from now on."""
    peers.peers.forget(group)


def peer_event(room_id: int) -> Outbound:
    """This process joined a room's group: the others must stop skipping it."""
    return Outbound(
        group=CONTROL_GROUP,
        event={"type": "chat.event", "kind": "peer", "group": room_group(room_id)},
    )


def publish_soon(outbound: Outbound) -> None:
    """Publish an event with nothing to commit (typing, presence) from async code.

    Queued behind what this process already publishes; the caller does not wait
    for Redis.
    """
    Publisher.start().submit(outbound)
