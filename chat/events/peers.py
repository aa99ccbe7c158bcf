"""The other processes serving a room, and handing them a batch of events at once.

channels-redis' ``group_send`` costs four Redis round trips per event and brings
the sender its own copy back (a process is a member of its rooms' groups too), to
be received, decoded and skipped. Instead, each process's hub keeps its rooms in
the chat's own registry in Redis (``PeerRegistry``: one sorted set per room group,
hub channels scored by when their entry expires), renewed every refresh, so a dead
process drops out within ``PEER_TTL``. A publisher reads a room's entries (cached
for ``PEERS_TTL``; a process joining a room announces itself, so the others read
again at once) and sends each *other* process one layer message per publish batch
holding all its events, in order. With one process per room nothing is sent at
all; with several, a busy moment costs one layer message per peer, not one per
event. Without Redis (embedded mode) or when the registry cannot be read, the
publisher falls back to ``group_send``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

from chat.conf import chat_settings
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
        self._redis = redis_clients.client(url, timeout=2)

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

    async def unregister(self, group: str, channel: str) -> None:
        """``channel`` no longer serves ``group``."""
        await self._redis.zrem(self.key(group), channel)

    async def close(self) -> None:
        """Close the client's connections."""
        await self._redis.aclose()

    async def members(self, group: str) -> frozenset[str]:
        """The hub channels whose entry for ``group`` has not expired."""
        found = await self._redis.zrangebyscore(self.key(group), time.time(), "+inf")
        return frozenset(member.decode() for member in found)


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

    async def channels(self, group: str, own: str) -> frozenset[str] | None:
        """The hub channels other than ``own`` in ``group``; None: unknown (send to the group)."""
        now = time.monotonic()
        known = self._known.get(group)
        if known is not None and known[0] > now:
            return known[1]
        found = await _members(group, own)
        self._known[group] = (now + PEERS_TTL, found)
        return found

    def forget(self, group: str) -> None:
        """Read ``group``'s members again before the next send (a process joined it)."""
        self._known.pop(group, None)


async def _members(group: str, own: str) -> frozenset[str] | None:
    found = registry()
    if found is None:
        return None
    try:
        members = await found.members(group)
    except Exception:  # noqa: BLE001 - Redis trouble: fall back to group_send (which logs)
        return None
    return members - {own}


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


peers = Peers()
