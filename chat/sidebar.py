"""The rooms of a user's sidebar, with how much is new in each: unread and mention counts.

Read once per page load and per ``/ws/me/`` connect; live changes then come as
``activity`` and ``read`` frames (``chat.realtime.watchers``). Synchronous, database
only: the caller passes the positions newer than the database (``overlay``, from
``chat.stores.read_positions``).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import reduce

from django.db.models import Count, Q
from django.utils import timezone

from chat import selectors
from chat.models import Ban, Mention, Message, ReadPosition, Room

# Rooms shown, most recently active first.
SIDEBAR_LIMIT = 50
# Above this many messages after the read position the unread count is the seq
# difference (deleted messages and the user's own included), not a COUNT over the
# range: a user back after a month in a busy room must not cost a long index scan.
EXACT_UNREAD_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class SidebarRoom:
    """One room of the sidebar, as the ``ready`` frame of ``/ws/me/`` sends it."""

    room_id: int
    slug: str
    title: str
    is_private: bool
    last_seq: int
    read_seq: int
    unread: int
    mentions: int

    def wire(self) -> dict:
        """The room's object in the ``rooms`` list of the ``/ws/me/`` ``ready`` frame."""
        return {
            "slug": self.slug,
            "title": self.title,
            "private": self.is_private,
            "last_seq": self.last_seq,
            "read_seq": self.read_seq,
            "unread": self.unread,
            "mentions": self.mentions,
        }


def sidebar_rooms(user) -> list[Room]:
    """The user's rooms: those they have a read position in, and private rooms they belong
    to; archived rooms, private rooms they may no longer read and rooms they are banned
    from are left out."""
    rooms = Room.objects.filter(is_archived=False).filter(
        Q(read_positions__user=user) | Q(is_private=True, members=user)
    )
    if not selectors.reads_every_room(user):
        rooms = rooms.filter(Q(is_private=False) | Q(members=user) | Q(moderators=user))
    # Staff who looked into someone's DM do not get it in their sidebar.
    rooms = rooms.filter(~Q(kind=Room.Kind.DM) | Q(members=user))
    # Nor rooms the user is banned from (they cannot open them).
    banned = Ban.objects.filter(selectors.in_force(timezone.now()), user=user).values("room_id")
    rooms = rooms.exclude(pk__in=banned)
    return list(rooms.distinct().order_by("-last_message_at", "slug")[:SIDEBAR_LIMIT])


def sidebar(user, *, overlay: dict[int, int] | None = None) -> list[SidebarRoom]:
    """The user's rooms with unread and mention counts: at most four queries."""
    rooms = sidebar_rooms(user)
    if not rooms:
        return []
    positions = dict(
        ReadPosition.objects.filter(user=user, room__in=rooms).values_list("room_id", "seq")
    )
    for room_id, seq in (overlay or {}).items():
        positions[room_id] = max(seq, positions.get(room_id, 0))
    behind = {r.pk: positions.get(r.pk, 0) for r in rooms if r.last_seq > positions.get(r.pk, 0)}
    last = {room.pk: room.last_seq for room in rooms}
    exact = {pk: seq for pk, seq in behind.items() if last[pk] - seq <= EXACT_UNREAD_LIMIT}
    unread = _counts(Message.objects.filter(deleted_at__isnull=True).exclude(author=user), exact)
    mentions = _counts(Mention.objects.filter(user=user, message__deleted_at__isnull=True), behind)
    room_mentions = _counts(
        Message.objects.filter(mentions_room=True, deleted_at__isnull=True).exclude(author=user),
        behind,
    )
    return [
        SidebarRoom(
            room_id=room.pk,
            slug=room.slug,
            title=room.title,
            is_private=room.is_private,
            last_seq=room.last_seq,
            read_seq=positions.get(room.pk, 0),
            unread=(
                unread.get(room.pk, 0)
                if room.pk in exact
                else max(0, room.last_seq - positions.get(room.pk, 0))
            ),
            mentions=mentions.get(room.pk, 0) + room_mentions.get(room.pk, 0),
        )
        for room in rooms
    ]


def _counts(queryset, after: dict[int, int]) -> dict[int, int]:
    """Rows of ``queryset`` with ``seq`` after each room's position, counted by room: one query."""
    if not after:
        return {}
    ranges = reduce(
        operator.or_, (Q(room_id=room_id, seq__gt=seq) for room_id, seq in after.items())
    )
    rows = queryset.filter(ranges).values("room_id").annotate(n=Count("pk")).order_by()
    return {row["room_id"]: row["n"] for row in rows}
