"""The wire format: client frames in, server frames out.

Pure: no database, no channel layer, no asyncio, no Django, so the terminal client
and the benchmarks share it. ``parse`` turns a text frame into a command or raises
``ChatError``; the ``*_frame`` builders turn plain values into JSON text, encoded
once and then forwarded unchanged to every receiver.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat.wire.errors import ChatError, ErrorCode

MAX_CLIENT_ID_LENGTH = 64
MAX_REPORT_REASON_LENGTH = 500
# Longer than any emoji of the set (a flag or a skin tone is a few code points); the
# set itself is checked by the server (chat.reactions), which knows chat.conf.
MAX_EMOJI_LENGTH = 16
# Files one message may carry (uploaded first, then named by id in ``files``).
MAX_FILES_PER_MESSAGE = 10


class ClientType:
    """The ``type`` of a frame a client sends."""

    MESSAGE = "message"
    HISTORY = "history"
    TYPING = "typing"
    REPORT = "report"
    EDIT = "edit"
    DELETE = "delete"
    PING = "ping"
    REACT = "react"
    READ = "read"


class ServerType:
    """The ``type`` of a frame the server sends."""

    READY = "ready"
    MESSAGE = "message"
    ACK = "ack"
    HISTORY = "history"
    JOIN = "join"
    LEAVE = "leave"
    PRESENCE = "presence"  # protocol 2: joins and leaves of one window together
    TYPING = "typing"
    REPORTED = "reported"
    DELETED = "deleted"
    UPDATE = "update"
    ROOM = "room"
    MUTED = "muted"
    UNMUTED = "unmuted"
    PONG = "pong"
    ERROR = "error"
    ACTIVITY = "activity"
    READ = "read"


# --- client -> server --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendMessage:
    body: str
    client_id: str | None = None
    reply_to: int | None = None  # the id of a message of the same room
    # Ids of the sender's own unsent uploads in this room; with files the body may be empty.
    files: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class EditMessage:
    message_id: int
    body: str


@dataclass(frozen=True, slots=True)
class DeleteMessage:
    message_id: int


@dataclass(frozen=True, slots=True)
class FetchHistory:
    before_seq: int
    limit: int


@dataclass(frozen=True, slots=True)
class SetTyping:
    active: bool = True


@dataclass(frozen=True, slots=True)
class ReportMessage:
    message_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class React:
    """Add (``active``) or take back one's ``emoji`` on message ``message_id``."""

    message_id: int
    emoji: str
    active: bool = True


@dataclass(frozen=True, slots=True)
class MarkRead:
    """ "I have read up to ``seq``" (the page sends it while the newest message is in view)."""

    seq: int


Command = (
    SendMessage
    | FetchHistory
    | SetTyping
    | ReportMessage
    | EditMessage
    | DeleteMessage
    | Ping
    | React
    | MarkRead
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _bad(detail: str, client_id: str | None = None) -> ChatError:
    return ChatError(ErrorCode.BAD_REQUEST, detail, client_id=client_id)


def decode(text: str) -> dict[str, Any]:
    """Decode one text frame into a JSON object, or raise ``bad_request``."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        # Deep nesting raises RecursionError, not ValueError.
        raise _bad("the frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise _bad("the frame must be a JSON object")
    return data


def text_problem(value: str) -> str | None:
    """What makes ``value`` text the database cannot store (a NUL, a lone surrogate), or None."""
    if "\x00" in value:
        return "a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "an unpaired surrogate"
    return None


def check_text(value: str, field: str, client_id: str | None = None) -> str:
    """Refuse text the database cannot store: NUL characters and lone surrogates."""
    problem = text_problem(value)
    if problem is not None:
        raise _bad(f"{field} contains {problem}", client_id)
    return value


def validate_body(body: Any, *, max_length: int, client_id: str | None = None) -> str:
    """Return a valid message body or raise the matching ``ChatError``."""
    if not isinstance(body, str):
        raise _bad("body must be a string", client_id)
    check_text(body, "body", client_id)
    if not body.strip():
        raise ChatError(ErrorCode.EMPTY, "the message is empty", client_id=client_id)
    if len(body) > max_length:
        raise ChatError(
            ErrorCode.TOO_LONG,
            f"the message is {len(body)} characters; the limit is {max_length}",
            client_id=client_id,
        )
    return body


def _int_field(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    # bool is an int subclass; true is not a sequence number.
    if type(value) is not int:
        raise _bad(f"{name} must be an integer")
    return value


def _client_id(data: dict[str, Any]) -> str | None:
    client_id = data.get("client_id")
    if client_id is None:
        return None
    if not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID_LENGTH:
        raise _bad(f"client_id must be a string of 1 to {MAX_CLIENT_ID_LENGTH} characters")
    return check_text(client_id, "client_id")


def parse(text: str | None, *, max_length: int, page_max: int) -> Command:
    """Parse a client text frame into a command.

    Raises ``ChatError`` with the contract's code for anything malformed; the
    caller turns it into an ``error`` frame and keeps the connection open.
    """
    if text is None:
        raise _bad("binary frames are not supported; send JSON text")
    data = decode(text)
    kind = data.get("type")
    if not isinstance(kind, str):
        raise _bad("the frame needs a string 'type'")
    if kind == ClientType.MESSAGE:
        client_id = _client_id(data)
        files = _file_ids(data, client_id)
        reply_to = data.get("reply_to")
        if reply_to is not None and (type(reply_to) is not int or reply_to < 1):
            raise _bad("reply_to must be a message id", client_id)
        body = data.get("body", "" if files else None)
        if files and isinstance(body, str) and not body.strip():
            # Files alone make a message; a blank body is stored as none.
            body = ""
        else:
            body = validate_body(body, max_length=max_length, client_id=client_id)
        return SendMessage(body=body, client_id=client_id, reply_to=reply_to, files=files)
    if kind == ClientType.EDIT:
        message_id = _int_field(data, "id")
        body = validate_body(data.get("body"), max_length=max_length)
        return EditMessage(message_id=message_id, body=body)
    if kind == ClientType.DELETE:
        return DeleteMessage(message_id=_int_field(data, "id"))
    if kind == ClientType.HISTORY:
        before_seq = _int_field(data, "before_seq")
        limit = data.get("limit", page_max)
        if type(limit) is not int or not 1 <= limit <= page_max:
            raise _bad(f"limit must be an integer from 1 to {page_max}")
        if before_seq < 1:
            raise _bad("before_seq must be at least 1")
        return FetchHistory(before_seq=before_seq, limit=limit)
    if kind == ClientType.TYPING:
        active = data.get("active", True)
        if not isinstance(active, bool):
            raise _bad("active must be true or false")
        return SetTyping(active=active)
    if kind == ClientType.REPORT:
        message_id = _int_field(data, "id")
        reason = data.get("reason", "")
        if not isinstance(reason, str) or len(reason) > MAX_REPORT_REASON_LENGTH:
            raise _bad(f"reason must be a string of at most {MAX_REPORT_REASON_LENGTH} characters")
        return ReportMessage(message_id=message_id, reason=check_text(reason, "reason"))
    if kind == ClientType.PING:
        return Ping()
    if kind == ClientType.REACT:
        return _react(data)
    if kind == ClientType.READ:
        seq = _int_field(data, "seq")
        if seq < 0:
            raise _bad("seq must be at least 0")
        return MarkRead(seq=seq)
    raise ChatError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {kind[:40]!r}")


def _file_ids(data: dict[str, Any], client_id: str | None) -> tuple[int, ...]:
    """The ``files`` of a message frame: distinct ids, in order (absent: none)."""
    files = data.get("files")
    if files is None:
        return ()
    if (
        not isinstance(files, list)
        or len(files) > MAX_FILES_PER_MESSAGE
        or any(type(item) is not int or item < 1 for item in files)
    ):
        raise _bad(f"files must be a list of at most {MAX_FILES_PER_MESSAGE} file ids", client_id)
    return tuple(dict.fromkeys(files))


def _react(data: dict[str, Any]) -> React:
    message_id = _int_field(data, "id")
    emoji = data.get("emoji")
    if not isinstance(emoji, str) or not 0 < len(emoji) <= MAX_EMOJI_LENGTH:
        raise _bad(f"emoji must be a string of 1 to {MAX_EMOJI_LENGTH} characters")
    active = data.get("active", True)
    if not isinstance(active, bool):
        raise _bad("active must be true or false")
    return React(message_id=message_id, emoji=check_text(emoji, "emoji"), active=active)


# --- server -> client ----------------------------------------------------------


def encode(frame: dict[str, Any]) -> str:
    """Encode a frame as compact JSON text (UTF-8 on the wire, not ASCII-escaped)."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def timestamp(moment: datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC with a ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def message_payload(
    *,
    id: int,
    seq: int,
    room: str,
    user: str | None,
    body: str | None,
    ts: str,
    client_id: str | None,
    deleted: bool = False,
    edited: str | None = None,
    reply_to: dict[str, Any] | None = None,
    mentions: Sequence[str] = (),
    mentions_room: bool = False,
    reactions: list[dict[str, Any]] | None = None,
    files: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The JSON object for one message, or its tombstone when deleted.

    Optional fields are added only when set, so a plain message's object is unchanged:
    ``edited`` (when it was last edited), ``reply_to`` (``reply_quote``), ``mentions``
    (the usernames the message mentions), ``mentions_room`` (an ``@room`` by a
    moderator), ``reactions`` (see ``reaction_summary``) and ``files`` (see
    ``file_info``); a tombstone never shows them.
    """
    if deleted:
        return {"id": id, "seq": seq, "deleted": True}
    payload = {
        "id": id,
        "seq": seq,
        "room": room,
        "user": user,
        "body": body,
        "ts": ts,
        "client_id": client_id,
    }
    if edited:
        payload["edited"] = edited
    if reply_to:
        payload["reply_to"] = reply_to
    if mentions:
        payload["mentions"] = list(mentions)
    if mentions_room:
        payload["mentions_room"] = True
    if reactions:
        payload["reactions"] = reactions
    if files:
        payload["files"] = list(files)
    return payload


def file_info(
    *,
    id: int,
    name: str,
    size: int,
    type: str,
    url: str,
    thumbnail_url: str | None,
    width: int | None,
    height: int | None,
) -> dict[str, Any]:
    """One entry of a message's ``files`` (and the answer to an upload).

    ``url`` and ``thumbnail_url`` are paths on the server (relative to its origin);
    the thumbnail, width and height are null for files that are not images.
    """
    return {
        "id": id,
        "name": name,
        "size": size,
        "type": type,
        "url": url,
        "thumbnail_url": thumbnail_url,
        "width": width,
        "height": height,
    }


QUOTE_LENGTH = 100


def reply_quote(
    *, id: int, seq: int, user: str | None, body: str | None, deleted: bool
) -> dict[str, Any]:
    """The ``reply_to`` object of a reply: the original, its body cut to ``QUOTE_LENGTH``."""
    if deleted:
        return {"id": id, "seq": seq, "deleted": True}
    return {"id": id, "seq": seq, "user": user, "body": (body or "")[:QUOTE_LENGTH]}


def reaction_summary(
    reacted: Iterable[tuple[str, str]], order: Sequence[str]
) -> list[dict[str, Any]]:
    """The ``reactions`` field from ``(emoji, username)`` pairs, oldest first.

    One entry per emoji in ``order`` (the server's set), each with its count and who
    reacted, in the order they did; emoji nobody chose are left out.
    """
    users: dict[str, list[str]] = {}
    for emoji, username in reacted:
        users.setdefault(emoji, []).append(username)
    return [
        {"emoji": emoji, "count": len(users[emoji]), "users": users[emoji]}
        for emoji in order
        if emoji in users
    ]


def message_frame(payload: dict[str, Any]) -> str:
    """A live ``message`` frame (a tombstone keeps its ``deleted`` flag)."""
    return encode({"type": ServerType.MESSAGE, **payload})


def message_frame_from_json(payload_json: str) -> str:
    """A ``message`` frame from an already encoded payload object, without decoding it."""
    return '{"type":"message",' + payload_json[1:]


class Names(list):
    """Usernames (an online list) that keep their JSON once encoded; do not change them.

    A crowd joining one room shares one read of its online list (``chat.coalesce``);
    with this, their ``ready`` frames share one encoding of it too.
    """

    @functools.cached_property
    def json(self) -> str:
        return json.dumps(self, ensure_ascii=False, separators=(",", ":"))


def ready_frame(
    *,
    room: dict[str, Any],
    user: str,
    online: Sequence[str],
    messages_json: list[str],
    has_more: bool,
    recovered: bool | None,
    changes: int | None = None,
    read_seq: int | None = None,
    protocol: int = 1,
    muted: bool = False,
    mute_until: datetime | None = None,
) -> str:
    """The first frame of a connection; ``messages_json`` are encoded payloads, spliced in.

    ``changes`` is the room's last change number: the client's cursor for ``changes=``.
    ``read_seq``: how far the user had read the room when it opened (the "new since
    you left" line goes after it). ``protocol`` is the version in effect for the
    connection (``chat.wire.versions``). ``muted``: the user is muted in the room,
    until ``mute_until`` (None: until lifted), said as ``"muted": {"until": ...}`` as in
    a ``muted`` frame; absent when not muted.
    """
    names = online.json if isinstance(online, Names) else encode(list(online))
    head = (
        encode({"type": ServerType.READY, "protocol": protocol, "room": room, "user": user})[:-1]
        + ',"online":'
        + names
    )
    tail = f',"has_more":{"true" if has_more else "false"}'
    if recovered is not None:
        tail += f',"recovered":{"true" if recovered else "false"}'
    if changes is not None:
        tail += f',"changes":{int(changes)}'
    if read_seq is not None:
        tail += f',"read_seq":{int(read_seq)}'
    if muted:
        tail += ',"muted":' + encode({"until": timestamp(mute_until) if mute_until else None})
    return head + ',"messages":[' + ",".join(messages_json) + "]" + tail + "}"


def history_frame_from_json(messages_json: list[str], has_more: bool) -> str:
    """A ``history`` frame from encoded payloads."""
    more = "true" if has_more else "false"
    return '{"type":"history","messages":[' + ",".join(messages_json) + f'],"has_more":{more}}}'


def ack_frame(*, client_id: str | None, id: int, seq: int, ts: str) -> str:
    return encode({"type": ServerType.ACK, "client_id": client_id, "id": id, "seq": seq, "ts": ts})


def room_info(*, slug: str, title: str, locked: bool, slow_mode: int) -> dict[str, Any]:
    return {"slug": slug, "title": title, "locked": locked, "slow_mode": slow_mode}


def user_frame(kind: str, user: str) -> str:
    """A ``join`` or ``leave`` frame."""
    return encode({"type": kind, "user": user})


def presence_changes(changes: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """``(joined, left)`` of ``(join|leave, user)`` changes in order: each user's last one counts.

    Applying the result (add ``joined``, remove ``left``) leaves an online list as
    applying every change in turn would: a user who joined and left within the
    window is only in ``left``, one who left and came back only in ``joined``.
    """
    last: dict[str, str] = {}
    for kind, user in changes:
        last.pop(user, None)  # re-inserted: the order is of each user's last change
        last[user] = kind
    joined = [user for user, kind in last.items() if kind == ServerType.JOIN]
    left = [user for user, kind in last.items() if kind == ServerType.LEAVE]
    return joined, left


def presence_frame(joined: list[str], left: list[str]) -> str:
    """A ``presence`` frame (protocol 2): who came online and who went offline."""
    return encode({"type": ServerType.PRESENCE, "joined": joined, "left": left})


def apply_presence(online: list[str], frame: dict[str, Any]) -> list[str]:
    """The sorted online list after a ``join``, ``leave`` or ``presence`` frame (clients)."""
    names = set(online)
    kind = frame.get("type")
    if kind == ServerType.JOIN and isinstance(frame.get("user"), str):
        names.add(frame["user"])
    elif kind == ServerType.LEAVE:
        names.discard(frame.get("user"))
    elif kind == ServerType.PRESENCE:
        names.update(frame.get("joined", ()))
        names.difference_update(frame.get("left", ()))
    return sorted(names)


def typing_frame(user: str, active: bool) -> str:
    return encode({"type": ServerType.TYPING, "user": user, "active": active})


def reported_frame(message_id: int) -> str:
    return encode({"type": ServerType.REPORTED, "id": message_id})


def deleted_frame(message_id: int, seq: int, change: int | None = None) -> str:
    """A message became a tombstone; ``change`` is its number in the room's changes."""
    frame: dict[str, Any] = {"type": ServerType.DELETED, "id": message_id, "seq": seq}
    if change is not None:
        frame["change"] = change
    return encode(frame)


def update_frame(payload: dict[str, Any], change: int) -> str:
    """A stored message changed (edit, restore, reaction): its whole current state."""
    return encode({"type": ServerType.UPDATE, "change": change, "message": payload})


def room_frame(room: dict[str, Any]) -> str:
    return encode({"type": ServerType.ROOM, "room": room})


def muted_frame(until: datetime | None) -> str:
    """Tell a user they were muted in the room, until ``until`` (None: until lifted)."""
    return encode({"type": ServerType.MUTED, "until": timestamp(until) if until else None})


def unmuted_frame() -> str:
    """Tell a user their mute in the room was lifted."""
    return encode({"type": ServerType.UNMUTED})


def activity_frame(*, room: str, seq: int, new: int, mentions: int) -> str:
    """Sidebar news of a room: its newest ``seq``, ``new`` messages by others, ``mentions`` of you."""
    return encode(
        {"type": ServerType.ACTIVITY, "room": room, "seq": seq, "new": new, "mentions": mentions}
    )


def read_frame(*, room: str, seq: int) -> str:
    """You read ``room`` up to ``seq`` (in this tab or another): clear its badges."""
    return encode({"type": ServerType.READ, "room": room, "seq": seq})


def sidebar_ready_frame(*, user: str, rooms: list[dict[str, Any]]) -> str:
    """The first frame of ``/ws/me/``: the user's rooms with their unread and mention counts."""
    return encode({"type": ServerType.READY, "user": user, "rooms": rooms})


def pong_frame() -> str:
    return encode({"type": ServerType.PONG})


def error_frame(error: ChatError) -> str:
    frame: dict[str, Any] = {
        "type": ServerType.ERROR,
        "code": str(error.code),
        "detail": error.detail,
    }
    if error.client_id is not None:
        frame["client_id"] = error.client_id
    if error.retry_after is not None:
        frame["retry_after"] = round(error.retry_after, 3)
    return encode(frame)


def fit_json(items: list[str], budget: int, *, keep_newest: bool) -> tuple[list[str], list[str]]:
    """Split ascending encoded ``items`` so the kept part fits in ``budget`` bytes.

    Keeps the newest items (a page read backwards) or the oldest (a recovery read
    forwards). Returns ``(kept, rest)``, both ascending.
    """
    order = reversed(items) if keep_newest else iter(items)
    count = used = 0
    for item in order:
        size = len(item.encode("utf-8")) + 1
        if used + size > budget:
            break
        used += size
        count += 1
    if keep_newest:
        split = len(items) - count
        return items[split:], items[:split]
    return items[:count], items[count:]
