"""The other processes listening to a room, and handing them a batch of events at once.

channels-redis' ``group_send`` costs four Redis round trips per event and brings
the sender its own copy back (a process is a member of its rooms' groups too), to
be received, decoded and skipped. Instead, a process reads a room group's members
(cached for ``PEERS_TTL``; a process joining a room announces itself, so the others
read again at once) and sends each *other* process one layer message per publish
batch holding all its events, in order. With one process per room nothing is sent
at all; with several, a busy moment costs one layer message per peer, not one per
event.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

# How long a process trusts what it read about a room group's members. Bounds the time
# a lost join notice can cost: the joiner fills such gaps from history meanwhile.
PEERS_TTL = 1.0
# Events per layer message (bounds one Redis value).
EVENTS_PER_MESSAGE = 200
# A dead peer's channel stays full for a day: say so once a minute, not per batch.
FULL_WARNING_INTERVAL = 60.0
_full_warned: dict[str, float] = {}


class Peers:
    """The other processes' hub channels in each room group, read from channels-redis."""

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
    layer = get_channel_layer()
    group_key = getattr(layer, "_group_key", None)
    if group_key is None:
        return None  # not channels-redis, whose group storage this reads
    try:
        connection = layer.connection(layer.consistent_hash(group))
        members = await connection.zrangebyscore(
            group_key(group), min=int(time.time()) - layer.group_expiry, max="+inf"
        )
    except Exception:  # noqa: BLE001 - Redis trouble: fall back to group_send (which logs)
        return None
    return frozenset(name for member in members if (name := member.decode()) != own)


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
            # A peer that stopped reading, or died (its group memberships outlive it
            # by a day). If it is alive, its connections fill the gap from history.
            now = time.monotonic()
            if now - _full_warned.get(channel, -FULL_WARNING_INTERVAL) >= FULL_WARNING_INTERVAL:
                _full_warned[channel] = now
                logger.warning("peer channel full (a dead process?), dropping channel=%s", channel)
            return
        except Exception as exc:  # noqa: BLE001 - the layer raises many types when Redis is down
            logger.warning("broadcast failed channel=%s: %r", channel, exc)
            return


peers = Peers()
