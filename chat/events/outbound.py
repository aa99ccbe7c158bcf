"""Room events as they travel between processes: what each one carries, built once.

An ``Outbound`` is an event for a layer group plus the history-cache change that goes
with it. Frames are encoded here, once, and forwarded unchanged to every receiver;
``chat.events.publisher`` sends them, ``chat.realtime.hub`` delivers them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from chat.stores.history_cache import Entry
from chat.wire import protocol
from chat.wire.errors import ChatError, ErrorCode

CONTROL_GROUP = "chat.control"


def room_group(room_id: int) -> str:
    """The layer group of a room (built from the pk: group names are restricted)."""
    return f"chat.room.{room_id}"


@dataclass(slots=True)
class Outbound:
    """An event to publish after commit, and the cache change that goes with it."""

    group: str
    event: dict[str, Any]
    room_id: int | None = None
    cache_add: list[Entry] = field(default_factory=list)
    cache_replace: Entry | None = None
    # Other cached messages whose payload shows this change too (replies quoting it).
    cache_refresh: list[Entry] = field(default_factory=list)


# --- events ------------------------------------------------------------------
# Layer events are small dicts: "kind" says what the hub does with them.


def message_event(room_id: int, payload: dict[str, Any]) -> Outbound:
    """A committed message: cached, then sent to the room in seq order."""
    entry_text = protocol.encode(payload)  # encoded once: the cache entry and the frame
    return Outbound(
        group=room_group(room_id),
        room_id=room_id,
        event={
            "type": "chat.event",
            "kind": "message",
            "room": room_id,
            "seq": payload["seq"],
            "text": protocol.message_frame_from_json(entry_text),
            "at": time.time(),
        },
        cache_add=[(payload["seq"], entry_text)],
    )


def deleted_event(
    room_id: int, *, room_slug: str, message_id: int, seq: int, change: int | None = None
) -> Outbound:
    """A message was deleted: clients get ``deleted`` (with the ``change`` number), the
    cache its tombstone."""
    tombstone = protocol.message_payload(
        id=message_id,
        seq=seq,
        room=room_slug,
        user=None,
        body=None,
        ts="",
        client_id=None,
        deleted=True,
    )
    return _replace_event(room_id, tombstone, protocol.deleted_frame(message_id, seq, change))


def _replace_event(room_id: int, payload: dict[str, Any], frame: str) -> Outbound:
    return Outbound(
        group=room_group(room_id),
        room_id=room_id,
        event={"type": "chat.event", "kind": "frame", "room": room_id, "text": frame},
        cache_replace=(payload["seq"], protocol.encode(payload)),
    )


def update_event(room_id: int, payload: dict[str, Any], change: int) -> Outbound:
    """A stored message changed: clients get ``update`` with its current state, the
    cache the new state."""
    return _replace_event(room_id, payload, protocol.update_frame(payload, change))


def room_event(room_id: int, info: dict[str, Any]) -> Outbound:
    """A moderator changed the room (lock, slow mode)."""
    return Outbound(
        group=room_group(room_id),
        room_id=room_id,
        event={
            "type": "chat.event",
            "kind": "room",
            "room": room_id,
            "info": info,
            "text": protocol.room_frame(info),
        },
    )


def frame_event(
    room_id: int,
    frame: str,
    *,
    skip_user: int | None = None,
    only_user: int | None = None,
    batch: bool = False,
) -> Outbound:
    """A frame for everyone in the room, optionally not to one user, or to one only.

    ``batch`` frames (join, leave, typing) may wait a few milliseconds to be written
    together with others: a thousand people arriving at once would otherwise cost
    a million socket writes.
    """
    event = {"type": "chat.event", "kind": "frame", "room": room_id, "text": frame}
    if skip_user is not None:
        event["skip_user"] = skip_user
    if only_user is not None:
        event["user"] = only_user
    if batch:
        event["batch"] = True
    return Outbound(group=room_group(room_id), room_id=room_id, event=event)


def presence_event(
    room_id: int, kind: str, username: str, *, skip_user: int | None = None
) -> Outbound:
    """``username`` joined or left the room: a batched frame with the change beside it.

    Protocol 1 connections get the ``join``/``leave`` frame (not the ``skip_user``'s);
    protocol 2 connections get the window's changes as one ``presence`` frame, built
    by the receiving hub from ``presence`` (``[kind, username]``).
    """
    outbound = frame_event(
        room_id, protocol.user_frame(kind, username), skip_user=skip_user, batch=True
    )
    outbound.event["presence"] = [kind, username]
    return outbound


def user_frame_event(room_id: int, frame: str, *, user_id: int) -> Outbound:
    """A frame for one user's connections in a room, on every process (their mute)."""
    return frame_event(room_id, frame, only_user=user_id)


def close_event(room_id: int, code: int, detail: str, *, user_id: int | None = None) -> Outbound:
    """Close connections in a room: one user's (ban) or everyone's (archive)."""
    text = protocol.error_frame(ChatError(ErrorCode.FORBIDDEN, detail))
    return Outbound(
        group=room_group(room_id),
        room_id=room_id,
        event={
            "type": "chat.event",
            "kind": "close",
            "room": room_id,
            "user": user_id,
            "code": int(code),
            "text": text,
        },
    )


def revoke_event(token_id: int) -> Outbound:
    """A revoked API token: its connections close with 4401 on every process."""
    return Outbound(
        group=CONTROL_GROUP, event={"type": "chat.event", "kind": "revoke", "token": token_id}
    )


def signout_event(user_id: int, session: str | None = None) -> Outbound:
    """A user's sockets close with 4401 on every process: one session's, or all of them."""
    return Outbound(
        group=CONTROL_GROUP,
        event={"type": "chat.event", "kind": "signout", "user": user_id, "session": session},
    )


def peer_event(room_id: int, channel: str) -> Outbound:
    """The hub at ``channel`` joined a room's group: the others must stop skipping it.

    Those serving the room answer with ``peer_ack_event`` (see ``chat.events.peers``).
    """
    return Outbound(
        group=CONTROL_GROUP,
        event={
            "type": "chat.event",
            "kind": "peer",
            "group": room_group(room_id),
            "room": room_id,
            "channel": channel,
        },
    )


def peer_ack_event(group: str, channel: str) -> dict[str, Any]:
    """The answer to a ``peer`` event: the hub at ``channel`` will send ``group``'s events."""
    return {"type": "chat.event", "kind": "peer_ack", "group": group, "channel": channel}
