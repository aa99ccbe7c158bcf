"""The other processes serving a room, and handing them a batch of events at once.

channels-redis' ``group_send`` costs four Redis round trips per event and brings
the sender its own copy back (a process is a member of its rooms' groups too), to
be received, decoded and skipped. Instead, each process's hub keeps its rooms in
the chat's own registry in Redis (``PeerRegistry``: one sorted set per room group,
hub channels scored by when their entry expires), renewed every refresh, so a dead
process drops out within ``PEER_TTL``. A publisher reads a room's entries (cached
for ``PEERS_TTL``; a process joining a room announces itself, so the others read
again at once) and sends each *other* process one layer message per publish batch
holding all its events, in order.

A newcomer must not be skipped once its clients are ``ready``: typing and presence
frames are not filled from history like messages. So a hub entering a room
registers and reads the room's other members in one step (``enter``), announces
itself (a ``peer`` event on the control group), and waits (``Arrival``) until each
of them answered (``peer_ack``, sent after it dropped its cached answer), or at most
``PEERS_TTL`` after registering, when every answer read before it has expired. Its
room's connections get ``ready`` after that: every batch another process publishes
later includes the newcomer. A batch already being sent when the announcement
arrived was published before that ``ready``. With one process per room nothing is sent at
all; with several, a busy moment costs one layer message per peer, not one per
event. Without Redis (embedded mode) or when the registry cannot be read, the
publisher falls back to ``group_send``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

from chat.conf import chat_settings
from chat.events import layer_slots
from chat.stores import redis_clients

logger = logging.getLogger(__name__)

# How long a process trusts what it read about a room's peers. Bounds the time a
# lost join notice can cost: the joiner fills such gaps from history meanwhile.
PEERS_TTL = 1.0
# A registry entry lives this long unless renewed (the hub renews its rooms every
# REFRESH_INTERVAL, 3 s): a dead process stops getting events after at most this.
PEER_TTL = 10.0
# Events per layer message (bounds one Redis value).
EVENTS_PER_MESSAGE = 200
# A dead peer's channel stays full until its entry expires: say so once a minute.
FULL_WARNING_INTERVAL = 60.0
_full_warned: dict[str, float] = {}


class PeerRegistry:
    """Which hub channels serve which room group, in the chat's Redis."""

    def __init__(self, url: str) -> None:
        self._redis = redis_clients.shared(url)

    @staticmethod
    def key(group: str) -> str:
        return f"chat:v1:peers:{group}"

    async def register(self, groups: Iterable[str], channel: str) -> None:
        """Say (again) that ``channel`` serves ``groups``, for ``PEER_TTL`` seconds."""
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            for group in groups:
                key = self.key(group)
                pipe.zadd(key, {channel: now + PEER_TTL})
                pipe.zremrangebyscore(key, "-inf", now)
                pipe.expire(key, int(PEER_TTL) + 1)
            await pipe.execute()

    async def enter(self, group: str, channel: str) -> frozenset[str]:
        """Register ``channel`` for ``group`` and return the group's other live channels.

        One round trip: the answer names every process that may have read the group's
        members before this entry existed (and so may skip ``channel`` for a while).
        """
        now = time.time()
        key = self.key(group)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {channel: now + PEER_TTL})
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.expire(key, int(PEER_TTL) + 1)
            pipe.zrangebyscore(key, now, "+inf")
            found = (await pipe.execute())[-1]
        return frozenset(member.decode() for member in found) - {channel}

    async def unregister(self, group: str, channel: str) -> None:
        """``channel`` no longer serves ``group``."""
        await self._redis.zrem(self.key(group), channel)

    async def close(self) -> None:
        """Close the client's connections."""
        await self._redis.aclose()

    async def members(self, group: str) -> frozenset[str]:
        """The hub channels whose entry for ``group`` has not expired."""
        return (await self.members_of([group]))[group]

    async def members_of(self, groups: list[str]) -> dict[str, frozenset[str]]:
        """``members`` of each of ``groups``, in one round trip."""
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            for group in groups:
                pipe.zrangebyscore(self.key(group), now, "+inf")
            found = await pipe.execute()
        return {
            group: frozenset(member.decode() for member in members)
            for group, members in zip(groups, found, strict=True)
        }


_registries: dict[tuple[asyncio.AbstractEventLoop, str], PeerRegistry] = {}


def registry() -> PeerRegistry | None:
    """The registry of this mode; None in embedded mode (one process: nobody to find).

    One per event loop, like the hub that renews it (tests run many loops).
    """
    url = chat_settings().redis_url
    if not url:
        return None
    loop = asyncio.get_running_loop()
    found = _registries.get((loop, url))
    if found is None:
        for old in [key for key in _registries if key[0].is_closed()]:
            del _registries[old]
        found = _registries[(loop, url)] = PeerRegistry(url)
    return found


async def close_registry() -> None:
    """Close this event loop's registry client (its hub stopped)."""
    loop = asyncio.get_running_loop()
    for key in [key for key in _registries if key[0] is loop]:
        await _registries.pop(key).close()


async def register(groups: Iterable[str], channel: str) -> bool:
    """Renew this process's entries; False when Redis failed (logged)."""
    found = registry()
    if found is None:
        return True
    try:
        await found.register(list(groups), channel)
    except Exception as exc:  # noqa: BLE001 - Redis down: the hub retries on its next refresh
        logger.warning("peer registry update failed: %r", exc)
        return False
    return True


async def enter(group: str, channel: str) -> frozenset[str] | None:
    """Register this process for ``group``; the other processes to wait for (see ``Arrival``).

    Empty in embedded mode (nobody else); None when Redis failed (logged): the hub's
    next refresh registers it, and until then peers skip it as before.
    """
    found = registry()
    if found is None:
        return frozenset()
    try:
        return await found.enter(group, channel)
    except Exception as exc:  # noqa: BLE001 - Redis down: the hub retries on its next refresh
        logger.warning("peer registry update failed: %r", exc)
        return None


async def unregister(group: str, channel: str) -> None:
    """Drop this process's entry for ``group`` (best effort: it expires anyway)."""
    found = registry()
    if found is None:
        return
    try:
        await found.unregister(group, channel)
    except Exception as exc:  # noqa: BLE001
        logger.warning("peer registry update failed: %r", exc)


class Peers:
    """The other processes' hub channels in each room group, read from the registry."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[float, frozenset[str] | None]] = {}
        # Bumped by ``forget``: a read that was under way then may predate the new
        # member, so its answer is used once but not kept.
        self._generation: dict[str, int] = {}

    async def channels(self, group: str, own: str) -> frozenset[str] | None:
        """The hub channels other than ``own`` in ``group``; None: unknown (send to the group)."""
        return (await self.channels_of([group], own))[group]

    async def channels_of(
        self, groups: Iterable[str], own: str
    ) -> dict[str, frozenset[str] | None]:
        """``channels`` of each group: cached answers without a Redis trip, the rest in one.

        A publish batch of a hundred busy rooms asks this for every room, nearly
        always answered from the cache; the groups whose answer expired are read
        together, in one pipeline, with those whose answer expires within half of
        ``PEERS_TTL``.
        """
        now = time.monotonic()
        answers: dict[str, frozenset[str] | None] = {}
        unknown = []
        soon = []
        for group in groups:
            known = self._known.get(group)
            if known is None or known[0] <= now:
                unknown.append(group)
            else:
                answers[group] = known[1]
                if known[0] - now < PEERS_TTL / 2:
                    soon.append(group)
        if unknown:
            # Read those about to expire as well (earlier than needed, never later):
            # each group's answer used to expire on its own, and nearly every batch
            # of a hundred busy rooms made a trip of its own for one or two of them
            # (issue 17: a socket write per batch). Read together, their answers
            # expire together, and the trips come about once per PEERS_TTL.
            unknown += soon
            generations = {group: self._generation.get(group, 0) for group in unknown}
            found = await _members_of(unknown, own)
            for group in unknown:
                if self._generation.get(group, 0) == generations[group]:
                    self._known[group] = (now + PEERS_TTL, found[group])
            answers.update(found)
        return answers

    def forget(self, group: str) -> None:
        """Read ``group``'s members again before the next send (a process joined it)."""
        self._known.pop(group, None)
        self._generation[group] = self._generation.get(group, 0) + 1


async def _members_of(groups: list[str], own: str) -> dict[str, frozenset[str] | None]:
    found = registry()
    if found is None:
        return dict.fromkeys(groups)
    try:
        members = await found.members_of(groups)
    except Exception:  # noqa: BLE001 - Redis trouble: fall back to group_send (which logs)
        return dict.fromkeys(groups)
    return {group: members[group] - {own} for group in groups}


async def send_events(channel: str, events: list[dict[str, Any]]) -> None:
    """Hand ``events`` to one other process's hub, in order, a few layer messages at most."""
    layer = get_channel_layer()
    for start in range(0, len(events), EVENTS_PER_MESSAGE):
        message = {
            "type": "chat.event",
            "kind": "batch",
            "events": events[start : start + EVENTS_PER_MESSAGE],
        }
        try:
            async with layer_slots.slot(layer):
                await layer.send(channel, message)
        except ChannelFull:
            # A peer that stopped reading, or died (until its entry expires). If it
            # is alive, its connections fill the gap from history.
            now = time.monotonic()
            if now - _full_warned.get(channel, -FULL_WARNING_INTERVAL) >= FULL_WARNING_INTERVAL:
                _full_warned[channel] = now
                logger.warning("peer channel full (a dead process?), dropping channel=%s", channel)
            return
        except Exception as exc:  # noqa: BLE001 - the layer raises many types when Redis is down
            logger.warning("broadcast failed channel=%s: %r", channel, exc)
            return


class Arrival:
    """The acknowledgements a hub awaits after announcing that it joined a room group.

    Created before the announcement goes out (an answer may come back at once).
    """

    def __init__(self, waiting: frozenset[str]) -> None:
        self.waiting = set(waiting)
        self._done = asyncio.get_running_loop().create_future()
        if not self.waiting:
            self._done.set_result(None)

    def acknowledged(self, channel: str) -> None:
        """``channel``'s process has forgotten what it knew of the group's members."""
        self.waiting.discard(channel)
        if not self.waiting and not self._done.done():
            self._done.set_result(None)

    async def wait(self, timeout: float) -> frozenset[str]:  # noqa: ASYNC109 - a bound is the point
        """Wait for every answer, at most ``timeout`` seconds; the channels still silent."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._done), max(0.0, timeout))
        return frozenset(self.waiting)


peers = Peers()
