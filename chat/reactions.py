"""Reactions: a user's emoji from the fixed set on a message, added or taken back.

One service for the consumer, views and the admin alike. A change is numbered in the
room's order of changes (``chat.changes``) inside its transaction and published after
commit as an ``update`` frame with the message's whole current state. Nothing is
stored and nothing published for a change that changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from chat import selectors, services
from chat.changes import record_change
from chat.conf import REACTIONS
from chat.events import outbound
from chat.events.publisher import publish_on_commit
from chat.models import Message, Reaction, Room, RoomChange
from chat.wire.errors import ChatError, ErrorCode

logger = logging.getLogger(__name__)

User = AbstractBaseUser


@dataclass(frozen=True, slots=True)
class ReactionResult:
    """The message's payload after the call; ``change`` is None when nothing changed."""

    message: Message
    payload: dict[str, Any]
    change: int | None


def set_reaction(*, message: Message, user: User, emoji: str, active: bool) -> ReactionResult:
    """Add (``active``) or take back ``user``'s ``emoji`` on ``message``.

    Idempotent: adding a reaction twice, or taking back one that is not there,
    changes nothing, records nothing and publishes nothing (``change`` is None).
    Otherwise records a ``react`` change and publishes ``update`` after commit.
    Raises ``ChatError``, storing nothing: ``bad_reaction`` (emoji outside
    ``chat.conf.REACTIONS``), ``not_found``, ``message_deleted``, and the refusals of
    posting (``forbidden``, ``muted``, ``room_locked``; see ``services.write_refusal``).
    """
    return _set(Message.objects.filter(pk=message.pk), user, emoji, active)


def react(*, room: Room, message_id: int, user: User, emoji: str, active: bool) -> ReactionResult:
    """``set_reaction`` on message ``message_id`` of ``room`` (``not_found`` otherwise):
    the WebSocket's ``react`` frame names a message by id, which may be any room's."""
    return _set(Message.objects.filter(pk=message_id, room=room), user, emoji, active)


@transaction.atomic
def _set(messages: QuerySet[Message], user: User, emoji: str, active: bool) -> ReactionResult:
    if emoji not in REACTIONS:
        raise ChatError(ErrorCode.BAD_REACTION, "choose a reaction from: " + " ".join(REACTIONS))
    # The message row's lock orders two reactions to one message (PostgreSQL; SQLite
    # serialises writers): the second reads the first's reaction when it builds its
    # payload, so the last update published carries every reaction.
    message = messages.select_for_update(of=("self",)).select_related("room", "author").first()
    if message is None:
        raise ChatError(ErrorCode.NOT_FOUND, "no such message in this room")
    if message.deleted_at is not None:
        raise ChatError(ErrorCode.MESSAGE_DELETED, "the message was deleted")
    refusal = services.write_refusal(room=message.room, user=user)
    if refusal is not None:
        raise refusal
    if not _store(message, user, emoji, active):
        return ReactionResult(message=message, payload=_payload(message), change=None)
    change = record_change(message=message, kind=RoomChange.Kind.REACT, actor=user)
    payload = _payload(message)
    publish_on_commit(outbound.update_event(message.room_id, payload, change.number))
    logger.info(
        "reaction room=%s message=%s user=%s emoji=%s active=%s change=%s",
        message.room_id,
        message.pk,
        user.pk,
        emoji,
        active,
        change.number,
    )
    return ReactionResult(message=message, payload=payload, change=change.number)


def _store(message: Message, user: User, emoji: str, active: bool) -> bool:
    """Add or remove the row; False when it already was that way."""
    if not active:
        removed, _ = Reaction.objects.filter(message=message, user=user, emoji=emoji).delete()
        return bool(removed)
    try:
        # A savepoint: the unique constraint answers "already there" in one statement
        # (no read before the write), even for a writer that did not take the lock.
        with transaction.atomic():
            Reaction.objects.create(message=message, user=user, emoji=emoji)
    except IntegrityError:
        return False
    return True


def _payload(message: Message) -> dict[str, Any]:
    payload = selectors.message_payload(
        message, room_slug=message.room.slug, username=message.author.get_username()
    )
    return selectors.with_reactions([payload])[0]
