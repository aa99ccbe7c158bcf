"""Every write: posting, moderation, room state, tokens.

Synchronous and keyword-only, usable from the consumer (through one thread hop),
views, the admin, management commands and the shell. Each function commits, then
broadcasts through ``chat.events.publisher.publish_on_commit`` (guarantee 1: durable before
visible), and records moderation in the audit trail.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from chat import history, hot_sql, mentions, selectors
from chat.changes import record_change
from chat.conf import chat_settings
from chat.events import outbound
from chat.events.publisher import publish_on_commit
from chat.models import (
    ApiToken,
    Attachment,
    Ban,
    Message,
    MessageRevision,
    ModerationAction,
    Mute,
    Report,
    Room,
    RoomChange,
)
from chat.stores import presence
from chat.wire import protocol
from chat.wire.errors import ChatError, CloseCode, ErrorCode, Refusal

logger = logging.getLogger(__name__)

User = AbstractBaseUser


# --- posting -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostRequest:
    """One message to store; ``body`` is already validated by ``protocol``."""

    room_id: int
    author: User
    body: str
    client_id: str | None = None
    reply_to: int | None = None  # the id of the message it answers (same room)
    # Ids of the author's unsent uploads in the room (``chat.attachments``).
    files: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class PostResult:
    """A stored message; ``created`` is False for a repeated ``client_id``."""

    message: Message
    payload: dict
    created: bool


def post_message(
    *,
    room: Room,
    author: User,
    body: str,
    client_id: str | None = None,
    reply_to: int | None = None,
    files: tuple[int, ...] = (),
) -> PostResult:
    """Store one message and broadcast it after commit.

    Validates ``body`` as the WebSocket path does (with ``files``, the author's
    unsent uploads in the room, it may be blank). A repeated ``client_id`` from the
    same author in the same room returns the original message with ``created=False``
    and broadcasts nothing. ``reply_to`` is the id of a message of the same room that
    this one answers. Raises ``ChatError`` (empty, too_long, room_locked, muted,
    forbidden, rate_limited for slow mode, not_found or message_deleted for the
    ``reply_to``, not_found for a file) and stores nothing then.
    """
    if files and isinstance(body, str) and not body.strip():
        body = ""
    else:
        body = protocol.validate_body(
            body, max_length=chat_settings().max_message_length, client_id=client_id
        )
    request = PostRequest(
        room_id=room.pk,
        author=author,
        body=body,
        client_id=client_id,
        reply_to=reply_to,
        files=tuple(files),
    )
    result = post_messages([request])[0]
    if isinstance(result, ChatError):
        raise result
    return result


def post_messages(requests: list[PostRequest]) -> list[PostResult | ChatError]:
    """Store a batch of messages in one transaction (group commit).

    Returns one result per request, in order: a ``PostResult`` or the ``ChatError``
    that refused it. Each room's row is locked while its seqs are assigned, so seqs
    are gapless and in commit order across processes. If a concurrent writer wins a
    ``client_id`` race (IntegrityError), the batch is retried one request at a time,
    so one bad request never fails its neighbours.
    """
    try:
        with transaction.atomic():
            return _post_batch(requests)
    except IntegrityError:
        if len(requests) == 1:
            # The row that beat us is committed now: the retry returns it as a repeat.
            with transaction.atomic():
                return _post_batch(requests)
        return [post_messages([request])[0] for request in requests]


def _post_batch(requests: list[PostRequest]) -> list[PostResult | ChatError]:
    # A fixed number of queries per batch, whatever the number of rooms in it: with a
    # hundred busy rooms, queries per room made the database thread the bottleneck.
    now = timezone.now()
    room_ids = sorted({request.room_id for request in requests})
    # Locks the rows until commit (PostgreSQL; in pk order, so two batches never
    # deadlock); SQLite's IMMEDIATE transaction already holds the write lock.
    rooms = hot_sql.lock_rooms(room_ids)
    author_ids = {request.author.pk for request in requests}
    access = _Access(requests, now)
    moderators, existing = access.moderators, access.existing()
    slow_rooms = [room for room in rooms.values() if room.slow_mode_seconds]
    last_sent = _last_sent(slow_rooms, author_ids) if slow_rooms else {}
    # Files cost a query only for a batch that names some.
    unsent = _unsent_files(requests) if any(r.files for r in requests) else {}
    attached: list[tuple[Message, list[Attachment]]] = []
    # Only a batch with replies pays for reading what they answer (one query).
    reply_ids = {request.reply_to for request in requests if request.reply_to is not None}
    originals = selectors.reply_targets(reply_ids) if reply_ids else {}

    results: list[PostResult | ChatError | None] = [None] * len(requests)
    new: list[tuple[int, Message]] = []
    repeats: list[tuple[int, Message]] = []
    seqs = {room_id: room.last_seq for room_id, room in rooms.items()}
    for index, request in enumerate(requests):
        room = rooms.get(request.room_id)
        author_id = request.author.pk
        key = (request.room_id, author_id, request.client_id)
        if room is not None and request.client_id and key in existing:
            repeats.append((index, existing[key]))
            continue
        error = _refusal(room, author_id, access, last_sent, now)
        if error is None and request.reply_to is not None:
            error = _reply_refusal(originals.get(request.reply_to), room)
        files = _take_files(unsent, request) if request.files and error is None else []
        if isinstance(files, ChatError):
            error = files
        if error is not None:
            results[index] = _with_client_id(error, request.client_id)
            continue
        seqs[room.pk] += 1
        message = Message(
            room=room,
            author=request.author,
            body=request.body,
            seq=seqs[room.pk],
            client_id=request.client_id,
            created_at=now,
        )
        if request.reply_to is not None:
            message.reply_to_id = request.reply_to
        message.chat_files = ()  # selectors.message_payload reads it: no query
        if files:
            attached.append((message, files))
        new.append((index, message))
        if request.client_id:
            existing[key] = message  # a repeat inside this batch
        last_sent[(room.pk, author_id)] = now

    if new:
        hot_sql.insert_messages([message for _, message in new])
        hot_sql.set_last_seqs({message.room_id: seqs[message.room_id] for _, message in new}, now)
        mentions.store([message for _, message in new], moderators=moderators, now=now)
        for message, files in attached:
            Attachment.objects.filter(pk__in=[f.pk for f in files]).update(message=message)
            message.chat_files = selectors.file_payloads(files)

    events = []
    for created, found in ((True, new), (False, repeats)):
        for index, message in found:
            room = rooms[message.room_id]
            original = originals.get(message.reply_to_id) if created else None
            payload = selectors.message_payload(
                message,
                room_slug=room.slug,
                username=message.author.get_username(),
                reply_to=original[1] if original else None,
            )
            results[index] = PostResult(message=message, payload=payload, created=created)
            if created:
                events.append(outbound.message_event(room.pk, payload))
    if events:
        publish_on_commit(*events)
    return results  # type: ignore[return-value]


def _unsent_files(requests: list[PostRequest]) -> dict[int, Attachment]:
    """The batch's named uploads that no message carries yet, locked until commit: one query."""
    ids = {pk for request in requests for pk in request.files}
    return {
        attachment.pk: attachment
        for attachment in Attachment.objects.select_for_update().filter(
            pk__in=ids, message__isnull=True
        )
    }


def _take_files(unsent: dict[int, Attachment], request: PostRequest) -> list | ChatError:
    """``request``'s files, taken out of ``unsent`` (a file goes with one message only),
    or ``not_found`` when one is not the author's own unsent upload in the room."""
    files = [unsent.get(pk) for pk in request.files]
    if any(
        file is None or file.room_id != request.room_id or file.uploader_id != request.author.pk
        for file in files
    ):
        return ChatError(ErrorCode.NOT_FOUND, "no such file of yours waiting to be sent here")
    for file in files:
        del unsent[file.pk]
    return files


class _Access:
    """Each author's standing in each room of a batch, and the messages its
    client_ids stored already: one statement (``hot_sql.batch_access``)."""

    def __init__(self, requests: list[PostRequest], now: datetime) -> None:
        found = hot_sql.batch_access(
            [(r.room_id, r.author.pk, r.client_id or None) for r in requests], now=now
        )
        staff = {r.author.pk for r in requests if selectors.is_staff_moderator(r.author)}
        self.banned: set[tuple[int, int]] = set()
        self.muted: dict[tuple[int, int], datetime | None] = {}
        # Room moderators and staff with the moderation permission.
        self.moderators: set[tuple[int, int]] = set()
        self.members: set[tuple[int, int]] = set()
        self._stored: dict[tuple[int, int, str], tuple[int, PostRequest]] = {}
        for request, row in zip(requests, found, strict=True):
            pair = (request.room_id, request.author.pk)
            if row.banned:
                self.banned.add(pair)
            if row.muted:
                self.muted[pair] = row.mute_until
            if row.moderates or request.author.pk in staff:
                self.moderators.add(pair)
            if row.member:
                self.members.add(pair)
            if row.stored_id is not None:
                self._stored[(*pair, request.client_id)] = (row.stored_id, request)

    def existing(self) -> dict[tuple[int, int, str], Message]:
        """The stored messages of repeated client_ids by key (a query only if there are some)."""
        if not self._stored:
            return {}
        by_id = {pk: key for key, (pk, _) in self._stored.items()}
        found = {}
        for stored in Message.objects.filter(pk__in=by_id):
            key = by_id[stored.pk]
            stored.author = self._stored[key][1].author  # for the ack and payload, no join
            found[key] = stored
        return found


def _last_sent(rooms: list[Room], author_ids: set[int]) -> dict[tuple[int, int], datetime]:
    """When each author last wrote in each slow-mode room of the batch: one query."""
    rows = (
        Message.objects.filter(room__in=rooms, author_id__in=author_ids)
        .values("room_id", "author_id")
        .annotate(last=Max("created_at"))
    )
    return {(row["room_id"], row["author_id"]): row["last"] for row in rows}


def _refusal(
    room: Room | None,
    author_id: int,
    access: _Access,
    last_sent: dict[tuple[int, int], datetime],
    now: datetime,
) -> ChatError | None:
    if room is None or room.is_archived:
        return ChatError(ErrorCode.FORBIDDEN, "the room is archived" if room else "no such room")
    pair = (room.pk, author_id)
    if pair in access.banned:
        return ChatError(ErrorCode.FORBIDDEN, "you are banned from this room")
    if pair in access.muted:
        until = access.muted[pair]
        retry = (until - now).total_seconds() if until else None
        return ChatError(ErrorCode.MUTED, "you are muted in this room", retry_after=retry)
    if pair in access.moderators:
        return None
    if room.is_private and pair not in access.members:
        return ChatError(ErrorCode.FORBIDDEN, "only members of this private room can write in it")
    if room.is_locked:
        return ChatError(ErrorCode.ROOM_LOCKED, "the room is locked; only moderators can write")
    if room.slow_mode_seconds and pair in last_sent:
        wait = room.slow_mode_seconds - (now - last_sent[pair]).total_seconds()
        if wait > 0:
            return ChatError(
                ErrorCode.RATE_LIMITED,
                f"slow mode: one message every {room.slow_mode_seconds} s",
                retry_after=wait,
            )
    return None


def write_refusal(*, room: Room, user: User) -> ChatError | None:
    """Why ``user`` may not write in ``room`` now, or None: the posting rules (ban,
    mute, private room, lock; moderators pass the lock) without slow mode, which
    paces messages only. For writes other than messages, such as reactions."""
    now = timezone.now()
    request = PostRequest(room_id=room.pk, author=user, body="")
    return _refusal(room, user.pk, _Access([request], now), {}, now)


def _reply_refusal(original: tuple[int, dict] | None, room: Room) -> ChatError | None:
    """Why a reply to ``original`` (its room id and quote) cannot be posted in ``room``."""
    if original is None or original[0] != room.pk:
        return ChatError(ErrorCode.NOT_FOUND, "the message you reply to is not in this room")
    if original[1].get("deleted"):
        return ChatError(ErrorCode.MESSAGE_DELETED, "the message you reply to was deleted")
    return None


def _with_client_id(error: ChatError, client_id: str | None) -> ChatError:
    return ChatError(error.code, error.detail, retry_after=error.retry_after, client_id=client_id)


# --- moderation ----------------------------------------------------------------


def _audit(
    *,
    kind: str,
    by: User | None,
    room: Room | None,
    reason: str = "",
    target_user=None,
    target_message=None,
    **details,
) -> ModerationAction:
    action = ModerationAction.objects.create(
        kind=kind,
        actor=by,
        room=room,
        reason=reason or "",
        target_user=target_user,
        target_message=target_message,
        details=details,
    )
    logger.info(
        "moderation kind=%s room=%s actor=%s target_user=%s target_message=%s reason=%r",
        kind,
        room.pk if room else None,
        by.pk if by else None,
        target_user.pk if target_user else None,
        target_message.pk if target_message else None,
        reason,
    )
    return action


# The audit trail's one writer, for the other service modules (``chat.membership``).
audit = _audit


def message_in_room(*, room: Room, message_id: int) -> Message:
    """The message ``message_id`` of ``room``, or ``ChatError`` ``not_found``.

    A message of another room is "not found" too: its id tells nothing about it.
    """
    message = Message.objects.filter(pk=message_id, room=room).first()
    if message is None:
        raise ChatError(ErrorCode.NOT_FOUND, "no such message in this room")
    return message


def _check_edit_window(message: Message, now: datetime, action: str) -> None:
    """Raise ``edit_window`` when the author may no longer edit or delete ``message``."""
    window = chat_settings().edit_window_seconds
    if window == 0:
        raise ChatError(ErrorCode.EDIT_WINDOW, f"you cannot {action} messages in this chat")
    if now - message.created_at > timedelta(seconds=window):
        raise ChatError(
            ErrorCode.EDIT_WINDOW,
            f"messages can be changed for {window} s after sending; this one is older",
        )


def _locked_message(message: Message) -> Message:
    # The message row only, and NO KEY: a batch inserting a reply to it takes a KEY
    # SHARE lock on it (the foreign key) while holding the room row that this change
    # is about to number under; FOR UPDATE would deadlock with it (PostgreSQL).
    return (
        Message.objects.select_for_update(no_key=True, of=("self",))
        .select_related("room", "author")
        .get(pk=message.pk)
    )


def _publish_change(message: Message, change: RoomChange, *, deleted: bool = False) -> None:
    """After commit: the change's frame to the room, its state to the cache, and the new
    quote to the cached replies of ``message``."""
    room = message.room
    if deleted:
        event = outbound.deleted_event(
            room.pk,
            room_slug=room.slug,
            message_id=message.pk,
            seq=message.seq,
            change=change.number,
        )
    else:
        event = outbound.update_event(
            room.pk, selectors.current_payload(message, room), change.number
        )
    event.cache_refresh = history.entries_of(selectors.replies_in_cache(message, room))
    publish_on_commit(event)


@transaction.atomic
def edit_message(*, message: Message, by: User, body: str) -> Message:
    """Replace the text of ``by``'s own ``message`` with ``body``; the room gets ``update``.

    The previous text is kept as a ``MessageRevision`` (moderators see the history in
    the admin) and ``edited_at`` is set. Validation and refusals are those of a new
    message (empty, too_long, banned, muted, locked room), plus ``not_author``,
    ``message_deleted`` and ``edit_window`` (``CHAT_EDIT_WINDOW_SECONDS`` after
    sending; 0 disables editing). The same text again changes nothing. Raises
    ``ChatError`` and stores nothing on refusal.
    """
    body = protocol.validate_body(body, max_length=chat_settings().max_message_length)
    message = _locked_message(message)
    now = timezone.now()
    if message.author_id != by.pk:
        raise ChatError(ErrorCode.NOT_AUTHOR, "you can only edit your own messages")
    if message.deleted_at is not None:
        raise ChatError(ErrorCode.MESSAGE_DELETED, "this message was deleted")
    _check_edit_window(message, now, "edit")
    refusal = write_refusal(room=message.room, user=by)
    if refusal is not None:
        raise refusal
    if body == message.body:
        return message
    MessageRevision.objects.create(message=message, body=message.body, replaced_by=by)
    message.body = body
    message.edited_at = now
    message.save(update_fields=["body", "edited_at"])
    mentions.store_for(message)
    change = record_change(message=message, kind=RoomChange.Kind.EDIT, actor=by)
    _publish_change(message, change)
    logger.info("edit room=%s message=%s change=%s", message.room_id, message.pk, change.number)
    return message


@transaction.atomic
def delete_message(
    *, message: Message, by: User, reason: str = "", moderator: bool = True
) -> Message:
    """Soft-delete ``message``: it becomes a tombstone in history, cache and open clients.

    ``moderator=True``: ``by`` moderates the room (the caller checked) and may delete
    any message. ``moderator=False``: ``by`` deletes their own message, within the edit
    window (``not_author``, ``edit_window`` otherwise). Deleting someone else's message
    goes into the moderation audit trail; deleting your own is not moderation and does
    not (its ``RoomChange`` and ``deleted_by`` record it). Deleting a deleted message
    changes nothing and records nothing.
    """
    message = _locked_message(message)
    now = timezone.now()
    own = message.author_id == by.pk
    if not moderator:
        if not own:
            raise ChatError(ErrorCode.NOT_AUTHOR, "you can only delete your own messages")
        if message.deleted_at is None:
            _check_edit_window(message, now, "delete")
    if message.deleted_at is not None:
        return message
    message.deleted_at = now
    message.deleted_by = by
    message.save(update_fields=["deleted_at", "deleted_by"])
    if not own:
        _audit(
            kind=ModerationAction.Kind.DELETE,
            by=by,
            room=message.room,
            reason=reason,
            target_user=message.author,
            target_message=message,
        )
    change = record_change(message=message, kind=RoomChange.Kind.DELETE, actor=by)
    _publish_change(message, change, deleted=True)
    return message


@transaction.atomic
def restore_message(*, message: Message, by: User) -> Message:
    """Undo a soft delete; open clients get an ``update`` frame with the message."""
    message = _locked_message(message)
    if message.deleted_at is None:
        return message
    message.deleted_at = None
    message.deleted_by = None
    message.save(update_fields=["deleted_at", "deleted_by"])
    _audit(
        kind=ModerationAction.Kind.RESTORE,
        by=by,
        room=message.room,
        target_user=message.author,
        target_message=message,
    )
    change = record_change(message=message, kind=RoomChange.Kind.RESTORE, actor=by)
    _publish_change(message, change)
    return message


def _impose(model, kind: str, *, room: Room, user: User, by: User, until, reason: str):
    """Create or replace ``user``'s ban or mute in ``room``, and audit it."""
    sanction, _ = model.objects.update_or_create(
        room=room,
        user=user,
        defaults={"until": until, "reason": reason, "created_by": by, "created_at": timezone.now()},
    )
    _audit(
        kind=kind,
        by=by,
        room=room,
        reason=reason,
        target_user=user,
        until=until.isoformat() if until else None,
    )
    return sanction


def _lift(model, kind: str, *, room: Room, user: User, by: User) -> bool:
    """Remove ``user``'s ban or mute in ``room`` (audited); whether there was one."""
    deleted, _ = model.objects.filter(room=room, user=user).delete()
    if deleted:
        _audit(kind=kind, by=by, room=room, target_user=user)
    return bool(deleted)


@transaction.atomic
def ban_user(
    *, room: Room, user: User, by: User, until: datetime | None = None, reason: str = ""
) -> Ban:
    """Ban ``user`` from ``room`` (until ``until``, or until lifted).

    Closes the user's open connections in the room with 4403 on every process and
    refuses new ones. Banning again replaces the expiry and reason.
    """
    ban = _impose(
        Ban, ModerationAction.Kind.BAN, room=room, user=user, by=by, until=until, reason=reason
    )
    # A ban that has already ended (an expired one edited in the admin) closes nobody.
    if ban.is_active():
        publish_on_commit(
            outbound.close_event(
                room.pk, CloseCode.FORBIDDEN, "you were banned from this room", user_id=user.pk
            )
        )
    return ban


@transaction.atomic
def unban_user(*, room: Room, user: User, by: User) -> bool:
    """Lift ``user``'s ban in ``room``; returns whether there was one."""
    return _lift(Ban, ModerationAction.Kind.UNBAN, room=room, user=user, by=by)


@transaction.atomic
def mute_user(
    *, room: Room, user: User, by: User, until: datetime | None = None, reason: str = ""
) -> Mute:
    """Mute ``user`` in ``room``: they keep reading; sending gets ``muted``.

    The user's open connections in the room get a ``muted`` frame with the expiry at
    once, on every process, so the page says so before they try to write. Muting
    again replaces the expiry and reason (and says so again).
    """
    mute = _impose(
        Mute, ModerationAction.Kind.MUTE, room=room, user=user, by=by, until=until, reason=reason
    )
    frame = protocol.muted_frame(until) if mute.is_active() else protocol.unmuted_frame()
    publish_on_commit(outbound.user_frame_event(room.pk, frame, user_id=user.pk))
    return mute


@transaction.atomic
def unmute_user(*, room: Room, user: User, by: User) -> bool:
    """Lift ``user``'s mute in ``room``; returns whether there was one.

    Their open connections in the room get an ``unmuted`` frame.
    """
    lifted = _lift(Mute, ModerationAction.Kind.UNMUTE, room=room, user=user, by=by)
    if lifted:
        publish_on_commit(
            outbound.user_frame_event(room.pk, protocol.unmuted_frame(), user_id=user.pk)
        )
    return lifted


@transaction.atomic
def set_room_state(
    *,
    room: Room,
    by: User,
    is_locked: bool | None = None,
    slow_mode_seconds: int | None = None,
    is_archived: bool | None = None,
    reason: str = "",
) -> Room:
    """Lock, slow down or archive ``room``; open clients get a ``room`` frame (or 4410)."""
    room = Room.objects.select_for_update().get(pk=room.pk)
    changes = {}
    for field, value in (
        ("is_locked", is_locked),
        ("slow_mode_seconds", slow_mode_seconds),
        ("is_archived", is_archived),
    ):
        if value is not None and getattr(room, field) != value:
            changes[field] = [getattr(room, field), value]
            setattr(room, field, value)
    if not changes:
        return room
    fields = list(changes)
    if (
        changes.get("is_archived") == [True, False]
        and room.dm_key
        and Room.objects.filter(dm_key=room.dm_key, is_archived=False).exists()
    ):
        # A group DM back from the archive while a newer one of the same people is
        # open: the newer keeps the member set (one open DM per set), this one its slug.
        room.dm_key = None
        fields.append("dm_key")
    room.save(update_fields=fields)
    _audit(kind=ModerationAction.Kind.ROOM, by=by, room=room, reason=reason, **changes)
    if room.is_archived:
        publish_on_commit(
            outbound.close_event(room.pk, CloseCode.ROOM_ARCHIVED, "the room was archived")
        )
    else:
        info = selectors.room_info(room)
        publish_on_commit(outbound.room_event(room.pk, info))
    return room


def close_outsiders(*, room: Room) -> int:
    """Close (4403) the open connections of users who may no longer read ``room``.

    For a room made private, or a member or moderator removed, in the admin: the
    connection checked access when it opened, and would otherwise go on reading.
    Who is connected comes from presence (every process). Returns how many users
    were closed; with presence unavailable (Redis down) it logs and closes nobody.
    """
    if not room.is_private:
        return 0
    try:
        online = async_to_sync(presence.presence().online)(room.pk)
    except Exception as exc:  # noqa: BLE001 - the change itself is committed; say so and go on
        logger.warning("room access check failed room=%s: %r", room.pk, exc)
        return 0
    allowed = set(room.members.values_list("pk", flat=True))
    allowed |= set(room.moderators.values_list("pk", flat=True))
    users = get_user_model()
    candidates = users.objects.filter(**{f"{users.USERNAME_FIELD}__in": online}).exclude(
        pk__in=allowed
    )
    outsiders = [user for user in candidates if not selectors.reads_every_room(user)]
    for user in outsiders:
        publish_on_commit(
            outbound.close_event(
                room.pk, CloseCode.FORBIDDEN, "this room is private", user_id=user.pk
            )
        )
    if outsiders:
        logger.info("room access closed room=%s users=%s", room.pk, [u.pk for u in outsiders])
    return len(outsiders)


# --- reports -------------------------------------------------------------------


def report_message(*, message_id: int, room: Room, by: User, reason: str = "") -> Report:
    """Put a message of ``room`` in the moderators' queue (once per reporter)."""
    message = Message.objects.filter(pk=message_id, room=room).first()
    if message is None:
        raise ChatError(ErrorCode.BAD_REQUEST, "no such message in this room")
    report, _ = Report.objects.get_or_create(
        message=message, reporter=by, defaults={"reason": reason}
    )
    logger.info("report room=%s message=%s reporter=%s", room.pk, message.pk, by.pk)
    return report


@transaction.atomic
def resolve_report(
    *, report: Report, by: User, status: str, note: str = "", until: datetime | None = None
) -> Report:
    """Resolve a report by deleting the message, banning or muting its author, or dismissing it."""
    report = (
        Report.objects.select_for_update()
        .select_related("message__room", "message__author")
        .get(pk=report.pk)
    )
    message = report.message
    reason = note or report.reason
    if status == Report.Status.DELETED:
        delete_message(message=message, by=by, reason=reason)
    elif status == Report.Status.BANNED:
        ban_user(room=message.room, user=message.author, by=by, until=until, reason=reason)
    elif status == Report.Status.MUTED:
        mute_user(room=message.room, user=message.author, by=by, until=until, reason=reason)
    elif status != Report.Status.DISMISSED:
        raise ValueError(f"unknown report status {status!r}")
    report.status = status
    report.resolved_by = by
    report.resolved_at = timezone.now()
    report.note = note
    report.save(update_fields=["status", "resolved_by", "resolved_at", "note"])
    _audit(
        kind=ModerationAction.Kind.REPORT,
        by=by,
        room=message.room,
        reason=reason,
        target_user=message.author,
        target_message=message,
        status=status,
    )
    return report


# --- rooms and tokens ----------------------------------------------------------


def create_room(
    *, slug: str, title: str, by: User, description: str = "", is_private: bool = False
) -> Room:
    """Create a room; the creator moderates it (and is a member of a private one)."""
    with transaction.atomic():
        room = Room.objects.create(
            slug=slug,
            title=title or slug,
            description=description,
            is_private=is_private,
            created_by=by,
        )
        room.moderators.add(by)
        if is_private:
            room.members.add(by)
    return room


def hash_token(key: str) -> str:
    """The stored form of an API token key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_token_key() -> str:
    """A random token key; never with a leading "-", which reads as an option (``--token -x``)."""
    key = secrets.token_urlsafe(32)
    while key.startswith("-"):
        key = secrets.token_urlsafe(32)
    return key


def issue_token(*, user: User) -> str:
    """Create an API token for ``user`` and return its key; only the hash is stored."""
    return issue_tokens(users=[user])[0]


def issue_tokens(*, users: list[User]) -> list[str]:
    """Create one API token per user in one query; return the keys in ``users`` order."""
    keys = [new_token_key() for _ in users]
    ApiToken.objects.bulk_create(
        ApiToken(user=user, key_hash=hash_token(key), prefix=key[:8])
        for user, key in zip(users, keys, strict=True)
    )
    return keys


@transaction.atomic
def revoke_tokens(*, tokens, by: User | None = None) -> int:
    """Revoke ``tokens`` (a queryset); their open connections close with 4401 within a second."""
    now = timezone.now()
    revoked = list(tokens.filter(revoked_at__isnull=True).select_related("user"))
    for token in revoked:
        token.revoked_at = now
        _audit(
            kind=ModerationAction.Kind.TOKEN,
            by=by,
            room=None,
            target_user=token.user,
            token=token.prefix,
        )
        publish_on_commit(outbound.revoke_event(token.pk))
    ApiToken.objects.filter(pk__in=[t.pk for t in revoked]).update(revoked_at=now)
    return len(revoked)


def session_digest(session_key: str) -> str:
    """A short, one-way name for a session key (events cross Redis; keys must not)."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:24]


def sign_out_connections(*, user_id: int, session_key: str | None = None) -> None:
    """Close a user's WebSockets with 4401 on every process, after commit.

    With ``session_key``, only those opened with that session (a sign-out);
    without, all of them (deactivation, a new password).
    """
    session = session_digest(session_key) if session_key else None
    publish_on_commit(outbound.signout_event(user_id, session))


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """A WebSocket connect: the room's slug and who asks (session user or bearer token)."""

    slug: str
    user: User | None
    token_key: str | None = None


def open_sessions(requests: list[SessionRequest]) -> list[selectors.Session | Refusal]:
    """Who connects to which room, for a crowd connecting at once: two queries whatever its size.

    With a ``token_key`` the token decides who the user is (``Refusal`` 4401 when it
    is unknown or revoked); otherwise ``user`` (from the session). A room that
    refuses them answers with the ``Refusal`` of ``selectors.sessions_for``.
    """
    users = _token_users({r.token_key for r in requests if r.token_key})
    admitted: list[tuple[int, tuple[str, User, int | None]]] = []
    results: list[selectors.Session | Refusal | None] = [None] * len(requests)
    for index, request in enumerate(requests):
        user, token_id = request.user, None
        if request.token_key is not None:
            user = users.get(request.token_key)
            if user is None:
                results[index] = Refusal(CloseCode.NOT_AUTHENTICATED, "invalid or revoked token")
                continue
            token_id = user.chat_token_id
        if user is None or not user.is_authenticated:
            results[index] = Refusal(CloseCode.NOT_AUTHENTICATED)
            continue
        admitted.append((index, (request.slug, user, token_id)))
    sessions = selectors.sessions_for([triple for _, triple in admitted])
    for (index, _), session in zip(admitted, sessions, strict=True):
        results[index] = session
    return results  # type: ignore[return-value]


TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


def user_for_token(key: str) -> User | None:
    """The active user holding token ``key``, or None (``chat_token_id`` set on it)."""
    return _token_users({key}).get(key)


def _token_users(keys: set[str]) -> dict[str, User]:
    """The active users of the valid tokens among ``keys``, by key: one query (two, a
    minute apart, when their last use is to be recorded)."""
    if not keys:
        return {}
    now = timezone.now()
    by_hash = {hash_token(key): key for key in keys}
    found = hot_sql.token_users(
        by_hash,
        used_before=now - TOKEN_TOUCH_INTERVAL,
        issued_after=selectors.tokens_issued_after(now),
    )
    users = {by_hash[key_hash]: user for key_hash, user in found.items() if user.is_active}
    # A write per connect would queue every reconnect storm behind the message
    # writers (SQLite has one write lock); a minute's precision is enough here.
    stale = [user.chat_token_id for user in users.values() if user.chat_token_stale]
    if stale:
        ApiToken.objects.filter(pk__in=stale).update(last_used_at=now)
    return users
