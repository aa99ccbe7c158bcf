"""The room's order of changes: each edit, deletion, restore or reaction gets a number.

Messages are numbered by ``seq``; changes to them by ``Room.last_change``, a second
gapless counter (see ``chat.models.RoomChange``). Numbering happens inside the
change's transaction, so a change is numbered exactly when it commits.
"""

from __future__ import annotations

from django.db.models import F

from chat.models import Message, Room, RoomChange


def record_change(*, message: Message, kind: str, actor) -> RoomChange:
    """Number a change to ``message`` (call inside the change's transaction).

    The ``UPDATE`` takes the room row's lock (on PostgreSQL; SQLite serialises
    writers), so numbers are gapless and in commit order, and ``after_seq`` is the
    room's last message at that moment.
    """
    Room.objects.filter(pk=message.room_id).update(last_change=F("last_change") + 1)
    number, last_seq = Room.objects.filter(pk=message.room_id).values_list(
        "last_change", "last_seq"
    )[0]
    return RoomChange.objects.create(
        room_id=message.room_id,
        number=number,
        after_seq=last_seq,
        message=message,
        kind=kind,
        actor=actor,
    )
