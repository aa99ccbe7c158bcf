"""Writes of read positions: the coalesced saves and the position made on first opening.

Synchronous services, called from the realtime layer's database thread (and usable
from the shell): ``save_read_positions`` writes what ``chat.stores.read_positions``
gathered, ``open_read_positions`` gives a connection its user's position in a room,
creating it (which puts the room in the user's sidebar) on the first visit.
A position never goes backwards, whichever tab, process or save comes last.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from chat.models import ReadPosition

Position = tuple[int, int, int]  # user id, room id, seq

_TABLE = ReadPosition._meta.db_table
_RAISE_SQL = (
    f"UPDATE {_TABLE} SET seq = %s, updated_at = %s "  # noqa: S608 - our own table name
    "WHERE user_id = %s AND room_id = %s AND seq < %s"
)

# Rows per statement: a few hundred parameters, under every database's limit.
CHUNK = 200


def save_read_positions(positions: list[Position]) -> int:
    """Raise each (user, room) position to its seq, never lowering one; the rows changed.

    A flush of a busy process holds hundreds of positions (everyone who wrote in the
    last seconds): a select, one prepared update and an insert per chunk of
    ``CHUNK``, since they share the database thread with the messages.
    """
    best: dict[tuple[int, int], int] = {}
    for user_id, room_id, seq in positions:
        best[(user_id, room_id)] = max(seq, best.get((user_id, room_id), -1))
    if not best:
        return 0
    now = timezone.now()
    changed = 0
    keys = list(best)
    with transaction.atomic():
        for start in range(0, len(keys), CHUNK):
            chunk = {key: best[key] for key in keys[start : start + CHUNK]}
            changed += _save_chunk(chunk, now)
    return changed


def _save_chunk(best: dict[tuple[int, int], int], now) -> int:
    rows = _rows(best)
    raised = [(key, seq) for key, seq in best.items() if key in rows and rows[key][1] < seq]
    if raised:
        # One statement run for every row (a prepared statement on SQLite, a pipeline
        # with psycopg): an ORM CASE over hundreds of rows took a second to build and
        # run on SQLite, holding up the messages' commits on the database thread.
        # "seq < new": a save that raced ahead of this one is never lowered.
        stamp = connection.ops.adapt_datetimefield_value(now)
        with connection.cursor() as cursor:
            cursor.executemany(
                _RAISE_SQL,
                [(seq, stamp, user_id, room_id, seq) for (user_id, room_id), seq in raised],
            )
    missing = [
        ReadPosition(user_id=user_id, room_id=room_id, seq=seq, updated_at=now)
        for (user_id, room_id), seq in best.items()
        if (user_id, room_id) not in rows
    ]
    if missing:
        ReadPosition.objects.bulk_create(missing, ignore_conflicts=True)
    return len(raised) + len(missing)


def open_read_positions(opens: list[tuple[int, int, int]]) -> dict[tuple[int, int], int]:
    """For (user id, room id, room's last seq) of connections opening a room: each user's
    position there, by (user id, room id).

    A first visit creates the position at the room's newest message: the user has not
    left anything unread yet, so no "new since you left" line, and the room joins the
    user's sidebar from now on. Two queries per ``CHUNK`` connections.
    """
    wanted = {(user_id, room_id): last_seq for user_id, room_id, last_seq in opens}
    found: dict[tuple[int, int], int] = {}
    keys = list(wanted)
    for start in range(0, len(keys), CHUNK):
        chunk = {key: wanted[key] for key in keys[start : start + CHUNK]}
        rows = _rows(chunk)
        found.update({key: seq for key, (_, seq) in rows.items()})
        missing = {key: seq for key, seq in chunk.items() if key not in rows}
        if missing:
            now = timezone.now()
            ReadPosition.objects.bulk_create(
                [
                    ReadPosition(user_id=user_id, room_id=room_id, seq=seq, updated_at=now)
                    for (user_id, room_id), seq in missing.items()
                ],
                ignore_conflicts=True,  # another tab's connect made it meanwhile: same start
            )
            found.update(missing)
    return found


def _rows(keys) -> dict[tuple[int, int], tuple[int, int]]:
    """The existing rows of (user id, room id) ``keys``: their pk and seq."""
    users = {user_id for user_id, _ in keys}
    rooms = {room_id for _, room_id in keys}
    rows = ReadPosition.objects.filter(user_id__in=users, room_id__in=rooms).values_list(
        "pk", "user_id", "room_id", "seq"
    )
    return {(u, r): (pk, s) for pk, u, r, s in rows if (u, r) in keys}
