"""Read positions on their way from a tab to the database and to the user's other tabs.

A ``read`` frame raises the position in the store (``chat.stores.read_positions``):
in memory, plus Redis in Redis mode. A position that moved is sent at once to the
user's sidebars on every process (``activity.read_event``). The user's own message
moves it too (saved only: the room's ``activity`` tells the sidebars). The database
gets it later, coalesced: this loop's flusher writes the positions whose first
unsaved advance is ``FLUSH_INTERVAL`` old, and a closing connection's at its next
round (``save_soon``). So reading costs no database write per message, and at most
one per user and room every few seconds, a few statements for every ``SAVE_CHUNK``
of them (one trip to the database thread each, so the messages' commits go between).
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async

from chat import unread
from chat.events import activity, peers
from chat.realtime.batching import loop_batcher
from chat.realtime.hub import Hub
from chat.stores.read_positions import FLUSH_INTERVAL, Position, read_positions

logger = logging.getLogger(__name__)

# Positions per trip to the database thread (see ``_save``): a trip of this size takes
# a few milliseconds, the longest a batch of messages waits behind it.
SAVE_CHUNK = 50

_flushers: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}
# Positions moved by posts, waiting for ``_mark_queued`` (see ``mark_later``).
_later: dict[asyncio.AbstractEventLoop, dict[tuple[int, int], tuple[str, int]]] = {}
_later_tasks: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


async def _open(opens: list[tuple[int, int, int]]) -> list[int]:
    found = await database_sync_to_async(unread.open_read_positions)(opens)
    return [found[(user_id, room_id)] for user_id, room_id, _ in opens]


async def opened(*, user_id: int, room_id: int, last_seq: int) -> int:
    """The user's read position in a room they are opening (created on the first visit).

    The newest of the database's and the store's (a read a moment ago, not yet
    saved). Connections arriving together share one database trip.
    """
    stored = await loop_batcher("read_opens", _open, max_batch=500).submit(
        (user_id, room_id, last_seq)
    )
    known = await read_positions().known(user_id, [room_id])
    return max(stored, known.get(room_id, 0))


def opened_soon(*, user_id: int, room_id: int, last_seq: int) -> asyncio.Task[int]:
    """``opened`` in a task of its own: a connection awaits it after its other joining work.

    A connection refused meanwhile never awaits it: its failure is logged, not raised.
    """
    task = asyncio.get_running_loop().create_task(
        opened(user_id=user_id, room_id=room_id, last_seq=last_seq)
    )
    task.add_done_callback(_consume)
    return task


def _consume(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("read position not read: %r", task.exception())


async def mark(*, user_id: int, room_id: int, slug: str, seq: int, post: bool = False) -> bool:
    """Raise the user's position in a room to ``seq``; True when it moved.

    A move is sent to the user's sidebars on every process, and saved by this loop's
    flusher within ``FLUSH_INTERVAL``. A ``post`` (the user wrote message ``seq``)
    is only saved: the room's ``activity`` tells the sidebars (``watchers``), and no
    Redis call is made per message.
    """
    moved = await read_positions().advance(user_id, room_id, seq, shared=not post)
    if moved:
        _ensure_flusher()
        if not post:
            await _send_read(activity.read_event(user_id, room_id, slug, seq).event)
    return moved


async def _send_read(event: dict) -> None:
    """A ``read`` event to the user's sidebars: this process's, then each other process
    serving one (the peer registry's ``chat.user.<id>`` entries).

    Not through the publisher: its registry read must not hold up messages.
    """
    hub = Hub.existing()
    if hub is None or hub.channel is None:
        return  # no hub, no sidebar here; and nobody to find the others' from
    await hub.watchers.dispatch(event)
    if peers.registry() is None:
        return  # embedded mode: this is the only process
    channels = await peers.peers.channels(activity.user_group(event["user"]), hub.channel)
    for channel in channels or ():
        await peers.send_events(channel, [event])


def mark_later(*, user_id: int, room_id: int, slug: str, seq: int) -> None:
    """``mark`` without waiting: a sender's next message must not wait for the store.

    Marks queued meanwhile for the same user and room collapse into the highest.
    """
    loop = asyncio.get_running_loop()
    queue = _later.setdefault(loop, {})
    key = (user_id, room_id)
    if seq > queue.get(key, ("", -1))[1]:
        queue[key] = (slug, seq)
    task = _later_tasks.get(loop)
    if task is None or task.done():
        for old in [old for old in _later_tasks if old.is_closed()]:
            _later_tasks.pop(old, None)
            _later.pop(old, None)
        _later_tasks[loop] = loop.create_task(_mark_queued(queue))


async def _mark_queued(queue: dict[tuple[int, int], tuple[str, int]]) -> None:
    while queue:
        (user_id, room_id), (slug, seq) = queue.popitem()
        try:
            await mark(user_id=user_id, room_id=room_id, slug=slug, seq=seq, post=True)
        except Exception as exc:  # noqa: BLE001 - a lost mark: the next read says it again
            logger.warning("read position not marked user=%s room=%s: %r", user_id, room_id, exc)


def save_soon(*, user_id: int, room_id: int) -> None:
    """Save the user's unsaved position in a room at the flusher's next round (within a
    second), not after its window: a closing connection. No database trip of its own:
    a thousand connections closing at once make one write, not a thousand."""
    if read_positions().pending.make_due(user_id, room_id):
        _ensure_flusher()


async def flush(*, user_id: int, room_id: int | None = None) -> None:
    """Save the user's unsaved positions now (a closing connection): in one room, or all."""
    await _save(read_positions().pending.take(user_id, room_id))


async def flush_all() -> None:
    """Save every unsaved position of this process (shutdown, tests)."""
    await _save(read_positions().pending.take_all())


async def _save(positions: list[Position]) -> None:
    """Save ``positions``, ``SAVE_CHUNK`` at a time, each chunk its own trip to the
    database thread (and its own transaction).

    That thread also commits the messages: a busy process's flush (hundreds of
    positions) saved in one trip held it 50-100 ms, and every send queued behind it
    (scenario 3 of the benchmark: the p99 of the rounds with such a flush was double
    the others'). Between two chunks a waiting batch of messages goes first.
    Positions are independent rows that never go backwards, so a chunk saved without
    the next loses nothing; a failed chunk and those after it are kept for the next
    round.
    """
    for start in range(0, len(positions), SAVE_CHUNK):
        chunk = positions[start : start + SAVE_CHUNK]
        try:
            await database_sync_to_async(unread.save_read_positions)(chunk)
        except Exception as exc:  # noqa: BLE001 - database busy or down: the next round retries
            rest = positions[start:]
            logger.warning("read positions not saved count=%d: %r", len(rest), exc)
            pending = read_positions().pending
            for user_id, room_id, seq in rest:
                pending.note(user_id, room_id, seq)
            return


def _ensure_flusher() -> None:
    loop = asyncio.get_running_loop()
    task = _flushers.get(loop)
    if task is None or task.done():
        for old in [old for old in _flushers if old.is_closed()]:
            del _flushers[old]
        _flushers[loop] = loop.create_task(_flush_forever(), name="chat-read-flusher")


async def _flush_forever() -> None:
    # Wakes twice per window, so a position waits at most 1.5 windows; stops when
    # nothing is left to save (the next advance starts it again).
    pending = read_positions().pending
    while True:
        await asyncio.sleep(FLUSH_INTERVAL / 2)
        try:
            await _save(pending.take_due())
        except Exception:  # pragma: no cover - _save logs its own failures
            logger.exception("read flush failed")
        if not pending.seqs:
            return
