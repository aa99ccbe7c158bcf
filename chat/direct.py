"""Direct messages: private rooms of two to ``CHAT_DM_MAX_MEMBERS`` people, and blocks.

A DM is a ``Room`` of kind ``dm``: private, its participants its members, nobody its
moderator (staff who moderate every room still do), so it has every guarantee of a
room (durable, ordered, recoverable, moderated) and the room's access rules decide
who reads it. It is never listed in the lobby. A one-to-one DM has a stable slug
(``dm-<low id>-<high id>``), so opening it twice finds the same room; a group DM is
found again by the set of people it was opened for (``Room.dm_key``, unique among
open rooms), so people opening the same group at the same moment get one room.

The page's "Message" action, the HTTP API, the CLI and the shell call these
functions; refusals are ``ChatError`` and store nothing.
"""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from chat import services
from chat.conf import chat_settings
from chat.events import activity
from chat.events.publisher import publish_on_commit
from chat.models import Block, ModerationAction, Room
from chat.wire.errors import ChatError, ErrorCode

User = AbstractBaseUser

# A DM's title: its members' names, cut to fit ``Room.title``.
TITLE_LENGTH = 100


def pair_slug(a: User, b: User) -> str:
    """The slug of the one-to-one DM of ``a`` and ``b`` (the same either way round)."""
    low, high = sorted((a.pk, b.pk))
    return f"dm-{low}-{high}"


def is_dm(room: Room) -> bool:
    """Whether ``room`` is a direct-message conversation."""
    return room.kind == Room.Kind.DM


def blocks(*, blocker: User, blocked: User) -> bool:
    """Whether ``blocker`` takes no new DMs from ``blocked``."""
    return Block.objects.filter(blocker=blocker, blocked=blocked).exists()


def _people(by: User, users: list[User]) -> list[User]:
    """``by`` and ``users`` without repeats, checked: active, not ``by`` alone, not too
    many, and nobody who blocked ``by``."""
    others: dict[int, User] = {}
    for user in users:
        if user.pk is None or not user.is_active:
            raise ChatError(ErrorCode.NOT_FOUND, f"there is no user called “{user}”")
        if user.pk != by.pk:
            others[user.pk] = user
    if not others:
        raise ChatError(ErrorCode.BAD_REQUEST, "pick someone other than yourself")
    limit = chat_settings().dm_max_members
    if len(others) + 1 > limit:
        raise ChatError(ErrorCode.BAD_REQUEST, f"a direct conversation has at most {limit} people")
    blocker_id = (
        Block.objects.filter(blocker_id__in=others, blocked=by)
        .values_list("blocker_id", flat=True)
        .first()
    )
    if blocker_id is not None:
        raise ChatError(
            ErrorCode.FORBIDDEN,
            f"{others[blocker_id].get_username()} does not take direct messages from you",
        )
    return [by, *others.values()]


def _title(people: list[User]) -> str:
    title = ", ".join(sorted(u.get_username() for u in people))
    return title if len(title) <= TITLE_LENGTH else title[: TITLE_LENGTH - 1] + "…"


def group_key(people: list[User]) -> str:
    """``Room.dm_key`` of the group DM of ``people``: the same for any order."""
    ids = sorted({u.pk for u in people})
    return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()


def _open_group(people: list[User], by: User) -> Room:
    """The open group DM of ``people``, made if there is none.

    The unique key decides a race: of two transactions creating it at once, the
    second's insert waits for the first to commit, fails, and finds its room.
    """
    key = group_key(people)
    try:
        with transaction.atomic():  # a savepoint: the failed insert leaves the rest
            room, _ = Room.objects.get_or_create(
                dm_key=key,
                is_archived=False,
                defaults={
                    "slug": f"dm-g-{secrets.token_hex(8)}",
                    "kind": Room.Kind.DM,
                    "is_private": True,
                    "title": _title(people),
                    "created_by": by,
                },
            )
    except IntegrityError:
        room = Room.objects.get(dm_key=key, is_archived=False)
    return room


@transaction.atomic
def open_dm(*, by: User, users: list[User]) -> Room:
    """The DM of ``by`` with ``users``: the existing one, or a new one.

    One other user: the one-to-one DM (stable slug). More: the open group DM opened
    for exactly these people (``group_key``), one room even when they open it at the
    same moment. Someone who had left it is a member again. Refuses (``ChatError``,
    nothing stored): more than ``CHAT_DM_MAX_MEMBERS`` people with ``by``
    (``bad_request``), an inactive user (``not_found``), only ``by`` themselves
    (``bad_request``), and anyone who blocked ``by`` (``forbidden``).
    """
    people = _people(by, users)
    if len(people) == 2:
        slug = pair_slug(*people)
        try:
            # A savepoint: two people opening the same DM at once both get it.
            with transaction.atomic():
                room, _ = Room.objects.get_or_create(
                    slug=slug,
                    defaults={
                        "kind": Room.Kind.DM,
                        "is_private": True,
                        "title": _title(people),
                        "created_by": by,
                    },
                )
        except IntegrityError:
            room = Room.objects.get(slug=slug)
    else:
        room = _open_group(people, by)
    if not is_dm(room):
        raise ChatError(ErrorCode.BAD_REQUEST, f"the address “{room.slug}” is taken by a room")
    already = set(room.members.values_list("pk", flat=True))
    room.members.add(*people)
    # The others' open sidebars (/ws/me/) get the conversation at once: a ``read`` at
    # seq 0 is how a room new to a sidebar joins it, and starts its activity.
    publish_on_commit(
        *(
            activity.read_event(user.pk, room.pk, room.slug, 0)
            for user in people
            if user.pk != by.pk and user.pk not in already
        )
    )
    return room


def block_user(*, by: User, user: User) -> bool:
    """``by`` takes no new DMs from ``user``; False when they already did not.

    Conversations they already share stay (either can leave them)."""
    if user.pk == by.pk:
        raise ChatError(ErrorCode.BAD_REQUEST, "you cannot block yourself")
    _, created = Block.objects.get_or_create(blocker=by, blocked=user)
    return created


def unblock_user(*, by: User, user: User) -> bool:
    """``by`` takes DMs from ``user`` again; False when there was no block."""
    deleted, _ = Block.objects.filter(blocker=by, blocked=user).delete()
    return bool(deleted)


def record_view(*, room: Room, by: User) -> bool:
    """Audit ``by`` opening the DM ``room`` when they are not in it (staff who read
    every room): a ``dm_view`` entry with who and when. Returns whether one was made."""
    if not is_dm(room) or not by.is_authenticated:
        return False
    if room.members.filter(pk=by.pk).exists():
        return False
    services.audit(kind=ModerationAction.Kind.DM_VIEW, by=by, room=room)
    return True


def page_context(*, room: Room, user: User) -> dict | None:
    """What the room page shows of a one-to-one DM: the other person and whether
    ``user`` blocks them (None for rooms and group DMs)."""
    if not is_dm(room) or room.slug.startswith("dm-g-"):
        return None
    other = room.members.exclude(pk=user.pk).first()
    if other is None or not room.members.filter(pk=user.pk).exists():
        return None
    return {"other": other.get_username(), "blocked": blocks(blocker=user, blocked=other)}
