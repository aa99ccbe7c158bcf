"""Storing ``@mentions``: who a message mentions, as ``Mention`` rows and ``mentions_room``.

Called inside the transaction that stores (or edits) the messages. The grammar is
``chat.wire.mentions``; this module decides which names count: a user who exists,
is active, is not the author, and can read the room (not banned; in a private room a
member, a moderator, or staff who reads every room). ``@room`` counts only from the
room's moderators (and staff moderators); from anyone else it is plain text, not an
error. It is stored as ``Message.mentions_room``, never as one row per reader.

Cost: a message without ``@`` costs nothing. A batch with mentions costs a fixed
number of queries whatever its size (users by name, bans, and for private rooms
memberships and moderators; one INSERT), except one permission lookup per staff user
(not superuser) mentioned in a private room they are not a member of.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from chat import hot_sql, selectors
from chat.models import Ban, Mention, Message, Room
from chat.wire import mentions as grammar

Pair = tuple[int, int]  # (room id, user id)


def store(
    messages: Iterable[Message], *, moderators: set[Pair], now: datetime | None = None
) -> None:
    """Parse and store the mentions of freshly inserted ``messages`` (with ids).

    ``moderators``: the (room, author) pairs whose author moderates the room, as the
    post path already knows them. Sets ``message.chat_mentions`` (the usernames, for
    the payload) on every message that has an ``@``, and ``mentions_room``.
    """
    found = {}
    for message in messages:
        if "@" in message.body:
            # Set even when nothing resolves, so the payload asks no query for it.
            message.chat_mentions = []
            names = grammar.find(message.body)
            if names.names or names.room:
                found[message] = names
    if not found:
        return
    room_wide = [
        message
        for message, names in found.items()
        if names.room and (message.room_id, message.author_id) in moderators
    ]
    if room_wide:
        Message.objects.filter(pk__in=[message.pk for message in room_wide]).update(
            mentions_room=True
        )
        for message in room_wide:
            message.mentions_room = True
    _store_names(found, now or timezone.now())


def store_for(message: Message) -> list[str]:
    """Re-read the mentions of one stored ``message`` after its body changed (an edit).

    Replaces its ``Mention`` rows and ``mentions_room``; call it inside the edit's
    transaction. Returns the usernames it mentions now (also in
    ``message.chat_mentions``).
    """
    Mention.objects.filter(message=message).delete()
    names = grammar.find(message.body)
    room_wide = names.room and selectors.is_moderator(room=message.room, user=message.author)
    if room_wide != message.mentions_room:
        Message.objects.filter(pk=message.pk).update(mentions_room=room_wide)
        message.mentions_room = room_wide
    message.chat_mentions = []
    if names.names:
        _store_names({message: names}, timezone.now())
    return message.chat_mentions


def _store_names(found: dict[Message, grammar.Found], now: datetime) -> None:
    wanted = set().union(*(names.candidates() for names in found.values()))
    if not wanted:
        return
    users = _users_named(wanted)
    chosen: dict[Message, list[AbstractBaseUser]] = {}
    for message, names in found.items():
        picked = [users[name] for name in grammar.resolve(names, users)]
        chosen[message] = [user for user in picked if user.pk != message.author_id]
    pairs = {(message.room_id, user.pk) for message, picked in chosen.items() for user in picked}
    rooms = {message.room_id: message.room for message in found}
    readers = _readers(pairs, rooms, {user.pk: user for user in users.values()}, now)
    rows = []
    for message, picked in chosen.items():
        for user in picked:
            if (message.room_id, user.pk) in readers:
                rows.append(
                    Mention(message=message, user=user, room_id=message.room_id, seq=message.seq)
                )
                message.chat_mentions.append(user.get_username())
    if rows:
        Mention.objects.bulk_create(rows)


def _users_named(names: set[str]) -> dict[str, AbstractBaseUser]:
    """Active users by their ``USERNAME_FIELD``, for the given names: one query.

    Names compare exactly, as Django's own sign-in does, so the unique index on the
    field answers it.
    """
    model = get_user_model()
    field = model.USERNAME_FIELD
    found = model._default_manager.filter(**{f"{field}__in": names})
    return {
        user.get_username(): user for user in found if getattr(user, "is_active", True) is not False
    }


def _readers(
    pairs: set[Pair], rooms: dict[int, Room], users: dict[int, AbstractBaseUser], now: datetime
) -> set[Pair]:
    """The (room, user) pairs whose user can read the room (``selectors.room_for_user``'s
    rule): not banned; in a private room a member, a moderator or staff reading every room."""
    if not pairs:
        return set()
    banned = {
        (ban.room_id, ban.user_id)
        for ban in hot_sql.rows_matching(Ban, ("room", "user"), pairs, in_force_at=now)
    }
    private = {pair for pair in pairs if rooms[pair[0]].is_private} - banned
    allowed = set()
    if private:
        for through in (Room.members.through, Room.moderators.through):
            allowed |= {
                (row.room_id, row.user_id)
                for row in hot_sql.rows_matching(through, ("room", "user"), private)
            }
        # Staff are few; only they need a permission lookup (cached on the user).
        allowed |= {
            pair
            for pair in private - allowed
            if _is_staff(users[pair[1]]) and selectors.reads_every_room(users[pair[1]])
        }
    return (pairs - banned - private) | allowed


def _is_staff(user: AbstractBaseUser) -> bool:
    return bool(getattr(user, "is_staff", False) or getattr(user, "is_superuser", False))
