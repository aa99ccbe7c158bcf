"""Writes of read positions: the coalesced saves and the position made on first opening.

Synchronous services, called from the realtime layer's database thread (and usable
from the shell): ``save_read_positions`` writes what ``chat.stores.read_positions``
gathered, ``open_read_positions`` gives a connection its user's position in a room,
creating it (which puts the room in the user's sidebar) on the first visit.
A position never goes backwards, whichever tab, process or save comes last.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from chat.models import ReadPosition

Position = tuple[int, int, int]  # user id, room id, seq


def save_read_positions(positions: list[Position]) -> int:
    """Raise each (user, room) position to its seq, never lowering one; the rows changed.

    One query to read the current rows, one per raised row, one to create the missing.
    """
    best: dict[tuple[int, int], int] = {}
    for user_id, room_id, seq in positions:
        best[(user_id, room_id)] = max(seq, best.get((user_id, room_id), -1))
    if not best:
        return 0
    now = timezone.now()
    changed = 0
    with transaction.atomic():
        current = _current(best)
        missing = []
        for (user_id, room_id), seq in best.items():
            if (user_id, room_id) not in current:
                missing.append(
                    ReadPosition(user_id=user_id, room_id=room_id, seq=seq, updated_at=now)
                )
            elif current[(user_id, room_id)] < seq:
                # seq__lt: a save that raced ahead of this one is never lowered.
                changed += ReadPosition.objects.filter(
                    user_id=user_id, room_id=room_id, seq__lt=seq
                ).update(seq=seq, updated_at=now)
        if missing:
            ReadPosition.objects.bulk_create(missing, ignore_conflicts=True)
            changed += len(missing)
    return changed


def open_read_positions(opens: list[tuple[int, int, int]]) -> dict[tuple[int, int], int]:
    """For (user id, room id, room's last seq) of connections opening a room: each user's
    position there, by (user id, room id).

    A first visit creates the position at the room's newest message: the user has not
    left anything unread yet, so no "new since you left" line, and the room joins the
    user's sidebar from now on. Two queries whatever the number of connections.
    """
    wanted = {(user_id, room_id): last_seq for user_id, room_id, last_seq in opens}
    if not wanted:
        return {}
    found = _current(wanted)
    missing = {key: seq for key, seq in wanted.items() if key not in found}
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


def _current(keys) -> dict[tuple[int, int], int]:
    users = {user_id for user_id, _ in keys}
    rooms = {room_id for _, room_id in keys}
    rows = ReadPosition.objects.filter(Q(user_id__in=users) & Q(room_id__in=rooms)).values_list(
        "user_id", "room_id", "seq"
    )
    return {(u, r): s for u, r, s in rows if (u, r) in keys}
