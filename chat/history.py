"""Reading a room's history: the cache first, the database when the cache cannot prove it.

The database is the truth (the ``cached_db`` session pattern): the cache
(``chat.stores.history_cache``) keeps the latest ``CHAT_CACHE_MESSAGES`` of a room as
``(seq, json)`` entries; an answer comes from it only when it is a gapless run,
otherwise from the database, which then refills the cache.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from channels.db import database_sync_to_async

from chat import metrics, selectors
from chat.conf import chat_settings
from chat.models import Room
from chat.stores import history_cache
from chat.stores.coalesce import FreshRead
from chat.stores.history_cache import Entry, cache, remember
from chat.wire import protocol

logger = logging.getLogger(__name__)

# A reader that finds the cache gapless but a few messages short waits this long
# once before asking the database: the messages committed a moment ago are being
# written there (after commit, beside the broadcast). A reconnect storm otherwise
# sent most of its readers to the database.
TAIL_GRACE = 0.05
TAIL_TRIES = 4  # at most (TAIL_TRIES - 1) * TAIL_GRACE of waiting


def entries_of(payloads: Iterable[dict]) -> list[Entry]:
    return [(payload["seq"], protocol.encode(payload)) for payload in payloads]


def _is_run(entries: list[Entry], first: int | None = None) -> bool:
    if not entries:
        return True
    if first is not None and entries[0][0] != first:
        return False
    return all(b[0] == a[0] + 1 for a, b in zip(entries, entries[1:], strict=False))


# --- reads ------------------------------------------------------------------


async def latest(*, room: Room, count: int, last_seq: int) -> list[Entry]:
    """The newest ``count`` messages of ``room`` (ascending); ``last_seq`` is the room's newest seq.

    A crowd joining a room at once shares the reads (and their parsing): the answer
    depends on nothing but these three arguments.
    """
    return await _shared_latest((room, count, last_seq))


async def _latest(key: tuple[Room, int, int]) -> list[Entry]:
    room, count, last_seq = key
    count = min(count, last_seq)
    if count <= 0:
        return []
    entries = await _from_cache(
        lambda: history_cache.read(cache().tail(room.pk, count), []),
        complete=lambda e: len(e) == count and e[-1][0] >= last_seq and _is_run(e),
        short=lambda e: bool(e) and _is_run(e) and e[-1][0] < last_seq,
    )
    if entries is not None:
        return entries
    fill = max(count, chat_settings().cache_messages)
    payloads = await database_sync_to_async(selectors.messages_before)(
        room=room, before_seq=None, limit=fill
    )
    entries = entries_of(payloads)
    await remember(room.pk, entries)
    return entries[-count:]


async def _from_cache(read, *, complete, short):
    """What ``read()`` gets from the cache once ``complete`` accepts it, else None (ask
    the database). While it is only ``short`` (a gapless run whose newest messages
    are still on their way to the cache) it is read again, up to ``TAIL_TRIES`` times."""
    for attempt in range(TAIL_TRIES):
        found = await read()
        if complete(found):
            metrics.CACHE_LOOKUPS.labels("hit").inc()
            return found
        if attempt == TAIL_TRIES - 1 or not short(found):
            break
        await asyncio.sleep(TAIL_GRACE)
    metrics.CACHE_LOOKUPS.labels("miss").inc()
    return None


_shared_latest: FreshRead[tuple[Room, int, int], list[Entry]] = FreshRead(_latest)


async def after(*, room: Room, seq: int, count: int, last_seq: int) -> list[Entry]:
    """Messages with seq > ``seq`` (ascending, at most ``count``); ``last_seq`` bounds what exists."""
    wanted = min(count, last_seq - seq)
    if wanted <= 0:
        return []

    def covered(found: tuple[list[Entry], int | None]) -> bool:
        entries, lowest = found
        return lowest is not None and lowest <= seq + 1 and _is_run(entries, seq + 1)

    found = await _from_cache(
        lambda: history_cache.read(cache().after(room.pk, seq, wanted), ([], None)),
        complete=lambda found: covered(found) and len(found[0]) == wanted,
        short=covered,
    )
    if found is not None:
        return found[0]
    payloads = await database_sync_to_async(selectors.messages_between)(
        room=room, after_seq=seq, up_to_seq=last_seq, limit=wanted
    )
    return entries_of(payloads)


async def missing(*, room: Room, after_seq: int, before_seq: int) -> list[Entry]:
    """The messages strictly between two seqs a connection has: a gap the layer left."""
    entries = await after(
        room=room, seq=after_seq, count=before_seq - after_seq - 1, last_seq=before_seq - 1
    )
    metrics.GAP_FILLS.inc(len(entries))
    return entries


async def cached_tails(
    seqs: dict[int, int], *, count: int = 100
) -> dict[int, tuple[list[Entry], Entry | None]]:
    """For each room id in ``seqs``, in one cache read: the cached messages right after
    ``seqs[room_id]``, only as far as the cache proves them gapless, and
    the room's newest cached message (None: none, or the cache is unavailable)."""
    if not seqs:
        return {}
    empty = ([], None)
    found = await history_cache.read(cache().tails(seqs, count), {})
    answers = {}
    for room_id, seq in seqs.items():
        entries, newest = found.get(room_id, empty)
        answers[room_id] = (_gapless_after(entries, seq), newest)
    return answers


def _gapless_after(entries: list[Entry], seq: int) -> list[Entry]:
    if not entries or entries[0][0] != seq + 1:
        return []
    run = 1
    while run < len(entries) and entries[run][0] == entries[run - 1][0] + 1:
        run += 1
    return entries[:run]


async def before(*, room: Room, seq: int | None, count: int) -> list[Entry]:
    """The newest ``count`` messages with seq < ``seq`` (all when None), ascending."""
    if seq is None:
        seq = room.last_seq + 1
    wanted = min(count, seq - 1)
    if wanted <= 0:
        return []
    entries, lowest = await history_cache.read(cache().before(room.pk, seq, wanted), ([], None))
    if (
        lowest is not None
        and len(entries) == wanted
        and entries[-1][0] == seq - 1
        and _is_run(entries)
    ):
        metrics.CACHE_LOOKUPS.labels("hit").inc()
        return entries
    metrics.CACHE_LOOKUPS.labels("miss").inc()
    payloads = await database_sync_to_async(selectors.messages_before)(
        room=room, before_seq=seq, limit=wanted
    )
    return entries_of(payloads)
