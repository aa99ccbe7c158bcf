"""Every read of chat data: rooms a user may enter, pages of history, the lobby.

Synchronous, database only; the cache in front of history lives in ``chat.history``.
Raises ``Refusal`` where the caller must refuse a connection or request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Max, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from chat import hot_sql
from chat.conf import REACTIONS, chat_settings
from chat.models import (
    ApiToken,
    Attachment,
    Ban,
    Mention,
    Message,
    Mute,
    Reaction,
    Room,
    RoomChange,
)
from chat.wire import protocol
from chat.wire.errors import ChatError, CloseCode, ErrorCode, Refusal

User = AbstractBaseUser | AnonymousUser


def message_payload(
    message: Message,
    *,
    room_slug: str,
    username: str | None,
    reply_to: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The wire object for a stored message (a tombstone when deleted).

    ``reply_to`` is the quote of the message it answers (``protocol.reply_quote``).
    """
    return protocol.message_payload(
        id=message.pk,
        seq=message.seq,
        room=room_slug,
        user=username,
        body=message.body,
        ts=protocol.timestamp(message.created_at),
        client_id=message.client_id,
        deleted=message.deleted_at is not None,
        edited=protocol.timestamp(message.edited_at) if message.edited_at else None,
        reply_to=reply_to,
        mentions=_mentions_of(message),
        mentions_room=message.mentions_room,
        files=_files_of(message),
    )


def _mentions_of(message: Message) -> list[str]:
    # The post path sets ``chat_mentions`` as it stores them (no query per message);
    # a message read back from the database asks only when its body has an "@".
    names = getattr(message, "chat_mentions", None)
    if names is None:
        if message.deleted_at is not None or "@" not in message.body:
            return []
        names = mention_names([message.pk]).get(message.pk, [])
    return names


def _files_of(message: Message) -> list[dict[str, Any]]:
    # The post path sets ``chat_files`` on every message it stores (no query); a
    # message read back from the database (a repeat, an edit, a restore) asks.
    files = getattr(message, "chat_files", None)
    if files is None:
        if message.deleted_at is not None:
            return []
        files = file_payloads(Attachment.objects.filter(message_id=message.pk).order_by("pk"))
    return files


def file_payload(attachment: Attachment) -> dict[str, Any]:
    """The wire object of one file (``protocol.file_info``); URLs reversed from chat.urls."""
    url = reverse("chat:file", kwargs={"file_id": attachment.pk, "name": attachment.name})
    thumbnail = (
        reverse("chat:file_thumbnail", kwargs={"file_id": attachment.pk})
        if attachment.thumbnail_name
        else None
    )
    return protocol.file_info(
        id=attachment.pk,
        name=attachment.name,
        size=attachment.size,
        type=attachment.content_type,
        url=url,
        thumbnail_url=thumbnail,
        width=attachment.width,
        height=attachment.height,
    )


def file_payloads(attachments) -> list[dict[str, Any]]:
    """``file_payload`` for each of ``attachments``, in order."""
    return [file_payload(attachment) for attachment in attachments]


def _payloads(queryset: QuerySet[Message], room: Room) -> list[dict[str, Any]]:
    # The author's name by the user model's USERNAME_FIELD (any user model).
    author_name = f"author__{get_user_model().USERNAME_FIELD}"
    rows = queryset.values_list(
        "pk",
        "seq",
        "body",
        "client_id",
        "created_at",
        "deleted_at",
        author_name,
        "edited_at",
        "reply_to_id",
    )
    payloads = []
    replies: dict[int, int] = {}
    for pk, seq, body, client_id, created_at, deleted_at, username, edited_at, reply in rows:
        payloads.append(
            protocol.message_payload(
                id=pk,
                seq=seq,
                room=room.slug,
                user=username,
                body=body,
                ts=protocol.timestamp(created_at),
                client_id=client_id,
                deleted=deleted_at is not None,
                edited=protocol.timestamp(edited_at) if edited_at else None,
            )
        )
        if reply is not None and deleted_at is None:
            replies[pk] = reply
    if replies:
        _with_replies(payloads, replies)
    return with_files(with_mentions(with_reactions(payloads)))


def mention_names(message_ids: list[int]) -> dict[int, list[str]]:
    """The usernames each of ``message_ids`` mentions, in the order written: one query."""
    username = f"user__{get_user_model().USERNAME_FIELD}"
    rows = (
        Mention.objects.filter(message_id__in=message_ids)
        .order_by("pk")
        .values_list("message_id", username)
    )
    names: dict[int, list[str]] = {}
    for message_id, name in rows:
        names.setdefault(message_id, []).append(name)
    return names


def with_mentions(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``mentions`` and ``mentions_room`` to message payloads (in place).

    Only payloads whose body has an "@" can have any, so a page without one costs no
    query; otherwise two (the names, and which messages mention the room).
    """
    ids = [p["id"] for p in payloads if not p.get("deleted") and "@" in p["body"]]
    if not ids:
        return payloads
    names = mention_names(ids)
    room_wide = set(
        Message.objects.filter(pk__in=ids, mentions_room=True).values_list("pk", flat=True)
    )
    for payload in payloads:
        if payload["id"] in names:
            payload["mentions"] = names[payload["id"]]
        if payload["id"] in room_wide:
            payload["mentions_room"] = True
    return payloads


def with_reactions(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add the current ``reactions`` to message payloads (in place): one query for all.

    Tombstones get none; a message nobody reacted to keeps its payload unchanged.
    """
    ids = [payload["id"] for payload in payloads if not payload.get("deleted")]
    if not ids:
        return payloads
    username = f"user__{get_user_model().USERNAME_FIELD}"
    rows = (
        Reaction.objects.filter(message_id__in=ids)
        .order_by("created_at", "pk")
        .values_list("message_id", "emoji", username)
    )
    by_message: dict[int, list[tuple[str, str]]] = {}
    for message_id, emoji, name in rows:
        by_message.setdefault(message_id, []).append((emoji, name))
    for payload in payloads:
        if payload["id"] in by_message and not payload.get("deleted"):
            payload["reactions"] = protocol.reaction_summary(by_message[payload["id"]], REACTIONS)
    return payloads


def with_files(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``files`` to message payloads (in place): one query for all; tombstones get none."""
    ids = [payload["id"] for payload in payloads if not payload.get("deleted")]
    if not ids:
        return payloads
    by_message: dict[int, list[dict[str, Any]]] = {}
    for attachment in Attachment.objects.filter(message_id__in=ids).order_by("pk"):
        by_message.setdefault(attachment.message_id, []).append(file_payload(attachment))
    for payload in payloads:
        if payload["id"] in by_message and not payload.get("deleted"):
            payload["files"] = by_message[payload["id"]]
    return payloads


def readable_attachment(*, file_id: int, user: User) -> Attachment:
    """The file ``user`` may download, or why not.

    ``Refusal`` when they may not read its room (the room rules of ``room_for_user``);
    ``ChatError`` ``not_found`` for an unknown file or someone else's unsent upload,
    ``message_deleted`` once the message carrying it is deleted.
    """
    attachment = Attachment.objects.select_related("room", "message").filter(pk=file_id).first()
    if attachment is None or (attachment.message_id is None and attachment.uploader_id != user.pk):
        if not user.is_authenticated:
            raise Refusal(CloseCode.NOT_AUTHENTICATED)
        raise ChatError(ErrorCode.NOT_FOUND, "no such file")
    room_for_user(slug=attachment.room.slug, user=user)
    if attachment.message is not None and attachment.message.deleted_at is not None:
        raise ChatError(ErrorCode.MESSAGE_DELETED, "the message with this file was deleted")
    return attachment


def _with_replies(payloads: list[dict[str, Any]], replies: dict[int, int]) -> None:
    """Add the ``reply_to`` quote to the payloads of replies (``replies``: id -> original
    id), from the originals' current state: one query."""
    quotes = reply_quotes(set(replies.values()))
    for payload in payloads:
        original = replies.get(payload["id"])
        if original in quotes:
            payload["reply_to"] = quotes[original]


def reply_quotes(message_ids: set[int]) -> dict[int, dict[str, Any]]:
    """The ``reply_to`` quotes of ``message_ids`` (current state, tombstone when deleted)."""
    return {pk: quote for pk, (_, quote) in reply_targets(message_ids).items()}


def reply_targets(message_ids: set[int]) -> dict[int, tuple[int, dict[str, Any]]]:
    """For each of ``message_ids`` that exists: its room id and its ``reply_to`` quote."""
    author_name = f"author__{get_user_model().USERNAME_FIELD}"
    rows = Message.objects.filter(pk__in=message_ids).values_list(
        "pk", "room_id", "seq", "body", "deleted_at", author_name
    )
    return {
        pk: (
            room_id,
            protocol.reply_quote(
                id=pk, seq=seq, user=username, body=body, deleted=deleted_at is not None
            ),
        )
        for pk, room_id, seq, body, deleted_at, username in rows
    }


def current_payload(message: Message, room: Room) -> dict[str, Any]:
    """A stored message's whole current state (as ``history`` shows it): for ``update``."""
    return _payloads(Message.objects.filter(pk=message.pk), room)[0]


def replies_in_cache(message: Message, room: Room) -> list[dict[str, Any]]:
    """The current payloads of the replies to ``message`` recent enough to be cached, so
    the cache shows their quote's new state after ``message`` changed."""
    newest = Room.objects.filter(pk=room.pk).values_list("last_seq", flat=True).first() or 0
    recent = Message.objects.filter(
        room=room, reply_to=message, seq__gt=newest - chat_settings().cache_messages
    )
    return _payloads(recent.order_by("seq"), room)


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """A reconnect's ``since`` and ``changes`` (None: not given), and how many changed
    messages it may still be sent within ``CHAT_RECOVERY_LIMIT``."""

    room: Room
    since: int
    after_change: int | None
    limit: int


@dataclass(frozen=True, slots=True)
class Replay:
    """The changes a reconnecting client missed: its frames (in change order) and the
    room's last change number when they were read, or ``too_many`` over the limit."""

    frames: list[str]
    last_change: int
    too_many: bool = False


def changes_to_replay(requests: list[ReplayRequest]) -> list[Replay]:
    """For each reconnect: every message with ``seq <= since`` changed after change
    ``after_change`` (None: changed since message ``since`` was the newest), once each,
    in the order of its latest change, as a ``deleted`` or ``update`` frame of its
    current state; more than ``limit`` such messages: ``too_many`` and no frames.

    One query for a crowd reconnecting at once (a server restart) whose clients are up
    to date, plus one per client that missed changes.
    """
    rooms = {request.room.pk for request in requests}
    last = dict(Room.objects.filter(pk__in=rooms).values_list("pk", "last_change"))
    return [_replay(request, last.get(request.room.pk, 0)) for request in requests]


def _replay(request: ReplayRequest, last_change: int) -> Replay:
    after = request.after_change
    if last_change == 0 or (after is not None and after >= last_change):
        return Replay(frames=[], last_change=last_change)
    changes = RoomChange.objects.filter(
        room=request.room, message__seq__lte=request.since, number__lte=last_change
    )
    if after is not None:
        changes = changes.filter(number__gt=after)
    else:
        changes = changes.filter(after_seq__gte=request.since)
    latest = list(
        changes.values("message_id")
        .annotate(latest=Max("number"))
        .order_by("latest")[: request.limit + 1]
    )
    if len(latest) > request.limit:
        return Replay(frames=[], last_change=last_change, too_many=True)
    ids = [row["message_id"] for row in latest]
    payloads = {p["id"]: p for p in _payloads(Message.objects.filter(pk__in=ids), request.room)}
    frames = []
    for row in latest:
        payload = payloads[row["message_id"]]
        if payload.get("deleted"):
            frames.append(protocol.deleted_frame(payload["id"], payload["seq"], row["latest"]))
        else:
            frames.append(protocol.update_frame(payload, row["latest"]))
    return Replay(frames=frames, last_change=last_change)


def messages_between(
    *, room: Room, after_seq: int, up_to_seq: int | None = None, limit: int
) -> list[dict[str, Any]]:
    """Messages with ``after_seq < seq [<= up_to_seq]``, ascending, at most ``limit``."""
    queryset = Message.objects.filter(room=room, seq__gt=after_seq)
    if up_to_seq is not None:
        queryset = queryset.filter(seq__lte=up_to_seq)
    return _payloads(queryset.order_by("seq")[:limit], room)


def messages_before(*, room: Room, before_seq: int | None, limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` messages with ``seq < before_seq`` (all when None), ascending."""
    queryset = Message.objects.filter(room=room)
    if before_seq is not None:
        queryset = queryset.filter(seq__lt=before_seq)
    payloads = _payloads(queryset.order_by("-seq")[:limit], room)
    payloads.reverse()
    return payloads


def is_staff_moderator(user: User) -> bool:
    """Staff who may change messages in every room."""
    return user.is_superuser or (user.is_staff and user.has_perm("chat.change_message"))


def is_moderator(*, room: Room, user: User) -> bool:
    """Staff who may change messages, or a moderator of this room."""
    if not user.is_authenticated:
        return False
    return is_staff_moderator(user) or room.moderators.filter(pk=user.pk).exists()


def reads_every_room(user: User) -> bool:
    """Superusers, and staff who may read every message in the admin anyway.

    Being staff alone (admin access for another job) opens no private room.
    """
    return user.is_superuser or (
        user.is_staff
        and (user.has_perm("chat.view_message") or user.has_perm("chat.change_message"))
    )


def in_force(now: datetime) -> Q:
    """Bans and mutes that apply at ``now``: no end, or an end still ahead."""
    return Q(until__isnull=True) | Q(until__gt=now)


def active_ban(*, room: Room, user: User, now: datetime | None = None) -> Ban | None:
    return (
        Ban.objects.filter(room=room, user_id=user.pk)
        .filter(in_force(now or timezone.now()))
        .first()
    )


def is_muted(*, room_id: int, user_id: int, now: datetime | None = None) -> bool:
    """Whether a mute of ``user_id`` in ``room_id`` is in force."""
    return (
        Mute.objects.filter(room_id=room_id, user_id=user_id)
        .filter(in_force(now or timezone.now()))
        .exists()
    )


def room_for_user(*, slug: str, user: User) -> Room:
    """The room ``user`` may enter, or ``Refusal`` with the close code saying why.

    The room comes annotated with ``user_moderates`` (see ``sessions_for``).
    """
    if not user.is_authenticated:
        raise Refusal(CloseCode.NOT_AUTHENTICATED)
    now = timezone.now()
    return _admit(hot_sql.room_with_access(slug=slug, user_id=user.pk, now=now), user, now)


def _admit(room: Room | None, user: User, now: datetime) -> Room:
    """``room`` (annotated for ``user`` by ``hot_sql``) if they may enter, else ``Refusal``."""
    if room is None:
        raise Refusal(CloseCode.NO_SUCH_ROOM)
    if room.is_archived:
        raise Refusal(CloseCode.ROOM_ARCHIVED)
    if room.is_private and not (
        room.user_is_member or room.user_moderates or reads_every_room(user)
    ):
        raise Refusal(CloseCode.FORBIDDEN, "this room is private")
    if room.user_is_banned:
        ban = active_ban(room=room, user=user, now=now)
        until = f" until {ban.until:%Y-%m-%d %H:%M} UTC" if ban and ban.until else ""
        raise Refusal(CloseCode.FORBIDDEN, f"you are banned from this room{until}")
    return room


def room_info(room: Room) -> dict[str, Any]:
    """The ``room`` object of ``ready`` and ``room`` frames."""
    return protocol.room_info(
        slug=room.slug, title=room.title, locked=room.is_locked, slow_mode=room.slow_mode_seconds
    )


@dataclass(frozen=True, slots=True)
class Session:
    """What a connection needs to know about its room and user, read once on connect."""

    user: User
    room: Room
    info: dict[str, Any]
    is_moderator: bool
    last_seq: int
    token_id: int | None = None
    last_change: int = 0
    # The user's mute in this room when they connected (told in ``ready``).
    muted: bool = False
    mute_until: datetime | None = None  # with ``muted``: None is until lifted


def sessions_for(requests: list[tuple[str, User, int | None]]) -> list[Session | Refusal]:
    """For (slug, authenticated user, token id) triples, in one query: the room each
    user may enter and what the connection needs of it, or the ``Refusal``."""
    now = timezone.now()
    rooms = hot_sql.rooms_with_access([(slug, user.pk) for slug, user, _ in requests], now=now)
    sessions: list[Session | Refusal] = []
    for slug, user, token_id in requests:
        try:
            room = _admit(rooms.get((slug, user.pk)), user, now)
        except Refusal as refusal:
            sessions.append(refusal)
            continue
        sessions.append(
            Session(
                user=user,
                room=room,
                info=room_info(room),
                is_moderator=room.user_moderates or is_staff_moderator(user),
                last_seq=room.last_seq,
                token_id=token_id,
                last_change=room.last_change,
                muted=room.user_is_muted,
                mute_until=room.user_mute_until,
            )
        )
    return sessions


def lobby_rooms(*, user: User) -> QuerySet[Room]:
    """Rooms to list in the lobby: public ones, and private ones the user belongs to;
    never direct messages (the sidebar lists the user's own)."""
    rooms = Room.objects.filter(is_archived=False).exclude(kind=Room.Kind.DM)
    if user.is_authenticated:
        if not reads_every_room(user):
            rooms = rooms.filter(
                Q(is_private=False) | Q(members=user) | Q(moderators=user)
            ).distinct()
    else:
        rooms = rooms.filter(is_private=False)
    return rooms.order_by("-last_message_at", "slug")


def readable_rooms(*, user: User, now: datetime | None = None) -> QuerySet[Room]:
    """Every room whose messages ``user`` may read: the rooms ``room_for_user`` admits.

    Not archived; public, or private with ``user`` a member or moderator (or reading
    every room, ``reads_every_room``, except others' direct messages); and no ban of ``user`` in force there. Search
    uses it as its only permission rule, so the two can never disagree.
    """
    if not user.is_authenticated:
        return Room.objects.none()
    rooms = Room.objects.filter(is_archived=False)
    if not reads_every_room(user):
        rooms = rooms.filter(
            Q(is_private=False)
            | Q(pk__in=Room.members.through.objects.filter(user_id=user.pk).values("room_id"))
            | Q(pk__in=Room.moderators.through.objects.filter(user_id=user.pk).values("room_id"))
        )
    else:
        # Staff open others' DMs one at a time, each recorded (chat.direct.record_view):
        # never in bulk through search.
        rooms = rooms.filter(
            ~Q(kind=Room.Kind.DM)
            | Q(pk__in=Room.members.through.objects.filter(user_id=user.pk).values("room_id"))
        )
    banned = Ban.objects.filter(user_id=user.pk).filter(in_force(now or timezone.now()))
    return rooms.exclude(pk__in=banned.values("room_id"))


# Before any token: "issued after" this means no lifetime limit.
NO_TOKEN_LIMIT = datetime(2000, 1, 1, tzinfo=UTC)


def tokens_issued_after(now: datetime) -> datetime:
    """Tokens issued at or before this have expired (``CHAT_TOKEN_TTL``)."""
    ttl = chat_settings().token_ttl
    return NO_TOKEN_LIMIT if ttl is None else now - timedelta(seconds=ttl)


def token_expiry(token: ApiToken) -> datetime | None:
    """When ``token`` stops working by age (None: ``CHAT_TOKEN_TTL`` unset)."""
    ttl = chat_settings().token_ttl
    return None if ttl is None else token.created_at + timedelta(seconds=ttl)


def revoked_tokens(token_ids: list[int]) -> set[int]:
    """Which of ``token_ids`` no longer sign anyone in: revoked, expired, deleted, or of a
    deactivated user."""
    valid = ApiToken.objects.filter(
        pk__in=token_ids,
        revoked_at__isnull=True,
        user__is_active=True,
        created_at__gt=tokens_issued_after(timezone.now()),
    ).values_list("pk", flat=True)
    return set(token_ids) - set(valid)


def tokens_ended_since(moment: datetime, now: datetime) -> set[int]:
    """The tokens revoked, or expired by ``CHAT_TOKEN_TTL``, between ``moment`` and ``now``.

    Two indexed ranges (``revoked_at``, ``created_at``): a few rows, whatever the
    number of tokens or connections.
    """
    ended = Q(revoked_at__gte=moment)
    if chat_settings().token_ttl is not None:
        ended |= Q(
            created_at__gt=tokens_issued_after(moment), created_at__lte=tokens_issued_after(now)
        )
    return set(ApiToken.objects.filter(ended).values_list("pk", flat=True))


def room_last_seq(room_id: int) -> int:
    """The seq of the room's newest message (0 when it has none)."""
    return Room.objects.filter(pk=room_id).values_list("last_seq", flat=True).first() or 0
